"""The report page (report/page.py): its data against independent counts, a deterministic self-contained file, the
vendored libraries as published, and the page itself in a real browser (headless Chromium driven by Playwright).

Independent numbers: ResNet-50 has 4,089,184,256 MACs and 25,557,032 params (torchvision's model measured with
FlopCounterMode and numel: tests/analysis/test_cost.py), stages of 3, 4, 6 and 3 bottlenecks (He et al., Table 1),
and a bottleneck with a projection shortcut has 12 layers in torchvision (conv1 bn1 relu conv2 bn2 relu conv3 bn3,
downsample conv and bn, the add, the last relu). Its largest layer is the 7x7 stem conv, 64·3·7·7·112·112 =
118,013,952 MACs, above every 3x3 conv's 64·64·9·56·56 = 115,605,504 (the same product at every stage). Its last
stage holds 14,964,736 params: unit0 = 1024·512 + 512·512·9 + 512·2048 + 1024·2048 conv weights + 2·(512 + 512 +
2048 + 2048) BN = 6,039,552, unit1 and unit2 = 2048·512 + 512·512·9 + 512·2048 + 2·(512 + 512 + 2048) = 4,462,592.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from shufflecalc.analysis.cost import analyze
from shufflecalc.report.page import VENDOR_SCRIPTS, hierarchy, page_data, page_html, vendored
from shufflecalc.spec.load import builtin_names

from ..conftest import ROOT

RESNET_MACS, RESNET_PARAMS = 4_089_184_256, 25_557_032
STEM_MACS = 64 * 3 * 7 * 7 * 112 * 112
CONV3X3_MACS = 64 * 64 * 9 * 56 * 56
LAYER4_PARAMS = (1024 * 512 + 512 * 512 * 9 + 512 * 2048 + 1024 * 2048 + 2 * (512 + 512 + 2048 + 2048)
                 + 2 * (2048 * 512 + 512 * 512 * 9 + 512 * 2048 + 2 * (512 + 512 + 2048)))
BOTTLENECK_WITH_PROJECTION = ("conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3", "downsample",
                              "downsample_bn", "add", "relu")


@pytest.fixture(scope="module")
def resnet():
    return analyze("resnet50")


# --- the data --------------------------------------------------------------------------------------------------------


def test_resnet50_data_against_independent_counts(resnet) -> None:
    (m,) = page_data([resnet])["models"]
    assert (m["totals"]["macs"], m["totals"]["params"]) == (RESNET_MACS, RESNET_PARAMS)
    assert m["totals"]["flops"] == 2 * RESNET_MACS
    stages = [g for g in m["groups"] if g["kind"] == "stage"]
    assert [(g["id"], g["blocks"]) for g in stages] == [("layer1", 3), ("layer2", 4), ("layer3", 6), ("layer4", 3)]
    assert STEM_MACS == 118_013_952 > CONV3X3_MACS == 115_605_504
    biggest = max(m["layers"], key=lambda layer: layer["macs"])
    assert (biggest["name"], biggest["macs"]) == ("conv1.conv", STEM_MACS)
    assert LAYER4_PARAMS == 14_964_736 and next(g for g in stages if g["id"] == "layer4")["params"] == LAYER4_PARAMS
    unit0 = [layer["name"] for layer in m["layers"] if layer["parent"] == "layer1.unit0"]
    assert unit0 == [f"layer1.unit0.{n}" for n in BOTTLENECK_WITH_PROJECTION]
    add = next(layer for layer in m["layers"] if layer["name"] == "layer1.unit0.add")
    assert add["inputs"] == ["layer1.unit0.bn3", "layer1.unit0.downsample_bn"]  # the residual edges the graph draws


def test_the_conventions_are_named(resnet) -> None:
    data = page_data([resnet])
    assert data["headers"]["flops"] == "FLOPs (2×MACs)" and data["headers"]["macs"] == "MACs (conv+linear)"
    assert "2 x macs" in data["conventions"]["flops"] and "fvcore" in data["conventions"]["fvcore_flops"]
    assert list(data["conventions"]) == ["macs", "flops", "fvcore_flops", "params", "activations", "memory_access"]


def test_each_unit_has_its_closed_form() -> None:
    """ShuffleNet g=3, stage3.unit1 (unit b, stride 1: M = 480, N = 120, 14x14): 2NM·IwIh/g + 9N·IwIh =
    2·120·480·196/3 + 9·120·196 = 7,526,400 + 211,680 = 7,738,080 MACs, equal to the layers' sum."""
    (m,) = page_data([analyze("shufflenet", g=3)])["models"]
    units = {u["name"]: u for u in m["explain"]["units"]}
    assert len(units) == 16  # 4 + 8 + 4 units (Zhang et al., Table 1)
    u = units["stage3.unit1"]
    assert (u["formula"], u["formula_text"]) == ("unit-b", "2NM·IwIh/g + 9N·IwIh")
    assert u["substituted"] == "2·120·480·14·14/3 + 9·120·14·14"
    assert u["formula_macs"] == u["engine_macs"] == 2 * 120 * 480 * 196 // 3 + 9 * 120 * 196 == 7_738_080
    assert u["why"] == [] and u["formula_title"] == "ShuffleNet unit (b), stride 1"
    first = units["stage2.unit0"]  # unit (c) with an ungrouped first 1x1 conv: a reason, in short and in full
    assert first["why"] and len(first["why"]) == len(first["reasons"])
    assert page_data([analyze("squeezenet1_0")])["models"][0]["explain"] is None  # no unit a formula covers


