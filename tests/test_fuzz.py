"""The mutational fuzzer (tests/fuzzing.py) over the built-in specs, budgets, paper tables and command lines: a few
hundred mutants per run, each classified; any traceback, exit code other than 0/1/2 (1 only from check), multi-line
error, run over 5 s or MemoryError under a 2 GiB address-space limit fails the test. `python benchmarks/fuzz.py`
runs the long campaign."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from . import fuzzing
from .conftest import ROOT


@pytest.mark.parametrize("seed", [0, 1])
def test_no_mutant_crashes_hangs_or_prints_more_than_one_line(seed: int) -> None:
    r = subprocess.run([sys.executable, "tests/fuzzing.py", "--seed", str(seed), "--count", "200"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    result = json.loads(r.stdout)
    assert result["runs"] == 200
    assert result["bugs"] == [], json.dumps(result["bugs"][:5], indent=1)
    assert r.returncode == 0, r.stderr
    # the campaign reaches every outcome a user may see, so it is exercising the readers and not just one error
    assert {"ok", "rejected"} <= set(result["outcomes"])


def test_the_classifier_catches_what_it_must() -> None:
    """The fuzzer's own judgement, on made-up outcomes: it cannot pass a traceback, exit 1 outside check, a
    multi-line error, an internal error or a slow run."""
    show, check = ("show", "x.yaml"), ("check", "b.yaml")
    assert fuzzing.classify(show, 0, "", None, 0.1)[0] == "ok"
    assert fuzzing.classify(show, 2, "shufflecalc: error: x.yaml:3 out: bad\n", None, 0.1)[0] == "rejected"
    assert fuzzing.classify(check, 1, "", None, 0.1)[0] == "failed-check"
    assert fuzzing.classify(show, 1, "", None, 0.1)[0] == "crash"
    assert fuzzing.classify(show, 3, "shufflecalc: internal error: X; please report it\n", None, 0.1)[0] == "crash"
    assert fuzzing.classify(show, 2, "Traceback (most recent call last):\n  ...\n", None, 0.1)[0] == "crash"
    assert fuzzing.classify(show, 2, "shufflecalc: error: a\n  in line 3\n", None, 0.1)[0] == "multi-line"
    assert fuzzing.classify(show, None, "", "ValueError: x", 0.1)[0] == "crash"
    assert fuzzing.classify(show, None, "", "slow", 5.0)[0] == "slow"
    assert fuzzing.classify(show, 0, "", None, fuzzing.TIME_LIMIT + 1)[0] == "slow"
    assert fuzzing.classify(show, None, "", "memory", 0.1)[0] == "memory"


def test_mutants_are_reproducible_from_the_seed() -> None:
    first = [(s.name, text, what) for s, text, what in fuzzing.mutants(3, 50)]
    assert first == [(s.name, text, what) for s, text, what in fuzzing.mutants(3, 50)]
    assert first != [(s.name, text, what) for s, text, what in fuzzing.mutants(4, 50)]
