"""What every command shares: the typer app, the model options, the error boundary and output.

Commands parse options, call one library function, render, and choose the exit code: 0 success, 1 a failed check,
2 bad input. Data goes to stdout, messages to stderr.
"""

from __future__ import annotations

import functools
import sys
from enum import Enum
from typing import Annotated, Any, Callable, Optional, Sequence, TypeVar

import typer

from ..errors import ShufflecalcError
from ..render import FORMATTERS, Tabular, to_json

app = typer.Typer(
    name="shufflecalc",
    help="FLOPs / parameters / memory / latency analyzer for efficient CNNs, from YAML architecture specs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


SpecsArg = Annotated[list[str], typer.Argument(help="built-in spec names (see 'shufflecalc list') or YAML spec paths")]
GOpt = Annotated[Optional[int], typer.Option("--g", help="groups g, for every model that declares 'g'")]
WidthOpt = Annotated[Optional[float], typer.Option("--width", help="width multiplier, for models that declare 'width'")]
ResOpt = Annotated[Optional[int], typer.Option("--resolution", help="input resolution, for models that declare it")]
SetOpt = Annotated[
    Optional[list[str]], typer.Option("--set", help="NAME=VALUE for any declared parameter (repeatable)")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="output format")]


def fatal(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print one line to stderr and exit."""
    print(f"shufflecalc: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


F = TypeVar("F", bound=Callable[..., Any])


def boundary(fn: F) -> F:
    """Turn domain errors into one line on stderr and exit code 2; never a traceback for user mistakes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ShufflecalcError as exc:
            fatal(str(exc))
        except KeyboardInterrupt:
            print("shufflecalc: interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def parse_sets(sets: Sequence[str] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in sets or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ShufflecalcError(f"--set {item!r}: expected NAME=VALUE")
        result[name.strip()] = value.strip()
    return result


def overrides(g: int | None, width: float | None, resolution: int | None, sets: Sequence[str] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in (("g", g), ("width", width), ("resolution", resolution)):
        if value is not None:
            values[name] = value
    for name, value in parse_sets(sets).items():
        if name in values:
            raise ShufflecalcError(f"--set {name}=...: '{name}' is already given by --{name}")
        values[name] = value
    return values


def per_model(specs: Sequence[Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    """Split option values per model: each applies to every model that declares it; one no model declares is an error."""
    for name in values:
        if not any(name in s.params for s in specs):
            raise ShufflecalcError(
                f"parameter '{name}' is not declared by any of: {', '.join(s.name for s in specs)}"
            )
    return [{k: v for k, v in values.items() if k in s.params} for s in specs]


def emit(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def output(fmt: Format, data: Any, table: Tabular, csv: Tabular | None = None) -> None:
    """Print a command's result: `data` as JSON, or `table` in a tabular format (`csv` may lay the rows out
    differently, one row per record, for machines)."""
    if fmt is Format.json:
        emit(to_json(data))
    elif fmt is Format.csv and csv is not None:
        emit(FORMATTERS["csv"](csv))
    else:
        emit(FORMATTERS[fmt.value](table))
