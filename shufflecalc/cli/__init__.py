"""The shufflecalc command line. Each command group lives in its own module and registers on `app`.

`main()` (the console script) imports only the module of the command being run: typer builds a click command for
every registered function on each start, and the headline `compare` should not pay for all the others. `app`
(for tests and embedding) has every command registered.

`run()` is the whole command line: every error a user can make, a usage error too (an unknown option, a missing
argument, a value that is not of the option's type), ends in one line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

MODULES: dict[str, tuple[str, ...]] = {  # command module -> the commands it registers
    "analytic": ("list", "show", "compare"),
    "formulas": ("formula", "explain", "shuffle"),
    "tables": ("sweep", "table"),
    "check": ("check",),
    "verify": ("verify",),
    "latency": ("bench", "profile"),
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


def run(args: Sequence[str], prog_name: str | None = None) -> int:
    """Run the command line `args` (without the program name); the exit code."""
    import typer.main

    from shufflecalc.cli.common import EXIT_BAD_INPUT

    command = args[0] if args else ""
    wanted = [m for m, commands in MODULES.items() if command in commands]
    app = _register(wanted or list(MODULES))  # help, or an unknown command: everything, so that help lists it all
    click = _click_exceptions()
    try:
        code = typer.main.get_command(app).main(args=list(args), prog_name=prog_name, standalone_mode=False)
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `shufflecalc` alone: the help
            print(exc.format_message())
            return EXIT_BAD_INPUT
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        print(f"shufflecalc: error: {exc.format_message()}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except click.ClickException as exc:
        print(f"shufflecalc: error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except click.Abort:
        print("shufflecalc: interrupted", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0


def main() -> None:
    """The console script."""
    sys.exit(run(sys.argv[1:]))


def __getattr__(name: str) -> Any:
    if name == "app":
        return _register(list(MODULES))
    raise AttributeError(name)


__all__ = ["app", "main", "run"]
