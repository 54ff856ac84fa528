"""What every command shares: the typer app, the model options, the error boundary and output.

Commands parse options, call one library function, render, and choose the exit code: 0 success, 1 a failed check,
2 bad input. Data goes to stdout, messages to stderr.

A command that prints data declares ``fmt: FormatOpt = None``, ``output_file: OutputOpt = None`` and
``force: ForceOpt = False`` in its signature and prints through one `Out` built from them::

    with Out(fmt, output_file, force) as out:
        ...
        out.output(data, table)

With ``--output FILE`` the format follows from the file's extension (an explicit ``--format`` must agree), an
existing file is refused before any work unless ``--force``, and everything the command prints is written to the
file once, atomically, when the command ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import (
    Annotated,
    Any,
    Generic,
    TypeVar,
)

import typer
from typer.core import TyperCommand

from shufflecalc.errors import ShufflecalcError
from shufflecalc.lists import comma_list
from shufflecalc.report.render import FORMATTERS, Tabular, fit, select, to_json

app = typer.Typer(
    name="shufflecalc",
    help="FLOPs / parameters / memory / latency analyzer for efficient CNNs, from YAML architecture specs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _Command(TyperCommand):
    """A command whose usage line reads as the docs write it: `show [OPTIONS] SPEC`, not typer's `{SPEC}`."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p[:1] == "{" and p[-1:] == "}" else p for p in pieces]


def command(name: str) -> Callable[[F], F]:
    """`@command("show")`: register a command on `app`."""
    return app.command(name, cls=_Command)


def _version(value: bool) -> None:
    if value:
        from shufflecalc import __version__

        print(f"shufflecalc {__version__}")
        raise typer.Exit(0)


@app.callback()
def _group(
    version: Annotated[bool, typer.Option("--version", "-V", help="print the version and exit", is_eager=True,
                                          callback=_version)] = False,
) -> None:
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


SpecsArg = Annotated[list[str], typer.Argument(
    metavar="SPEC...", help="built-in spec names (see 'shufflecalc list'), YAML spec paths or TARGETs (PyTorch models: "
    "torchvision:NAME, pkg.module:fn, file.py:fn; imported once, then cached), each optionally with its own "
    "parameters: shufflenet:g=8,width=0.5")]
GOpt = Annotated[int | None, typer.Option("--g", help="groups g, for every model that declares 'g'")]
WidthOpt = Annotated[float | None, typer.Option("--width", help="width multiplier, for models that declare 'width'")]
ResOpt = Annotated[int | None, typer.Option("--resolution", help="input resolution, for models that declare it")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="NAME=VALUE for any declared parameter (repeatable)")
]
FormatOpt = Annotated[
    Format | None,
    typer.Option("--format", "-f", help="output format [default: table; with --output, the file's extension]",
                 show_default=False),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="write to FILE instead of stdout; the format follows the extension "
                 "(.txt .md .csv .json .tex .html)", dir_okay=False),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="overwrite an existing --output file")]
ForcePlotOpt = Annotated[bool, typer.Option("--force", help="overwrite an existing --output or --plot file")]
PlotOpt = Annotated[
    Path | None, typer.Option("--plot", help="also draw a chart to FILE (.png, .svg or .pdf; needs matplotlib)",
                                 dir_okay=False),
]
PlotKindOpt = Annotated[
    str, typer.Option("--plot-kind", help="auto | scatter (MACs vs params) | lines (MACs vs g) | latency")
]
ColumnsOpt = Annotated[
    str | None, typer.Option("--columns", help="comma list of the columns to show, by key or header (the error for "
                             "an unknown one lists them); every tabular format but json"),
]
WideOpt = Annotated[bool, typer.Option("--wide", help="draw the table at full width (by default a table wider than "
                                       "the terminal folds its headers and hides columns, and says which)")]
ConventionOpt = Annotated[
    list[str] | None, typer.Option("--convention", metavar="NAME", help="also count in another tool's convention "
                                   "(repeatable, or a comma list): fvcore, ptflops_pytorch, ptflops_aten, thop, "
                                   "torchinfo, torchprofile, flop_counter (see 'shufflecalc conventions')"),
]
TargetArgOpt = Annotated[
    list[str] | None, typer.Option("--arg", metavar="NAME=VALUE", help="a keyword argument for the callable of every "
                                   "TARGET among the SPECs (repeatable; VALUE a Python literal, else text)"),
]
TargetInputOpt = Annotated[
    str | None, typer.Option("--input", metavar="C,H,W", help="the input every TARGET among the SPECs is traced on "
                             "(batch 1; default 3,224,224)"),
]
PROGRESS_MIN = 50  # show a progress bar for more items than this


