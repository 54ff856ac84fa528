"""The long fuzzing campaign: thousands of mutants of the built-in specs, budgets, paper tables and command lines
(tests/fuzzing.py), classified; prints the outcome counts and every bug found as JSON, exits 1 if any.

    python benchmarks/fuzz.py --count 4000 --seed 0

The test suite runs 2 x 200 mutants of the same fuzzer (tests/test_fuzz.py). Each run is limited to 5 s and the
process to 2 GiB of address space.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzzing import main  # noqa: E402 (after the path)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["--count", "4000"]))
