"""TARGETs wherever a spec is named (show, compare, sweep, explain, budgets), and the import cache that makes a second
use cost no trace. The counts asserted are calculated by hand for the small network written below."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shufflecalc.importer import cache, run
from tests.conftest import ROOT, blocked_env

NET = """\
from torch import nn


class Tiny(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.bn(self.conv(x)))).flatten(1))


def build():
    return Tiny()
"""
# by hand: conv 3*8*3*3 = 216 weights, batchnorm 2*8 = 16, linear 8*10 + 10 = 90
PARAMS = 216 + 16 + 90
# MACs at resolution r: the conv's r*r*8 outputs of 27 multiply-accumulates each, then the linear head's 8*10


def macs(r: int) -> int:
    return r * r * 8 * 27 + 8 * 10


@pytest.fixture
def net(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A file.py TARGET, with the import cache in tmp_path/cache."""
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "tiny.py").write_text(NET)
    return f"{tmp_path / 'tiny.py'}:build"


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The TARGETs imported (traced) while the test runs."""
    seen: list[str] = []
    real = run.import_target

    def counted(target, *args, **kwargs):
        seen.append(target)
        return real(target, *args, **kwargs)

    monkeypatch.setattr(run, "import_target", counted)
    return seen


def test_show_compare_and_sweep_a_target_tracing_it_once(cli, net: str, traces: list[str]) -> None:
    shown = cli("show", net, "-f", "json")
    assert shown.exit_code == 0, shown.stderr
    data = shown.json()["models"][0]
    assert (data["params"], data["macs"], data["spec"]) == (PARAMS, macs(224), net)
    assert traces == [net]

    compared = cli("compare", net, f"{net}:resolution=32", "-f", "json")
    assert compared.exit_code == 0, compared.stderr
    assert [m["macs"] for m in compared.json()["models"]] == [macs(224), macs(32)]
    swept = cli("sweep", net, "--resolution", "32,64", "--set", "classes=10,100", "-f", "json")
    assert swept.exit_code == 0, swept.stderr
    rows = swept.json()["rows"]
    # classes=100: the linear head is 8*100 + 100 params and 800 MACs
    assert [(r["params"], r["macs"]) for r in rows] == [
        (PARAMS, macs(32)), (216 + 16 + 900, macs(32) - 80 + 800), (PARAMS, macs(64)), (216 + 16 + 900, macs(64) + 720),
    ]
    explained = cli("explain", net)  # resolved like the others; a flat spec has no unit a closed form covers
    assert explained.exit_code == 2 and f"{net} has no block that a formula covers" in explained.stderr
    assert traces == [net]  # every later use read the cache


def test_a_cache_hit_imports_no_torch(net: str, tmp_path: Path) -> None:
    from shufflecalc.importer.cache import cached_spec

    cached_spec(net)  # fills the cache (in tmp_path/cache)
    code = ("import sys\nfrom shufflecalc.importer.cache import install\nfrom shufflecalc.spec.load import load_spec\n"
            f"install()\nspec = load_spec({net!r})\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nprint(spec.name, spec.source)")
    (tmp_path / "x").mkdir()
    env = {**blocked_env(tmp_path / "x", "nothing"), cache.CACHE_ENV: str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{net} {net}\n"


def test_the_key_follows_the_source_file_and_the_arguments(net: str, tmp_path: Path, traces: list[str]) -> None:
    first = cache.cached_spec(net)
    assert cache.cached_spec(net) == first and len(traces) == 1
    tiny = net.replace(":build", ":Tiny")
    assert cache.cached_spec(tiny, {"classes": 5}) != cache.cached_spec(tiny) and len(traces) == 3
    (tmp_path / "tiny.py").write_text(NET.replace("Tiny()", "Tiny(classes=7)"))
    changed = cache.cached_spec(net)
    assert changed != first and len(traces) == 4
    assert "classes: {type: int, default: 7" in Path(changed).read_text()


def test_a_module_target_is_keyed_by_its_package_files(tmp_path: Path) -> None:
    files = cache.source_files("tests.importer.nets:shuffle_net")
    assert Path(ROOT / "tests" / "importer" / "nets.py") in files and Path(ROOT / "tests" / "conftest.py") in files
    assert cache.source_files("torchvision:resnet50") == []  # keyed by torchvision's version instead


def test_a_budget_names_a_target(cli, net: str, tmp_path: Path) -> None:
    budget = tmp_path / "budgets.yaml"
    budget.write_text(f"budgets:\n  - model: tiny.py:build\n    max_params: {PARAMS}\n    max_macs: {macs(224)}\n"
                      f"  - model: tiny.py:build:resolution=32\n    max_macs: {macs(32) - 1}\n")
    result = cli("check", str(budget), "-f", "json")
    assert result.exit_code == 1, result.stderr
    summary = result.json()["summary"]
    assert (summary["models"], summary["limits"], summary["passed"], summary["failed"]) == (2, 3, 2, 1)


def test_a_budget_target_that_does_not_exist_names_the_line(cli, tmp_path: Path, net: str) -> None:
    budget = tmp_path / "budgets.yaml"
    budget.write_text("budgets:\n  - model: missing.py:build\n    max_params: 1\n")
    result = cli("check", str(budget))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "budgets.yaml:2" in result.stderr and "no such file" in result.stderr


def test_a_target_without_torch_is_the_install_hint(net: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "shufflecalc", "show", net], capture_output=True, text=True,
                          env=blocked_env(tmp_path), cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert done.stderr == f'shufflecalc: error: {net}: a TARGET needs the torch extra: pip install ' \
                          '"shufflecalc[torch]" (docs/index.md says which torch)\n'


def test_a_failed_proof_is_an_error_and_nothing_is_cached(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    result = cli("show", "tests.importer.nets:SamePadding")  # padding='same': fvcore's count differs
    assert result.exit_code == 2
    assert "fails its round-trip proof (fvcore_flops, activations)" in result.stderr
    assert not list((tmp_path / "cache" / "imports").glob("*.yaml"))