def parse_conventions(values: Sequence[str] | None) -> tuple[str, ...]:
    """--convention NAME...: the names (`analysis.peers.parse_names`: repeatable, each a comma list, an unknown name
    a one-line error listing them); the reproductions are imported only when one is given."""
    if not values:
        return ()
    from shufflecalc.analysis.peers import parse_names

    return parse_names(values)


def fatal(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print one line to stderr and exit."""
    print(f"shufflecalc: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
E = TypeVar("E", bound=Enum)


def boundary(fn: F) -> F:
    """Turn domain errors into one line on stderr and exit code 2; never a traceback for user mistakes."""
    import functools

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


class Out(Generic[E]):
    """Where a command's data goes: stdout, or the --output file.

    Built first (before any work), it settles the format (`output_format`) and refuses an existing --output file
    without --force. Used as a context manager around the command's work: with --output, what the command prints
    (`emit`, `output`) is collected and written to the file once when the block ends, also when it ends with a failed
    check (exit 1), never after a bad-input error. `write_file` and `save_plot` honour the same --force.
    """

    def __init__(self, fmt: E | None, path: Path | None, force: bool,
                 extensions: Mapping[str, E] = EXTENSIONS, default: E = Format.table,  # type: ignore[assignment]
                 columns: str | None = None, wide: bool = False) -> None:
        self.fmt: E = output_format(fmt, path, extensions, default)
        self.path, self.force = path, force
        self.columns = comma_list(columns, "--columns") if columns is not None else None
        if self.columns is not None and self.fmt.value == "json":
            raise ShufflecalcError("--columns applies to the tabular formats, not to json")
        self.width = None if wide or path is not None else terminal_width()
        self._buffer: list[str] | None = None if path is None else []
        if path is not None:
            check_writable(path, force)

    def __enter__(self) -> Out[E]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        finished = kind is None or (isinstance(exc, typer.Exit) and exc.exit_code in (EXIT_OK, EXIT_FAILED))
        if finished and self.path is not None and self._buffer is not None:
            if not self._buffer:
                raise ShufflecalcError(f"--output {self.path}: this command printed nothing to write")
            write_file(self.path, "".join(self._buffer), self.force)

    def emit(self, text: str) -> None:
        """Print data to stdout, or collect it for the --output file."""
        if self._buffer is not None:
            self._buffer.append(text)
            return
        sys.stdout.write(text)
        sys.stdout.flush()

    def output(self, data: Any, table: Tabular, csv: Tabular | None = None) -> None:
        """Print a command's result (see `render`): the --columns chosen; a terminal table fitted to its width."""
        if self.columns is not None:
            table = select(table, self.columns)
            csv = select(csv, self.columns) if csv is not None else None
        if self.width is not None and self.fmt.value == "table":
            table = fit(table, self.width)
        self.emit(render(self.fmt, data, table, csv))  # type: ignore[arg-type]

    def write_file(self, path: Path, data: str | bytes, note: str = "") -> None:
        """Write another file the command makes (a chart, a baseline) under the same --force."""
        write_file(path, data, self.force, note)

    def check_target(self, path: Path, option: str) -> None:
        """Check another destination before any work: writable, and not the --output file."""
        if self.path is not None and self.path.resolve() == path.resolve():
            raise ShufflecalcError(f"{option} {path}: the same file as --output")
        check_writable(path, self.force)

    def plot_target(self, path: Path | None, kind: str = "auto") -> Path | None:
        """Check --plot-kind (given or not) and a --plot destination before any work: a known image extension, not
        the --output file, writable, matplotlib installed."""
        if path is None and kind == "auto":
            return None  # nothing to check: the plot module is not even imported
        from shufflecalc.report.plot import IMAGE_FORMATS, KINDS, require_matplotlib

        if kind not in KINDS:
            raise ShufflecalcError(f"--plot-kind {kind!r}: expected one of {', '.join(KINDS)}")
        if path is None:
            return None
        if path.suffix.lower() not in IMAGE_FORMATS:
            raise ShufflecalcError(f"--plot {path}: expected a .png, .svg or .pdf file")
        self.check_target(path, "--plot")
        require_matplotlib()
        return path

    def save_plot(self, path: Path | None, data: Any, kind: str) -> None:
        """Draw `data` (a plot.PlotData) to the --plot file, if one was given (see plot_target)."""
        if path is None:
            return
        from shufflecalc.report.plot import IMAGE_FORMATS, choose_kind, font_cache_ready, render_plot

        if not font_cache_ready():
            print("shufflecalc: matplotlib is building its font cache (once; this first plot takes a few seconds)",
                  file=sys.stderr)
        self.write_file(path, render_plot(data, choose_kind(data, kind), IMAGE_FORMATS[path.suffix.lower()]))


def output_format(fmt: E | None, path: Path | None, extensions: Mapping[str, E] = EXTENSIONS,  # type: ignore[assignment]
                  default: E = Format.table) -> E:  # type: ignore[assignment]
    """The format: --format if given, else for `--output path` its extension's (which an explicit --format must not
    contradict), else `default`."""
    if path is None:
        return default if fmt is None else fmt
    by_ext = extensions.get(path.suffix.lower())
    if by_ext is None:
        if fmt is not None:
            return fmt
        known = " ".join(sorted(extensions))
        raise ShufflecalcError(f"--output {path}: cannot tell the format from '{path.suffix}' (use one of {known}, "
                               "or give --format)")
    if fmt is not None and by_ext is not fmt:
        raise ShufflecalcError(f"--output {path}: the extension means --format {by_ext.value}, but --format "
                               f"{fmt.value} was given")
    return by_ext


FILE_EXISTS = "file exists; use --force to overwrite it"


def check_writable(path: Path, force: bool = False) -> None:
    """Refuse early (before any work) what cannot be written: an existing file without --force, a directory, a
    missing or unwritable directory, a name the file system cannot hold."""
    try:
        if path.is_dir():
            raise ShufflecalcError(f"{path}: is a directory")
        if path.exists() and not force:
            raise ShufflecalcError(f"{path}: {FILE_EXISTS}")
        if not path.parent.is_dir():
            raise ShufflecalcError(f"{path}: directory {path.parent} does not exist")
    except OSError as exc:  # a name too long, a component that is a file, ...
        raise ShufflecalcError(f"{path}: cannot write ({exc.strerror or exc})") from None
    if not os.access(path.parent, os.W_OK):
        raise ShufflecalcError(f"{path}: cannot write (directory {path.parent} is not writable)")


def write_file(path: Path, data: str | bytes, force: bool = False, note: str = "") -> None:
    """Write atomically (a temporary file in the same directory, then a link or rename), never replacing an existing
    file unless `force`; say so on stderr (with `note` after the name). Any failure is one error naming the file."""
    import tempfile

    check_writable(path, force)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, 0o666 & ~_umask())
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the file appeared meanwhile: no overwrite even under a race
            except FileExistsError:
                raise ShufflecalcError(f"{path}: {FILE_EXISTS}") from None
            except OSError:  # a file system without hard links
                if path.exists():
                    raise ShufflecalcError(f"{path}: {FILE_EXISTS}") from None
                os.replace(tmp, path)
    except OSError as exc:
        raise ShufflecalcError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    print(f"shufflecalc: wrote {path}{note}", file=sys.stderr)


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
    for name, text in parse_sets(sets).items():
        if name in values:
            raise ShufflecalcError(f"--set {name}=...: '{name}' is already given by --{name}")
        values[name] = text
    return values


