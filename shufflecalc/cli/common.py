"""What every command shares: the typer app, the model options, the error boundary and output.

Commands parse options, call one library function, render, and choose the exit code: 0 success, 1 a failed check,
2 bad input. Data goes to stdout, messages to stderr.

Every command with a ``--format`` option (a parameter whose default is a `Format`) also gets ``--output FILE`` and
``--force`` from `boundary`: the format follows from the file's extension, `output` writes the file atomically, and
an existing file is never overwritten without ``--force``. Commands need no code for that.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Iterator, Optional, Sequence, TypeVar

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


@app.callback()
def _group() -> None:
    """Keeps `app` a group of subcommands even when the console script registers a single one (see cli/__init__)."""


EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    latex = "latex"
    html = "html"


EXTENSIONS: dict[str, Format] = {
    ".txt": Format.table, ".json": Format.json, ".csv": Format.csv, ".md": Format.markdown,
    ".markdown": Format.markdown, ".tex": Format.latex, ".html": Format.html, ".htm": Format.html,
}


SpecsArg = Annotated[list[str], typer.Argument(help="built-in spec names (see 'shufflecalc list') or YAML spec paths")]
GOpt = Annotated[Optional[int], typer.Option("--g", help="groups g, for every model that declares 'g'")]
WidthOpt = Annotated[Optional[float], typer.Option("--width", help="width multiplier, for models that declare 'width'")]
ResOpt = Annotated[Optional[int], typer.Option("--resolution", help="input resolution, for models that declare it")]
SetOpt = Annotated[
    Optional[list[str]], typer.Option("--set", help="NAME=VALUE for any declared parameter (repeatable)")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="output format")]
OutputOpt = Annotated[
    Optional[Path],
    typer.Option("--output", "-o", help="write to FILE instead of stdout; the format follows the extension "
                 "(.txt .md .csv .json .tex .html)", dir_okay=False),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="overwrite an existing --output (or --plot) file")]
PlotOpt = Annotated[
    Optional[Path], typer.Option("--plot", help="also draw a chart to FILE (.png, .svg or .pdf; needs matplotlib)",
                                 dir_okay=False),
]
PlotKindOpt = Annotated[
    str, typer.Option("--plot-kind", help="auto | scatter (MACs vs params) | lines (MACs vs g) | latency")
]
PROGRESS_MIN = 50  # show a progress bar for more items than this

_OUTPUT: contextvars.ContextVar[Path | None] = contextvars.ContextVar("shufflecalc_output", default=None)
_FORCE: contextvars.ContextVar[bool] = contextvars.ContextVar("shufflecalc_force", default=False)
_BUFFER: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("shufflecalc_buffer", default=None)


def fatal(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print one line to stderr and exit."""
    print(f"shufflecalc: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def boundary(fn: F) -> F:
    """Turn domain errors into one line on stderr and exit code 2; never a traceback for user mistakes.

    A command with a `Format` parameter also gets ``--output FILE`` and ``--force`` (see the module docstring).
    """
    signature = inspect.signature(fn, eval_str=True)
    fmt_name = next((p.name for p in signature.parameters.values() if isinstance(p.default, Format)), None)
    extra = [] if fmt_name is None else [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, default, annotation in (("output_file", None, OutputOpt), ("force", False, ForceOpt))
        if name not in signature.parameters
    ]
    if extra:  # typer passes the click context to a parameter annotated typer.Context, whatever its name
        extra.append(inspect.Parameter(_CTX, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=typer.Context))
    added = {p.name for p in extra}

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            if fmt_name is None:
                return fn(*args, **kwargs)
            with _output_options(kwargs, fmt_name, added):
                return fn(*args, **kwargs)
        except ShufflecalcError as exc:
            fatal(str(exc))
        except KeyboardInterrupt:
            print("shufflecalc: interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    if extra:
        parameters = [*signature.parameters.values(), *extra]
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**fn.__annotations__, **{p.name: p.annotation for p in extra}}
    return wrapper  # type: ignore[return-value]


_CTX = "shufflecalc_context"


@contextlib.contextmanager
def _output_options(kwargs: dict[str, Any], fmt_name: str, added: set[str]) -> Iterator[None]:
    """Take --output/--force out of a command's arguments and settle the format. With --output, what the command
    prints to stdout (`emit`, `output`) is collected and written to the file when it ends, also when it ends with a
    failed check (exit 1), never after a bad-input error."""
    path = kwargs.pop("output_file") if "output_file" in added else kwargs.get("output_file")
    force = kwargs.pop("force") if "force" in added else kwargs.get("force", False)
    ctx = kwargs.pop(_CTX, None)
    kwargs[fmt_name] = output_format(kwargs[fmt_name], path, _explicit(ctx, fmt_name))
    if path is not None:
        check_writable(path, force)
    buffer: list[str] | None = None if path is None else []
    tokens = [(_OUTPUT, _OUTPUT.set(path)), (_FORCE, _FORCE.set(bool(force))), (_BUFFER, _BUFFER.set(buffer))]
    try:
        try:
            yield
        except typer.Exit as exc:
            if exc.exit_code in (EXIT_OK, EXIT_FAILED):  # a finished command, a failed check included
                _write_output(path, buffer)
            raise
        _write_output(path, buffer)
    finally:
        for var, token in tokens:
            var.reset(token)


def _write_output(path: Path | None, buffer: list[str] | None) -> None:
    if path is None or buffer is None:
        return
    if not buffer:
        raise ShufflecalcError(f"--output {path}: this command printed nothing to write")
    write_file(path, "".join(buffer))


def _explicit(ctx: Any, param: str) -> bool:
    """Whether the user gave this option (on the command line or in the environment) rather than its default."""
    if ctx is None:
        return False
    source = ctx.get_parameter_source(param)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def output_format(fmt: Format, path: Path | None, explicit: bool) -> Format:
    """The format for `--output path`: its extension's, which an explicit `--format` must not contradict."""
    if path is None:
        return fmt
    by_ext = EXTENSIONS.get(path.suffix.lower())
    if by_ext is None:
        if explicit:
            return fmt
        known = " ".join(sorted(EXTENSIONS))
        raise ShufflecalcError(f"--output {path}: cannot tell the format from '{path.suffix}' (use one of {known}, "
                               "or give --format)")
    if explicit and by_ext is not fmt:
        raise ShufflecalcError(f"--output {path}: the extension means --format {by_ext.value}, but --format "
                               f"{fmt.value} was given")
    return by_ext


def check_writable(path: Path, force: bool | None = None) -> None:
    """Refuse early (before any work) to overwrite an existing file without --force."""
    force = _FORCE.get() if force is None else force
    if path.is_dir():
        raise ShufflecalcError(f"{path}: is a directory")
    if path.exists() and not force:
        raise ShufflecalcError(f"{path}: file exists; use --force to overwrite it")
    if not path.parent.is_dir():
        raise ShufflecalcError(f"{path}: directory {path.parent} does not exist")


def write_file(path: Path, data: str | bytes, force: bool | None = None) -> None:
    """Write atomically (a temporary file in the same directory, then a link or rename), never replacing an existing
    file unless `force` (default: the command's --force)."""
    import tempfile

    force = _FORCE.get() if force is None else force
    check_writable(path, force)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, 0o666 & ~_umask())
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the file appeared meanwhile: no overwrite even under a race
            except FileExistsError:
                raise ShufflecalcError(f"{path}: file exists; use --force to overwrite it") from None
            except OSError:  # a file system without hard links
                if path.exists():
                    raise ShufflecalcError(f"{path}: file exists; use --force to overwrite it") from None
                os.replace(tmp, path)
    except OSError as exc:
        raise ShufflecalcError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"shufflecalc: wrote {path}", file=sys.stderr)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def parse_sets(sets: Sequence[str] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in sets or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ShufflecalcError(f"--set {item!r}: expected NAME=VALUE")
        if name.strip() in result:
            raise ShufflecalcError(f"--set {name.strip()}=...: '{name.strip()}' is already given by an earlier --set")
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
    """Print data to stdout, or collect it for the command's --output file."""
    buffer = _BUFFER.get()
    if buffer is not None:
        buffer.append(text)
        return
    sys.stdout.write(text)
    sys.stdout.flush()


def render(fmt: Format, data: Any, table: Tabular, csv: Tabular | None = None) -> str:
    """A command's result as text: `data` as JSON, or `table` in a tabular format (`csv` may lay the rows out
    differently, one row per record, for machines)."""
    if fmt is Format.json:
        return to_json(data)
    if fmt is Format.csv and csv is not None:
        return FORMATTERS["csv"](csv)
    return FORMATTERS[fmt.value](table)


def output(fmt: Format, data: Any, table: Tabular, csv: Tabular | None = None) -> None:
    """Print a command's result (see `render`) to stdout, or collect it for the command's --output file."""
    emit(render(fmt, data, table, csv))


def progress(items: Iterable[T], total: int, fmt: Format, label: str) -> Iterator[T]:
    """Yield `items`, drawing a rich progress bar on stderr when it helps: more than PROGRESS_MIN items, a human
    format (not json or csv), stdout a terminal. rich is imported only then (its console costs ~20 ms)."""
    if total <= PROGRESS_MIN or fmt in (Format.json, Format.csv) or not sys.stdout.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        for item in items:
            yield item
            bar.advance(task)


def save_plot(path: Path | None, data: Any, kind: str) -> None:
    """Draw `data` (a plot.PlotData) to the --plot file, if one was given (see plot_target)."""
    if path is None:
        return
    from ..plot import IMAGE_FORMATS, choose_kind, render_plot

    write_file(path, render_plot(data, choose_kind(data, kind), IMAGE_FORMATS[path.suffix.lower()]))


def plot_target(path: Path | None, kind: str = "auto") -> Path | None:
    """Check a --plot destination before any work: a known image extension, not the --output file, writable."""
    if path is None:
        return None
    from ..plot import IMAGE_FORMATS, KINDS, require_matplotlib

    if kind not in KINDS:
        raise ShufflecalcError(f"--plot-kind {kind!r}: expected one of {', '.join(KINDS)}")
    if path.suffix.lower() not in IMAGE_FORMATS:
        raise ShufflecalcError(f"--plot {path}: expected a .png, .svg or .pdf file")
    out = _OUTPUT.get()
    if out is not None and out.resolve() == path.resolve():
        raise ShufflecalcError(f"--plot {path}: the same file as --output")
    check_writable(path)
    require_matplotlib()
    return path