def test_comparison_ratios_as_compare_computes_them() -> None:
    """MobileNet 568,740,352 MACs and ShuffleNet 1x g=3 137,460,672 (tests/analysis/test_cost.py)."""
    data = page_data([analyze("mobilenet"), analyze("shufflenet", g=3)])
    macs = next(r for r in data["comparison"] if r["metric"] == "macs")
    assert macs["values"] == [568_740_352, 137_460_672]
    assert macs["ratios"] == [1.0, round(137_460_672 / 568_740_352, 6)] and macs["ratios"][1] == 0.241693
    assert data["title"] == "shufflecalc report: mobilenet vs shufflenet"
    assert page_data([analyze("mobilenet")])["comparison"] is None


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_spec_has_a_consistent_hierarchy(name: str) -> None:
    """Every layer sits in one group or none; a group's sums are its layers' sums; a stage holds blocks only."""
    a = analyze(name)
    groups, parents = hierarchy(a.graph)
    by_id = {g["id"]: g for g in groups}
    assert len(by_id) == len(groups) and set(parents) - {""} <= set(by_id)
    for g in groups:
        inside = [layer for layer, p in zip(a.layers, parents, strict=True)
                  if p == g["id"] or (p and by_id[p]["parent"] == g["id"])]
        assert g["layers"] == len(inside) > 0
        assert g["macs"] == sum(layer.macs for layer in inside) and g["params"] == sum(x.params for x in inside)
        assert g["parent"] == "" or by_id[g["parent"]]["kind"] == "stage"
    assert sum(g["macs"] for g in groups if not g["parent"]) + sum(
        layer.macs for layer, p in zip(a.layers, parents, strict=True) if not p) == a.macs


# --- the file --------------------------------------------------------------------------------------------------------