def per_model(specs: Sequence[Any], values: dict[str, Any],
              own: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Split option values per model: each applies to every model that declares it (one no model declares is an
    error), under the values a model sets itself (`own`, from SPEC:k=v), which win."""
    for name in values:
        if not any(name in s.params for s in specs):
            raise ShufflecalcError(
                f"parameter '{name}' is not declared by any of: {', '.join(s.name for s in specs)}"
            )
    mine = own or [{} for _ in specs]
    return [{**{k: v for k, v in values.items() if k in s.params}, **m} for s, m in zip(specs, mine, strict=True)]


def use_targets() -> None:
    """Let every spec the command line names be a TARGET too (a PyTorch model, imported and cached: importer.cache).
    Set here, in the top wing, because spec/ and analysis/ never import the importer."""
    from shufflecalc.importer.cache import install

    install()


def target_options(args: Sequence[str] | None, input_: str | None) -> dict[str, Any]:
    """--arg NAME=VALUE... and --input C,H,W: the import options of the TARGETs a command names (parsed without
    torch; `load_refs` passes them on)."""
    if not args and input_ is None:
        return {}
    from shufflecalc.importer.target import parse_args, parse_input

    options: dict[str, Any] = {}
    if args:
        options["args"] = parse_args(args)
    if input_ is not None:
        options["input"] = parse_input(input_)
    return options


def load_refs(refs: Sequence[str], target: Mapping[str, Any] | None = None) -> tuple[list[Any], list[dict[str, str]]]:
    """Each SPEC of the command line (NAME_OR_PATH or NAME_OR_PATH:k=v,k=v, or a TARGET such as
    torchvision:resnet50:resolution=160): the spec, and the parameter values it sets itself, each declared by it.
    `target` (see `target_options`) applies to every TARGET among them; given without one, it is an error."""
    from shufflecalc.spec.load import is_target, load_spec, split_ref

    use_targets()
    if target and not any(is_target(split_ref(ref)[0]) for ref in refs):
        given = " and ".join(f"--{k}" for k in ("arg", "input") if (k if k == "input" else "args") in target)
        raise ShufflecalcError(f"{given}: no SPEC is a TARGET (a PyTorch model such as mypkg.nets:build, whose "
                               "callable's keyword arguments and traced input they set)")
    loaded, own = [], []
    for ref in refs:
        name, values = split_ref(ref)
        spec = load_spec(name, target) if target and is_target(name) else load_spec(name)
        for key in values:
            if key not in spec.params:
                known = ", ".join(spec.params) or "none"
                raise ShufflecalcError(f"{ref}: {spec.name} has no parameter '{key}' (parameters: {known})")
        loaded.append(spec)
        own.append(values)
    return loaded, own


def models(refs: Sequence[str], values: dict[str, Any],
           target: Mapping[str, Any] | None = None) -> tuple[list[Any], list[dict[str, Any]]]:
    """The specs named on the command line and each one's parameter values (see `load_refs` and `per_model`)."""
    loaded, own = load_refs(refs, target)
    return loaded, per_model(loaded, values, own)


def terminal_width() -> int | None:
    """The width tables are fitted to: $COLUMNS if set, else the terminal's; None (no limit) when stdout is not a
    terminal (a pipe, a file): what goes to a file is never cut."""
    env = os.environ.get("COLUMNS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    try:
        columns = os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else 0
    except (OSError, ValueError, AttributeError):  # a test's stream without a file descriptor
        return None
    return columns or None  # a terminal that reports no size (0) is not limited


def render(fmt: Format, data: Any, table: Tabular, csv: Tabular | None = None) -> str:
    """A command's result as text: `data` as JSON, or `table` in a tabular format (`csv` may lay the rows out
    differently, one row per record, for machines)."""
    if fmt is Format.json:
        return to_json(data)
    if fmt is Format.csv and csv is not None:
        return FORMATTERS["csv"](csv)
    return FORMATTERS[fmt.value](table)


def show_progress(fmt: Enum) -> bool:
    """Whether to draw a progress bar: it goes to stderr, so only when stderr is a terminal, and never for a
    machine format (json, csv)."""
    return fmt.value not in ("json", "csv") and sys.stderr.isatty()


@contextmanager
def progress_bar(fmt: Enum, label: str) -> Iterator[Callable[[int, int, str], None] | None]:
    """A rich progress bar on stderr (see `show_progress`), erased at the end; yields its update callback
    `update(done, total, what)`, or None without a bar. rich is imported only then (its console costs ~20 ms)."""
    if not show_progress(fmt):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        yield update


def progress(items: Iterable[T], total: int, fmt: Enum, label: str) -> Iterator[T]:
    """Yield `items`, with a progress bar (`progress_bar`) for more than PROGRESS_MIN of them."""
    if total <= PROGRESS_MIN:
        yield from items
        return
    with progress_bar(fmt, label) as update:
        for done, item in enumerate(items, 1):
            yield item
            if update is not None:
                update(done, total, label)
