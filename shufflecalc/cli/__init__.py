"""The shufflecalc command line. Each command group lives in its own module and registers on `app`."""

from __future__ import annotations

from . import analytic  # noqa: F401  (registers list, show, compare)
from . import verify  # noqa: F401  (registers verify)
from .common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
