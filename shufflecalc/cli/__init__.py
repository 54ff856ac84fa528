"""The shufflecalc command line. Each command group lives in its own module and registers on `app`."""

from __future__ import annotations

from . import analytic  # noqa: F401  (registers list, show, compare)
from . import latency  # noqa: F401  (registers bench, profile)
from .common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
