"""The shufflecalc command line. Each command group lives in its own module and registers on `app`.

`main()` (the console script) imports only the module of the command being run: typer builds a click command for
every registered function on each start, and the headline `compare` should not pay for all the others. `app`
(for tests and embedding) has every command registered.

`run()` is the whole command line: every error a user can make, a usage error too (an unknown option, a missing
argument, a value that is not of the option's type), ends in one line on stderr and exit code 2; a bug (an exception
that escapes a command) in one line and exit code 3; Ctrl-C in exit code 130.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

MODULES: dict[str, tuple[str, ...]] = {  # command module -> the commands it registers
    "analytic": ("list", "show", "compare"),
    "formulas": ("formula", "explain", "shuffle"),
    "tables": ("sweep", "table"),
    "check": ("check",),
    "verify": ("verify",),
    "conventions": ("conventions",),
    "import_": ("import",),
    "latency": ("bench", "profile"),
    "predict": ("calibrate", "predict"),
    "report": ("report",),
}


def _register(modules: tuple[str, ...] | list[str]) -> Any:
    for module in modules:
        importlib.import_module(f"{__name__}.{module}")
    from shufflecalc.cli.common import app

    return app


def _click_exceptions() -> Any:
    try:  # typer >= 0.23 carries its own copy of click
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer depends on click
        exceptions = importlib.import_module("click.exceptions")  # by name: typer >= 0.23 installs no click
    return exceptions


EXIT_INTERNAL = 3  # an exception escaped a command: a bug in shufflecalc, never a failed check (1) or bad input (2)
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT
DEBUG_ENV = "SHUFFLECALC_DEBUG"  # set to 1 (or pass --debug before the command) for an internal error's traceback


def run(args: Sequence[str], prog_name: str | None = None) -> int:
    """Run the command line `args` (without the program name); the exit code.

    The error boundary of the whole program: a user's mistake is one line and exit 2 (the commands' own boundary,
    `cli.common.command`), Ctrl-C is exit 130, and any other exception that escapes a command is a bug: one line
    ("internal error: ...; please report it") and exit 3, with the traceback only under ``--debug`` or
    ``SHUFFLECALC_DEBUG=1``. Exit 1 stays what `check` and `verify` use for a failed check.
    """
    args = list(args)
    debug = bool(args) and args[0] == "--debug"
    if debug:
        args = args[1:]
    debug = debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return _run(args, prog_name)
    except KeyboardInterrupt:
        print("shufflecalc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed early (`shufflecalc show x | head`): nothing more to say
        _silence_stdout()
        return EXIT_INTERRUPTED + 11  # 141 = 128 + SIGPIPE, as a shell reports it
    except Exception as exc:  # the boundary: anything else is a bug, reported as one
        if debug:
            import traceback

            traceback.print_exc()
        from shufflecalc.errors import one_line

        what = one_line(f"{type(exc).__name__}: {exc}")
        hint = "" if debug else f" (rerun with --debug or {DEBUG_ENV}=1 for the traceback)"
        print(f"shufflecalc: internal error: {what[:500]}; please report it{hint}", file=sys.stderr)
        return EXIT_INTERNAL


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test's buffer)
        pass


def _run(args: list[str], prog_name: str | None) -> int:
    import typer
    import typer.main

    from shufflecalc.cli.common import EXIT_BAD_INPUT

    command = args[0] if args else ""
    wanted = [m for m, commands in MODULES.items() if command in commands]
    app = _register(wanted or list(MODULES))  # help, or an unknown command: everything, so that help lists it all
    click = _click_exceptions()
    try:
        code = typer.main.get_command(app).main(args=args, prog_name=prog_name, standalone_mode=False)
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `shufflecalc` alone: the help
            print(exc.format_message())
            return EXIT_BAD_INPUT
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        print(f"shufflecalc: error: {exc.format_message()}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except click.ClickException as exc:
        print(f"shufflecalc: error: {exc.format_message()}", file=sys.stderr)
        return int(exc.exit_code)
    except typer.Abort:  # end of input at a prompt
        print("shufflecalc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code if isinstance(code, int) else 0


def main() -> None:
    """The console script. Ctrl-C at any point, start-up included, exits 130 without a traceback."""
    try:
        code = run(sys.argv[1:])
    except KeyboardInterrupt:  # between run()'s own handlers (while Python unwinds)
        code = EXIT_INTERRUPTED
    sys.exit(code)


def __getattr__(name: str) -> Any:
    if name == "app":
        return _register(list(MODULES))
    raise AttributeError(name)


__all__ = ["app", "main", "run"]
