"""The shufflecalc command line. Each command group lives in its own module and registers on `app`.

`main()` (the console script) imports only the module of the command being run: typer builds a click command for
every registered function on each start, and the headline `compare` should not pay for all the others. `app`
(for tests and embedding) has every command registered.
"""

from __future__ import annotations

import importlib
import sys
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
    from .common import app

    return app


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    wanted = [m for m, commands in MODULES.items() if command in commands]
    _register(wanted or list(MODULES))()  # help, or an unknown command: everything, so that help lists it all


def __getattr__(name: str) -> Any:
    if name == "app":
        return _register(list(MODULES))
    raise AttributeError(name)


__all__ = ["app", "main"]