class _Refs(HTMLParser):
    """What an HTML file would load: script sources, link targets, images, frames, objects."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href", "data", "srcset", "poster"):
            if a.get(key) and not (a[key] or "").startswith("data:"):
                self.loads.append(f"<{tag} {key}={a[key]}>")


def test_page_is_self_contained_deterministic_and_small(resnet) -> None:
    html = page_html([resnet])
    assert html == page_html([analyze("resnet50")])  # byte-identical for the same input
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"\{\{(title|generator|licenses|style|data|vendor|script)\}\}", html)  # all filled in
    refs = _Refs()
    refs.feed(html)
    assert refs.loads == [] and refs.scripts == 2 + len(VENDOR_SCRIPTS)
    assert "@import" not in html.split("<script", 1)[0]  # the inlined style loads nothing either
    assert len(html.encode()) <= 5 * 2**20
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in data and json.loads(data)["models"][0]["totals"]["macs"] == RESNET_MACS


def _script(path: Path):
    spec = importlib.util.spec_from_file_location(f"_script_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a dataclass looks its module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_the_screenshots_are_the_manuals_figures() -> None:
    """docs/report_screenshots.py takes exactly the screenshots docs/figures.py lists, and they are in docs/."""
    shots = _script(ROOT / "docs" / "report_screenshots.py").SCREENSHOTS
    assert tuple(shots) == _script(ROOT / "docs" / "figures.py").SCREENSHOTS
    for name in shots:
        assert (ROOT / "docs" / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), name


def test_vendored_libraries_are_the_published_files() -> None:
    """Each vendored file's sha256 is the one recorded when tools/vendor_js.py copied it from the npm tarball, and
    every library ships with its license."""
    tool = _script(ROOT / "tools" / "vendor_js.py")
    assert tool.check() == []
    libs = vendored()
    assert {n: e["version"] for n, e in libs.items()} == {n: v for n, v, _ in tool.PACKAGES}
    files = {f for e in libs.values() for f in e["files"]}
    assert set(VENDOR_SCRIPTS) <= files
    for name, entry in libs.items():
        assert any("LICENSE" in f for f in entry["files"]), name


# --- in a browser ----------------------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


def _browser_or_skip():
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("playwright is not installed (pip install 'shufflecalc[report]')")
    chromium = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if chromium is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)")
    return chromium


class Page:
    """A report page opened from disk, with every console error and every request that is not a file: recorded."""

    def __init__(self, browser, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else self.requests.append(r.url))

        def route(r) -> None:
            if r.request.url.startswith(("file:", "data:")):
                r.continue_()
            else:
                self.requests.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready=true]", timeout=30_000)

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def click_node(self, node_id: str) -> None:
        """Click a graph node where it is drawn, as a user would."""
        self.page.locator("#graph").scroll_into_view_if_needed()
        x, y = self.js("id => { const p = window.shufflecalcReport.cy.getElementById(id).renderedPosition(); "
                       "return [p.x, p.y]; }", node_id)
        box = self.page.locator("#graph").bounding_box()
        self.page.mouse.click(box["x"] + x, box["y"] + y)


@pytest.fixture(scope="module")
def browser():
    chromium = _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium)
        yield b
        b.close()


@pytest.fixture(scope="module")
def resnet_page(browser, tmp_path_factory, resnet):
    path = tmp_path_factory.mktemp("report") / "resnet50.html"
    path.write_text(page_html([resnet]), encoding="utf-8")
    page = Page(browser, path)
    yield page
    page.page.close()


def test_page_loads_without_errors_or_requests(resnet_page) -> None:
    assert resnet_page.errors == [] and resnet_page.requests == []


def test_treemap_and_graph_render(resnet_page) -> None:
    rects = resnet_page.js("document.querySelectorAll('#treemap svg path, #treemap svg rect').length")
    assert rects > 100  # 16 units of 3-4 convs each, their frames and the stages'
    drawn = resnet_page.js("""() => {
        const canvases = [...document.querySelectorAll('#graph canvas')];
        return canvases.some(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                                    for (let i = 3; i < d.length; i += 4) { if (d[i]) return true; } return false; });
    }""")
    assert drawn
    texts = resnet_page.js("[...document.querySelectorAll('#treemap svg text')].map(t => t.textContent)")
    assert any(t.startswith("layer4") and t.endswith("809.24M") for t in texts)  # 4.09G by stage, as the engine


def test_clicking_a_block_expands_it(resnet_page) -> None:
    cy_ids = "() => window.shufflecalcReport.cy.nodes().map(n => n.id())"
    before = resnet_page.js(cy_ids)
    assert "g:layer1.unit0" in before and not any(i.startswith("l:layer1.unit0.") for i in before)
    resnet_page.click_node("g:layer1.unit0")
    resnet_page.page.wait_for_function("document.getElementById('graph').dataset.expanded.includes('layer1.unit0')")
    after = resnet_page.js(cy_ids)
    assert [i for i in after if i.startswith("l:layer1.unit0.")] == [
        f"l:layer1.unit0.{n}" for n in BOTTLENECK_WITH_PROJECTION]
    assert "g:layer1.unit0" in after  # now the frame around them
    edges = resnet_page.js("() => window.shufflecalcReport.cy.edges('.residual').map(e => e.target().id())")
    assert edges == ["l:layer1.unit0.add", "l:layer1.unit0.add"]  # both inputs of the sum
    assert "closed form: resnet-unit" in resnet_page.page.inner_text("#details")


def test_sorting_by_macs_puts_the_largest_layer_first(resnet_page) -> None:
    first = "document.querySelector('#layer-table tbody tr').dataset.layer"
    assert resnet_page.js(first) == "conv1.conv"  # in network order, too
    resnet_page.page.click("#layer-table th[data-key=params]")
    # the 3x3 convs of layer4, 512·512·9 = 2,359,296 params each (ties in network order), above the projection
    # shortcut's 1024·2048 = 2,097,152 and the classifier's 2048·1000 + 1000 = 2,049,000
    assert resnet_page.js(first) == "layer4.unit0.conv2"
    resnet_page.page.click("#layer-table th[data-key=macs]")
    assert resnet_page.js(first) == "conv1.conv"
    row = resnet_page.page.locator("#layer-table tbody tr").first
    assert row.locator("td").nth(4).get_attribute("title") == f"{STEM_MACS:,}"
    resnet_page.page.fill("#layer-filter", "downsample_bn")
    assert resnet_page.page.locator("#layer-table tbody tr").count() == 4  # one projection shortcut per stage


def test_switching_the_treemap_metric_changes_it(resnet_page) -> None:
    labels = "[...document.querySelectorAll('#treemap svg text')].map(t => t.textContent).join('|')"
    before = resnet_page.js(labels)
    resnet_page.page.click("#treemap-section button[data-metric=params]")
    resnet_page.page.wait_for_function(f"({labels}).includes('14.96M')")
    after = resnet_page.js(labels)
    assert after != before and "layer4  14.96M" in after.split("|")  # LAYER4_PARAMS
    assert resnet_page.page.get_attribute("#treemap-section button[data-metric=params]", "aria-pressed") == "true"


def test_comparison_page(browser, tmp_path) -> None:
    path = tmp_path / "compare.html"
    path.write_text(page_html([analyze("mobilenet"), analyze("shufflenet", g=3)]), encoding="utf-8")
    page = Page(browser, path)
    try:
        assert page.errors == [] and page.requests == []
        table = page.page.inner_text("#compare-table")
        assert "shufflenet / mobilenet" in table and "0.242×" in table  # 137,460,672 / 568,740,352
        assert page.js("document.querySelectorAll('#compare-chart svg path').length") > 0
        page.page.click("#models button:nth-child(2)")
        assert page.page.inner_text("#summary h2") == "Summary: shufflenet"
        assert page.errors == []
    finally:
        page.page.close()


def test_measured_latency_on_the_page(browser, tmp_path) -> None:
    """With a measured latency (`latency.bench` of two tiny models, one thread, short samples) the summary shows each
    model's median with the conditions it was measured under, and the comparison table compare's latency row with
    the ratio to the first and its 'N x fewer MACs, M x faster' line. The figures shown are the bench document's."""
    torch = pytest.importorskip("torch")
    from shufflecalc.latency.bench import BenchOptions, bench

    analyses = [analyze("mobilenet", width=0.25, resolution=32), analyze("shufflenet", g=3, width=0.25, resolution=32)]
    doc = bench(analyses, BenchOptions(device="cpu", threads=1, min_time=0.05, warmup_max=0.5))
    first, second = (r["median_ms"] for r in doc["results"])
    path = tmp_path / "latency.html"
    path.write_text(page_html(analyses, doc), encoding="utf-8")
    page = Page(browser, path)
    try:
        assert page.errors == [] and page.requests == []
        summary = page.page.inner_text("#latency")
        assert "Measured latency: mobilenet" in summary and f"torch {torch.__version__}" in summary
        assert "1 threads" in summary and doc["environment"]["device_name"] in summary  # the conditions
        cell = page.page.locator("#latency-table tbody tr td").nth(2)  # batch, mode, median
        assert float(cell.get_attribute("title")) == first
        assert float(cell.inner_text()) == pytest.approx(first, rel=1e-3)  # 4 significant digits
        row = page.page.locator("#compare-table tr.latency[data-batch='1'] td")
        assert row.nth(0).inner_text() == "median latency, batch 1 (ms)"
        assert row.nth(3).inner_text() == f"{round(second / first, 6):.3f}×"
        note = page.page.inner_text("#compare-latency")
        assert "x fewer MACs, " in note and f"torch {torch.__version__}" in note
        page.page.click("#models button:nth-child(2)")
        assert page.page.inner_text("#latency h3") == "Measured latency: shufflenet"
        assert float(page.page.locator("#latency-table tbody tr td").nth(2).get_attribute("title")) == second
        assert page.errors == []
    finally:
        page.page.close()
