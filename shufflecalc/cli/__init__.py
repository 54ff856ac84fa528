"""The shufflecalc command line. Each command group lives in its own module and registers on `app`."""

from __future__ import annotations

from . import analytic  # noqa: F401  (registers list, show, compare)
from . import formulas  # noqa: F401  (registers formula, explain, shuffle)
from . import tables  # noqa: F401  (registers sweep, table)
from . import check  # noqa: F401  (registers check)
from . import verify  # noqa: F401  (registers verify)
from .common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
