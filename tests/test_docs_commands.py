"""Docs that cannot drift: every `shufflecalc` command in a ```bash block of README.md and docs/*.md runs (in-process,
`run_cli`) in a folder holding the files the docs show, and exits as the docs say; every shown output is compared
(here or by the test named in SHOWN_ELSEWHERE); every ```python block runs; measured numbers in prose name the
benchmark that produced them, and the counts in that prose that are not measurements are computed."""

from __future__ import annotations

import importlib.util
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, run_cli

DOCS = {name: (ROOT / name).read_text() for name in ["README.md", *sorted(
    f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]}
HAS_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("fvcore") is not None
TORCH_COMMANDS = {"verify", "bench", "profile"}
TORCH_OPTIONS = {"--latency", "--check"}

# Commands that are only parsed (every option checked against the command's own parser, and `--help` exits 0), not
# run: each would take far more than the ~5 s a docs test may spend on a 2-core CI machine, or needs a GPU.
PARSE_ONLY = {
    "verify --all",  # 107 configurations, 92 s (benchmarks/verify.py)
    "verify shufflenet --all --resolution 160",  # 50 configurations
    "bench mobilenet shufflenet --g 3 --batch 1,8",  # 4 cases x (warm-up + 1 s of samples)
    "bench mobilenet shufflenet --g 3 --device cuda --batch 1,8,32 --cuda-graph",  # needs CUDA
    "bench shufflenet --device cuda --dtype float16 --channels-last",  # needs CUDA
    "compare mobilenet shufflenet --g 3 --latency --batch 1,8",  # 4 timed cases, as bench
    "report mobilenet shufflenet --g 3 --latency --device cpu --threads 1 --batch 1,8 -o measured.html",  # as compare
    "profile shufflenet --g 3 --batch 8",  # warm-up and 10 profiled passes at batch 8: about 30 s
    "calibrate --threads 1 -o cpu.json",  # about 1,100 layers timed 11 times: tests/latency/test_calibrate.py
    # docs/import.md: torchvision (never a test dependency) or a user's own package and file
    "import torchvision:resnet50 -o resnet50.yaml",
    "import mypkg.nets:build_small --arg classes=10 --input 3,160,160 -o small.yaml",
    "import path/to/model.py:Net",
    "verify vgg:depth=16 --against torchvision:vgg16",
    "verify my_net.yaml --against mypkg.nets:build_small --arg classes=10 --format json",
    "compare torchvision:resnet50 resnet50",  # docs/import.md, TARGETs wherever a spec is named
    "show mypkg.nets:build_small --resolution 160",
    "sweep path/to/model.py:Net --resolution 128,160,224 --set classes=10,100",
    "compare torchvision:mobilenet_v2:resolution=160 mobilenet_v2:resolution=160",
    "show mypkg.nets:build --arg width=0.5 --arg classes=10",  # docs/import.md, keyword arguments and input
    "compare nets.py:build nets.py:build:resolution=128 --arg channels=1 --input 1,64,64",
}

# Shell lines in ```bash blocks that are not shufflecalc commands (installing, the test suite, a GPU script).
PROFILE = ROOT / "benchmarks" / "results" / "predict-cpu-amd-epyc-profile.json"
NOT_SHUFFLECALC = ("python3 -m venv", ".venv/bin/pip install", "pip install", ".venv/bin/python -m pytest",
                   "bash benchmarks/gpu.sh", "python benchmarks/predict.py")


@dataclass(frozen=True)
class Fence:
    doc: str
    lang: str
    line: int
    start: int  # offset of the opening fence
    end: int  # offset just after the closing fence
    body: str


def fences(doc: str) -> list[Fence]:
    text, found = DOCS[doc], []
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    i = 0
    while i < len(lines):
        m = re.fullmatch(r"```(\w*)\s*", lines[i])
        if m:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            found.append(Fence(doc, m.group(1), i + 1, starts[i], starts[j + 1], "".join(
                f"{x}\n" for x in lines[i + 1:j])))
            i = j
        i += 1
    return found


ALL_FENCES = [f for doc in DOCS for f in fences(doc)]


def before(f: Fence) -> str:
    """The paragraph just before a fence."""
    return DOCS[f.doc][:f.start].rstrip("\n").split("\n\n")[-1]


def after(f: Fence) -> str:
    """The paragraph just after a fence."""
    return DOCS[f.doc][f.end:].lstrip("\n").split("\n\n")[0]


# ---------------------------------------------------------------------------------------------- commands in ```bash


@dataclass(frozen=True)
class Command:
    args: tuple[str, ...]
    stdout_file: str | None

    @property
    def text(self) -> str:
        return " ".join(self.args)


def bash_lines(f: Fence) -> list[str]:
    """The block's lines, continuations joined; a comment after `#` is not part of a command."""
    return [line for line in f.body.replace("\\\n", " ").splitlines() if line.strip()]


def commands_of(line: str) -> list[Command]:
    words = shlex.split(line, comments=True)
    found, segment = [], []
    for word in [*words, "&&"]:
        if word != "&&":
            segment.append(word)
            continue
        if not segment:
            continue
        if segment[0].split("/")[-1] == "shufflecalc":
            args = segment[1:]
        elif segment[:3] in (["python", "-m", "shufflecalc"], ["python3", "-m", "shufflecalc"]):
            args = segment[3:]
        else:
            assert any(" ".join(segment).startswith(p) for p in NOT_SHUFFLECALC), f"unknown shell command: {segment}"
            segment = []
            continue
        stdout_file = None
        if ">" in args:
            i = args.index(">")
            args, stdout_file = args[:i], args[i + 1]
        found.append(Command(tuple(args), stdout_file))
        segment = []
    return found


BASH = [f for f in ALL_FENCES if f.lang == "bash"]
ALL_COMMANDS = [c for f in BASH for line in bash_lines(f) for c in commands_of(line)]


def spec_format_block(after_text: str, doc: str = "docs/spec-format.md") -> str:
    text = DOCS[doc]
    return next(f.body for f in fences(doc) if f.lang == "yaml" and f.start > text.index(after_text))


def readme_baseline_budgets() -> str:
    """The budget file docs/ci.md's baseline example describes in prose: `model: tiny.yaml`, `config: {g: 2}`, ..."""
    prose = re.search(r"a budget file `budgets.yaml`\n?\((.*?)\):", DOCS["docs/ci.md"], re.S).group(1)
    entry = yaml.safe_load("{" + ", ".join(re.findall(r"`([^`]+)`", prose)) + "}")
    assert entry == {"model": "tiny.yaml", "config": {"g": 2}, "max_macs": "200K", "max_params": "10K"}
    return yaml.safe_dump({"budgets": [entry]})


def prepare(doc: str, folder: Path) -> None:
    """The files a document's commands use, from the docs' own text."""
    if doc == "docs/tables.md":
        (folder / "my-table.yaml").write_text(spec_format_block("An example, `my-table.yaml`", doc))
        (folder / "tiny.yaml").write_text(spec_format_block("\n`tiny.yaml`:\n", doc))
        return
    tiny = spec_format_block("`tiny.yaml`, a two-unit ShuffleNet")
    (folder / "tiny.yaml").write_text(tiny)
    # the docs show no `my_net.yaml` ("your own network"): the spec-format page's worked example stands for it
    (folder / "my_net.yaml").write_text(tiny)
    (folder / "budgets.yaml").write_text(readme_baseline_budgets())
    if doc == "docs/import.md":  # the docs' nets/small.onnx: the small ONNX file tests/data/make_onnx.py writes
        (folder / "nets").mkdir()
        (folder / "nets" / "small.onnx").write_bytes((ROOT / "tests" / "data" / "small_net.onnx").read_bytes())
    # the docs' cpu.json: the profile `shufflecalc calibrate` wrote on this project's machine (benchmarks/predict.py)
    (folder / "cpu.json").write_bytes(PROFILE.read_bytes())


def step(comment: str, folder: Path) -> None:
    """A `# ...` line between commands describes a change the next command sees; make it."""
    m = re.search(r"tiny.yaml's stage widens from (\d+) to (\d+) channels \(widths: \{2: \[16, (\d+)\]\}\)", comment)
    assert m, f"a step the test does not know how to make: {comment!r}"
    old, new, shown = m.groups()
    assert new == shown
    path = folder / "tiny.yaml"
    text = path.read_text()
    assert f"2: [16, {old}]" in text
    path.write_text(text.replace(f"2: [16, {old}]", f"2: [16, {new}]"))


def needs_torch(c: Command) -> bool:
    return bool(c.args) and (c.args[0] in TORCH_COMMANDS or bool(TORCH_OPTIONS & set(c.args)))


def parse_only(c: Command) -> None:
    """Parse the command line with the command's own parser (option names, types, choices), without running it."""
    import typer.main

    from shufflecalc.cli import app

    group = typer.main.get_command(app)
    ctx = group.make_context("shufflecalc", [c.args[0]], resilient_parsing=True)
    sub = group.get_command(ctx, c.args[0])
    sub.make_context(c.args[0], list(c.args[1:]), parent=ctx)
    r = run_cli(c.args[0], "--help")
    assert r.exit_code == 0, r.stderr


def shown_matches(shown: str, actual: str) -> bool:
    """`shown` is `actual` with any run of lines replaced by a line `...`."""
    pattern = "".join(r"(?:.*\n)*?" if line == "..." else re.escape(line) + r"\n" for line in shown.splitlines())
    return re.fullmatch(pattern, actual) is not None


def test_shown_matches_understands_omitted_lines() -> None:
    assert shown_matches("a\n...\nd\n", "a\nb\nc\nd\n") and shown_matches("a\n...\nb\n", "a\nb\n")
    assert not shown_matches("a\n...\nd\n", "a\nb\nc\nd\ne\n") and not shown_matches("a\nd\n", "a\nb\nd\n")


def test_the_docs_have_commands() -> None:
    texts = [c.text for c in ALL_COMMANDS]
    assert len(texts) >= 20 and "list" in texts and "check budgets.yaml --write-baseline baseline.json" in texts
    assert set(texts) >= PARSE_ONLY, PARSE_ONLY - set(texts)  # the allow-list names commands the docs still show


@pytest.mark.parametrize("fence", BASH, ids=[f"{f.doc}:{f.line}" for f in BASH])
def test_bash_block_commands_run(fence: Fence, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    prepare(fence.doc, tmp_path)
    lines = bash_lines(fence)
    fails = re.match(r"exits with 1\b", after(fence)) is not None  # "... exits with 1 and prints:"
    last = None
    for i, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            step(line, tmp_path)
            continue
        for c in commands_of(line):
            last = c
            if c.text in PARSE_ONLY or (needs_torch(c) and not HAS_TORCH):
                if c.text in PARSE_ONLY:
                    parse_only(c)
                continue
            r = run_cli(*c.args)
            expected = 1 if fails and i == len(lines) - 1 else 0
            assert r.exit_code == expected, (c.text, r.exit_code, r.stderr)
            if c.stdout_file:
                Path(c.stdout_file).write_text(r.stdout)
            shown = after(fence)
            if shown.rstrip().endswith("prints:") and i == len(lines) - 1 and key_bash(fence) not in SHOWN_ELSEWHERE:
                out = next(f for f in ALL_FENCES if f.start >= fence.end and f.lang == "")
                assert shown_matches(out.body, r.stdout), c.text
                COMPARED_HERE.add(key_bash(fence))
    if not HAS_TORCH and last is not None and needs_torch(last):
        pytest.skip("torch is not installed: the torch commands were not run")


def test_redirected_and_written_outputs_are_what_the_docs_say(tmp_path: Path, monkeypatch) -> None:
    """`> report.json` is JSON, `-f html > review.html` HTML, `--output table5.tex` a booktabs table."""
    monkeypatch.chdir(tmp_path)
    prepare("docs/sweeps.md", tmp_path)
    import json

    for c in ALL_COMMANDS:
        if c.args[0] in ("compare", "table", "sweep") and (c.stdout_file or "--output" in c.args or "-o" in c.args):
            r = run_cli(*c.args)
            assert r.exit_code == 0, r.stderr
            if c.stdout_file:
                Path(c.stdout_file).write_text(r.stdout)
    assert json.loads(Path("report.json").read_text())["models"][0]["name"] == "tiny"
    assert Path("review.html").read_text().startswith("<table")
    assert "\\toprule" in Path("table5.tex").read_text()
    assert Path("sweep.csv").read_text().count("\n") == 1 + 25


def test_the_sweep_synopsis_names_real_options() -> None:
    """docs/tables.md's synopsis is not a command: every option it names is one `sweep --help` lists."""
    synopsis = next(f for f in fences("docs/tables.md") if f.lang == "text").body
    help_text = run_cli("sweep", "--help", columns=200).stdout
    options = set(re.findall(r"--[a-z-]+", synopsis))
    assert len(options) >= 10 and {o for o in options if o not in help_text} == set()


# ---------------------------------------------------------------------------------------------- shown outputs

COMPARED_HERE: set[str] = set()  # outputs after a ```bash block that no other test compares: compared above
for _f in BASH:
    if after(_f).rstrip().endswith("prints:"):
        COMPARED_HERE.add(f"{_f.doc}: shufflecalc {commands_of(bash_lines(_f)[-1])[0].text}")


def key(f: Fence) -> str:
    """A shown output's name: the last inline code in the paragraph before it (the command it shows)."""
    spans = re.findall(r"`([^`]+)`", before(f))
    return f"{f.doc}: {spans[-1] if spans else before(f)[-40:]}"


# Every shown output (a plain fenced block), and the test that compares it with the command's real output.
SHOWN_ELSEWHERE = {
    "README.md: shufflecalc compare mobilenet shufflenet --g 3": "tests/test_readme.py",
    "docs/conventions.md: shufflecalc verify mobilenet shufflenet --g 3": "tests/cli/test_verify.py",
    "docs/models.md: g": "tests/test_readme.py (compare mobilenet mobilenet_v2 shufflenet shufflenet_v2 --g 3)",
    "docs/formulas.md: shufflecalc formula dwsep --K 3 --M 512 --N 512 --Iw 14 --Ih 14":
        "tests/test_readme_formulas.py",
    "docs/formulas.md: shufflecalc formula unit-b --K 3 --M 240 --N 60 --Iw 28 --Ih 28 --g 3":
        "tests/test_readme_formulas.py",
    "docs/formulas.md: shufflecalc explain shufflenet --g 3": "tests/test_readme_formulas.py",
    "docs/formulas.md: shufflecalc explain resnet50": "tests/test_readme_formulas.py",
    "docs/formulas.md: shufflecalc shuffle --g 3 --channels 9": "tests/test_readme_formulas.py",
    "docs/formulas.md: shufflecalc explain shufflenet --groups-study": "tests/test_readme_formulas.py",
    "docs/sweeps.md: shufflecalc sweep shufflenet --g 1,2,3,4,8 --width 0.5,1 "
    "--columns g,width,macs,params,memory_access "
    "--sort macs": "tests/test_readme_tables.py",
    "docs/sweeps.md: shufflecalc sweep mobilenet shufflenet --width 0.3,0.5 --columns model,width,macs,params,error":
        "tests/test_readme_tables.py",
    "docs/sweeps.md: shufflecalc table shufflenet-table1": "tests/test_readme_tables.py",
    "docs/ci.md: shufflecalc check budgets.yaml --baseline baseline.json --max-increase 2%": "tests/test_docs_ci.py",
    "docs/latency.md: bench": "tests/report/test_latency.py (benchmarks/results/.../bench_eager.json rendered)",
    "docs/latency.md: profile": "tests/report/test_latency.py (benchmarks/results/.../profile_shufflenet_batch1.json)",
    "docs/latency.md: benchmarks/cpu.sh": "measured by hand, not kept: test_compare_latency_excerpt_is_consistent",
    "docs/architecture.md: tests/test_layout.py": "not an output: the layout, held by tests/test_layout.py",
    "docs/ci.md: shufflecalc check budgets.yaml":
        "tests/test_docs_ci.py (the failing example and this repository's own)",
    "docs/ci.md: max_params": "tests/test_docs_ci.py (--format github)",
    "docs/ci.md: --format markdown": "tests/test_docs_ci.py",
    "docs/ci.md: shufflecalc check budgets.yaml --latency": "tests/report/test_budget.py (timings from a fake timer)",
    "docs/ci.md: --format github": "tests/report/test_budget.py (timings from a fake timer)",
    "docs/ci.md: git commit": "tests/test_docs_ci.py (the pre-commit hook's output)",
}


def key_bash(f: Fence) -> str:
    """The name of the output shown after a ```bash block ("exits with 1 and prints:"): its last command."""
    (c,) = commands_of(bash_lines(f)[-1])
    return f"{f.doc}: shufflecalc {c.text}"


def shown_names() -> list[str]:
    names = []
    for i, f in enumerate(ALL_FENCES):
        if f.lang:
            continue
        previous = ALL_FENCES[i - 1] if i else None
        follows_bash = (previous is not None and previous.doc == f.doc and previous.lang == "bash"
                        and after(previous).rstrip().endswith("prints:") and previous.end <= f.start)
        names.append(key_bash(previous) if follows_bash else key(f))
    return names


def test_every_shown_output_is_compared_somewhere() -> None:
    names = shown_names()
    missing = set(names) - set(SHOWN_ELSEWHERE) - COMPARED_HERE
    assert missing == set(), f"a shown output no test compares (add it to a test): {missing}"
    assert set(SHOWN_ELSEWHERE) <= set(names), "SHOWN_ELSEWHERE names an output the docs dropped"


def test_compare_latency_excerpt_is_consistent() -> None:
    """The hand-run `compare --latency` excerpt (measured, so not re-run): its ratios follow from its medians."""
    section = DOCS["docs/latency.md"].split("run by hand a few minutes after\n`benchmarks/cpu.sh`", 1)[1]
    body = re.search(r"```\n(.*?)```", section, re.S).group(1)
    rows = {m[0]: [float(x.replace(",", "").rstrip("×")) for x in m[1:]]
            for m in re.findall(r"│ (.+?) +│ +(\S+) │ +(\S+) │ +(\S+) │", body)}
    for batch in (1, 8):
        mobile, shuffle, ratio = rows[f"median latency, batch {batch} (ms)"]
        assert ratio == pytest.approx(shuffle / mobile, abs=0.001)
        ips = rows[f"throughput, batch {batch} (images/s)"]
        assert ips[:2] == pytest.approx([1000 * batch / mobile, 1000 * batch / shuffle], abs=0.06)
        assert f"batch {batch}: 4.14x fewer MACs, {mobile / shuffle:.2f}x faster" in body


# ---------------------------------------------------------------------------------------------- ```python blocks

PYTHON = [f for f in ALL_FENCES if f.lang == "python"]


@pytest.mark.parametrize("fence", PYTHON, ids=[f"{f.doc}:{f.line}" for f in PYTHON])
def test_python_block_runs(fence: Fence) -> None:
    namespace: dict = {}
    for n, line in enumerate(fence.body.splitlines(), fence.line + 1):
        if not HAS_TORCH and re.search(r"torch|build_model|bridge|latency", line):
            continue
        code = line.split("  #", 1)[0]
        exec(compile(code, f"{fence.doc}:{n}", "exec"), namespace)
        shown = re.search(r"#\s*((?:Fraction\(|\[)[^#]*)$", line)  # a result shown in the comment
        if shown:
            assert repr(eval(code, namespace)) == shown.group(1).strip(), f"{fence.doc}:{n}"


def test_there_are_python_blocks() -> None:
    assert len(PYTHON) >= 2


# ---------------------------------------------------------------------------------------------- measured prose

def paragraph_with(doc: str, pattern: str) -> str:
    found = [p for p in DOCS[doc].split("\n\n") if re.search(pattern, p)]
    assert len(found) == 1, (doc, pattern, len(found))
    return found[0]


# A measured figure in prose (a pattern that finds its paragraph) and the benchmark or results file it must name.
MEASURED = [
    ("docs/conventions.md", r"verify --all` took\s+[\d.]+ s", "benchmarks/verify.py"),
    ("docs/conventions.md", r"one thread took [\d.]+x the time", "benchmarks/verify.py"),
    ("docs/architecture.md", r"configurations\s+per second \(", "benchmarks/engine.py"),
    ("docs/architecture.md", r"cold start of [\d.]+x the import baseline", "benchmarks/engine.py"),
    ("docs/sweeps.md", r"the sweep took [\d.]+ to [\d.]+ s", "benchmarks/sweep.py"),
    ("docs/ci.md", r"ten models in about [\d.]+ s", "benchmarks/check.py"),
    ("docs/latency.md", r"load average [\d.]+ at the start of the run", "benchmarks/results/cpu-intel-xeon-processor"),
    ("docs/latency.md", r"only [\d.]+x faster at batch 1", "benchmarks/results/cpu-intel-xeon-processor"),
    ("docs/latency.md", r"median ratio was [\d.–-]+ in four runs", "tests/latency/test_bench.py"),
    ("docs/latency.md", r"ends its table with", "benchmarks/cpu.sh"),
    ("docs/report.md", r"took [\d.]+ s from start to exit", "benchmarks/report.py"),
]


@pytest.mark.parametrize("doc, pattern, source", MEASURED, ids=[p for _, p, _ in MEASURED])
def test_measured_prose_names_its_source(doc: str, pattern: str, source: str) -> None:
    paragraph = paragraph_with(doc, pattern)
    if source.startswith("benchmarks/results/"):
        # the paragraph names the results folder, or follows the one that does
        text = DOCS[doc]
        paragraph = text[max(0, text.index(paragraph) - 1500):text.index(paragraph) + len(paragraph)]
    assert source in paragraph
    assert (ROOT / source).exists()


def test_verify_all_configuration_counts() -> None:
    """Not a measurement: the configurations `verify --all` runs follow from the spec grids."""
    from shufflecalc.spec.load import builtin_names, load_spec

    sizes = {name: len(_grid(load_spec(name))) for name in builtin_names()}
    if HAS_TORCH:
        from shufflecalc.bridge.verify import grid

        assert sizes == {name: len(grid(load_spec(name))) for name in builtin_names()}
    total = sum(sizes.values())
    single = sorted(n for n, k in sizes.items() if k == 1)
    readme = " ".join(DOCS["docs/conventions.md"].split())
    assert f"one configuration of each of the {len(single)} built-in specs without choices" in readme
    assert "(" + ", ".join(f"`{n}`" for n in single) + ")" in readme
    assert sizes["shufflenet"] == 50 and "shuffle on and off (50)" in readme
    phrases = {  # every spec with a grid is named with its size
        "shufflenet_v2": "ShuffleNet V2's {} widths", "regnet": "RegNet's {} variants",
        "efficientnet": "EfficientNet's {} variants", "vgg": "batchnorm on and off ({})",
        "convnext": "ConvNeXt's {} sizes",
        "densenet": "DenseNet's {} depths", "vit": "ViT's {} sizes", "squeezenet": "SqueezeNet's {} versions",
        "inception_v3": "auxiliary classifier ({})", "shufflenet": "shuffle on and off ({})",
    }
    assert set(phrases) == {n for n, k in sizes.items() if k > 1}
    for name, phrase in phrases.items():
        assert phrase.format(sizes[name]) in readme, name
    assert f"({sizes['inception_v3']}): {total} configurations" in readme
    assert f"({total} configurations, torch import included" in readme


def _grid(spec) -> list:
    """verify.grid's product, without torch: each parameter's choices (bool: false, true), else its default."""
    import itertools

    axes = [p.choices or ((False, True) if p.type is bool else (p.default,)) for p in spec.params.values()]
    return list(itertools.product(*axes))


def test_benchmark_counts_in_prose() -> None:
    """The sizes the speed prose states are the benchmarks' own: ten models, 1,000 configurations, 10 for threads."""
    readme = " ".join(" ".join(DOCS[d].split()) for d in ("docs/ci.md", "docs/sweeps.md", "docs/conventions.md"))
    check = (ROOT / "benchmarks" / "check.py").read_text()
    ten = re.search(r'TEN_MODELS = """\\\n(.*?)"""', check, re.S).group(1)
    assert len(yaml.safe_load(ten)["budgets"]) == 10 and "checks ten models" in readme
    sweep = (ROOT / "benchmarks" / "sweep.py").read_text()
    args = eval(re.search(r"^SWEEP = (\[.*?\])$", sweep, re.M).group(1))  # a literal list of strings
    g, w = (len(args[args.index(o) + 1].split(",")) for o in ("--g", "--width"))
    start, stop, step_ = map(int, args[args.index("--resolution") + 1].split(":"))
    r = len(range(start, stop + 1, step_))
    assert (g, w, r) == (5, 5, 40) and g * w * r == 1000
    assert f"a {g * w * r:,}-configuration sweep through the CLI ({g} g x {w} widths x {r} resolutions)" in readme
    verify = (ROOT / "benchmarks" / "verify.py").read_text()
    n = int(re.search(r"def threads_side_by_side\(configs: int = (\d+)\)", verify).group(1))
    assert f"on the same {n} configurations, one thread took" in readme


def test_cpu_speedups_in_prose_are_the_results_file() -> None:
    """'only 1.39x faster at batch 1 and 1.50x at batch 8': median ratios in the committed bench JSON."""
    import json

    doc = json.loads((ROOT / "benchmarks/results/cpu-intel-xeon-processor/bench_eager.json").read_text())
    median = {(r["model"], r["batch"]): r["median_ms"] for r in doc["results"]}
    b1, b8 = (median["mobilenet", b] / median["shufflenet", b] for b in (1, 8))
    assert f"only {b1:.2f}x faster at batch 1 and {b8:.2f}x at batch 8" in " ".join(DOCS["docs/latency.md"].split())
