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


# --- keyword arguments and the input of a TARGET named in place of a spec: --arg, --input; args:, input: ----------

WIDE = """\
from torch import nn


class Wide(nn.Module):
    def __init__(self, width: int = 8, channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        return self.fc(self.pool(self.bn(self.conv(x))).flatten(1))


def build(width: int = 8, channels: int = 3):
    return Wide(width, channels)
"""


def wide_params(width: int, channels: int = 3) -> int:
    """By hand: conv channels*width*3*3 weights, batchnorm 2*width, linear width*10 + 10."""
    return channels * width * 9 + 2 * width + width * 10 + 10


def wide_macs(width: int, r: int, channels: int = 3) -> int:
    """By hand: r*r*width conv outputs of channels*9 multiply-accumulates, then the head's width*10."""
    return r * r * width * channels * 9 + width * 10


@pytest.fixture
def wide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "wide.py").write_text(WIDE)
    return f"{tmp_path / 'wide.py'}:build"


def test_arg_and_input_on_the_command_line(cli, wide: str, traces: list[str]) -> None:
    shown = cli("show", wide, "--arg", "width=16", "-f", "json")
    assert shown.exit_code == 0, shown.stderr
    data = shown.json()["models"][0]
    assert (data["name"], data["params"], data["macs"]) == (f"{wide}(width=16)", wide_params(16), wide_macs(16, 224))
    compared = cli("compare", wide, f"{wide}:resolution=32", "--arg", "width=4", "--arg", "channels=1", "--input",
                   "1,64,64", "-f", "json")
    assert compared.exit_code == 0, compared.stderr
    models = compared.json()["models"]
    assert [m["name"] for m in models] == [f"{wide}(width=4, channels=1)@1x64x64"] * 2
    assert [(m["input"], m["params"], m["macs"]) for m in models] == [
        ([1, 64, 64], wide_params(4, 1), wide_macs(4, 64, 1)), ([1, 32, 32], wide_params(4, 1), wide_macs(4, 32, 1))]
    swept = cli("sweep", wide, "--arg", "width=16", "--resolution", "32,64", "-f", "json")
    assert [r["macs"] for r in swept.json()["rows"]] == [wide_macs(16, 32), wide_macs(16, 64)]
    assert len(traces) == 2  # width=16 once (show, then sweep from the cache), width=4 with its input once
    verified = cli("verify", wide, "--arg", "width=4", "-f", "json")  # the TARGET's spec against torch and fvcore
    assert verified.exit_code == 0, verified.stdout + verified.stderr


def test_the_cache_key_includes_the_arguments_and_the_input(wide: str) -> None:
    keys = {cache.cache_key(wide), cache.cache_key(wide, {"width": 4}), cache.cache_key(wide, {"width": 5}),
            cache.cache_key(wide, None, (3, 64, 64)), cache.cache_key(wide, {"width": 4}, (3, 64, 64))}
    assert len(keys) == 5
    assert cache.cache_key(wide, None, cache.INPUT) == cache.cache_key(wide)  # the default input, said or not
    one, other = cache.cached_spec(wide, {"width": 4}), cache.cached_spec(wide, {"width": 4}, (3, 32, 32))
    assert one != other and "resolution: {type: int, default: 32" in Path(other).read_text()


@pytest.mark.parametrize("argv, message", [
    (["show", "resnet50", "--arg", "width=2"], "--arg: no SPEC is a TARGET"),
    (["compare", "resnet50", "vgg", "--input", "3,32,32"], "--input: no SPEC is a TARGET"),
    (["show", "WIDE", "--input", "3,32"], "--input '3,32': expected C,H,W (three whole numbers from 1 to 65,536)"),
    (["show", "WIDE", "--arg", "2"], "--arg '2': expected NAME=VALUE"),
    (["verify", "vgg", "--against", "WIDE", "--input", "3,32,32"],
     "--input: with --against, the TARGET is traced on the spec's input size"),
])
def test_arg_and_input_mistakes_are_one_line(cli, wide: str, argv: list[str], message: str) -> None:
    r = cli(*[wide if a == "WIDE" else a for a in argv])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr


def test_a_budget_entry_with_args_and_input(cli, wide: str, tmp_path: Path) -> None:
    budget = tmp_path / "budgets.yaml"
    budget.write_text(f"""budgets:
  - model: wide.py:build
    max_params: {wide_params(8)}
  - model: wide.py:build
    args: {{width: 16, channels: 1}}
    input: [1, 64, 64]
    max_macs: {wide_macs(16, 64, 1)}
    max_params: {wide_params(16, 1) - 1}
""")
    result = cli("check", str(budget), "-f", "json")
    assert result.exit_code == 1, result.stderr
    rows = [(m["name"], m["input"], lim["key"], lim["value"], lim["status"]) for m in result.json()["models"]
            for lim in m["limits"]]
    named = f"{wide}(width=16, channels=1)@1x64x64"  # the file found beside the budget file
    assert rows == [
        (wide, [3, 224, 224], "max_params", wide_params(8), "PASS"),
        (named, [1, 64, 64], "max_macs", wide_macs(16, 64, 1), "PASS"),
        (named, [1, 64, 64], "max_params", wide_params(16, 1), "FAIL"),
    ]
    table = cli("check", str(budget)).stdout
    assert "wide.py:build(width=16, channels=1)@1x64x64 │    7 │ max_macs" in table  # as written, with its options


@pytest.mark.parametrize("entry, where, message", [
    ("  - model: resnet50\n    args: {width: 2}\n", ":3 budgets[0].args", "'args' is for a TARGET model"),
    ("  - model: wide.py:build\n    input: [3, 0, 8]\n", ":3 budgets[0].input",
     "'input' must be [C, H, W]: three whole numbers from 1 to 65,536"),
    ("  - model: wide.py:build\n    args: [width, 2]\n", ":3 budgets[0].args", "'args' must be a mapping"),
])
def test_budget_args_and_input_mistakes_name_the_line(cli, wide: str, tmp_path: Path, entry: str, where: str,
                                                      message: str) -> None:
    budget = tmp_path / "budgets.yaml"
    budget.write_text("budgets:\n" + entry + "    max_params: 1\n")
    result = cli("check", str(budget))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"budgets.yaml{where}" in result.stderr and message in result.stderr
