"""Property-based proof for the counters' conventions: on random valid specs (the generators of
tests/bridge/test_properties.py and tests/bridge/test_token_properties.py, imported), ptflops (both backends), thop,
torchinfo and torchprofile measure what shufflecalc.analysis.peers computes without torch, exactly, in total and
layer by layer. Deterministic (derandomize=True)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings

from shufflecalc.bridge.peers import available
from shufflecalc.spec.graph import expand
from tests.bridge.test_peers import assert_reproduced
from tests.bridge.test_properties import random_specs
from tests.bridge.test_token_properties import token_specs

EXAMPLES, TOKEN_EXAMPLES = 40, 10
_counter = itertools.count()

pytestmark = pytest.mark.skipif(not available(), reason="no counter installed (pip install 'shufflecalc[peers]')")


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("peer_specs")


def _check(spec_dir: Path, text: str) -> None:
    path = spec_dir / f"random{next(_counter)}.yaml"  # a new file each time: specs are cached by path and mtime
    path.write_text(text)
    assert_reproduced(expand(str(path)), text)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=random_specs())
def test_random_networks(spec_dir: Path, case: tuple[str, tuple[int, ...]]) -> None:
    _check(spec_dir, case[0])


@settings(max_examples=TOKEN_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=token_specs())
def test_random_token_networks(spec_dir: Path, case: tuple[str, tuple[int, ...], int]) -> None:
    _check(spec_dir, case[0])
