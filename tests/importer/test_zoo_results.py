"""benchmarks/results/zoo.json (the torchvision zoo, imported and proven by benchmarks/zoo.py in a torchvision venv)
against torchvision's published figures, and the README's table against the file. No torch, no torchvision."""

from __future__ import annotations

import importlib.util
import json

from tests.conftest import ROOT

ZOO = ROOT / "benchmarks" / "zoo.py"
ROWS = {r["model"]: r for r in json.loads((ROOT / "benchmarks" / "results" / "zoo.json").read_text())}

# torchvision 0.29.1's published figures for weights evaluated at 224 x 224 (the weights' meta: num_params, and _ops,
# which torchvision calls GFLOPS and counts as multiply-accumulates, in billions to 3 decimals)
PUBLISHED = {
    "resnet50": (25_557_032, 4.089),  # ResNet50_Weights.IMAGENET1K_V1
    "convnext_tiny": (28_589_128, 4.456),  # ConvNeXt_Tiny_Weights.IMAGENET1K_V1
    "convnext_large": (197_767_336, 34.361),  # ConvNeXt_Large_Weights.IMAGENET1K_V1
    "vit_b_16": (86_567_656, 17.564),  # ViT_B_16_Weights.IMAGENET1K_V1
    "vit_l_32": (306_535_400, 15.378),  # ViT_L_32_Weights.IMAGENET1K_V1
    "vit_h_14": (632_045_800, 167.295),  # ViT_H_14_Weights.IMAGENET1K_SWAG_LINEAR_V1 (224 x 224)
}


def test_the_zoo_matches_torchvisions_published_figures() -> None:
    for name, (params, gmacs) in PUBLISHED.items():
        row = ROWS[name]
        assert row["result"] == "PASS", name
        assert (row["params"], round(row["macs"] / 1e9, 3)) == (params, gmacs), name


def test_swin_and_maxvit_list_what_no_layer_kind_maps() -> None:
    assert {n for n, r in ROWS.items() if r["result"] != "PASS"} == {
        "swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b", "maxvit_t"}
    assert ROWS["swin_t"]["missing"] == {  # 12 blocks, 3 patch mergings
        "torchvision.models.swin_transformer._get_relative_position_bias": 12,
        "torchvision.models.swin_transformer.shifted_window_attention": 12,
        "torchvision.models.swin_transformer._patch_merging_pad": 3,
    }


def test_the_readme_table_is_the_results_file() -> None:
    spec = importlib.util.spec_from_file_location("zoo", ZOO)
    assert spec is not None and spec.loader is not None
    zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo)  # imports neither torch nor torchvision at the top
    table = "\n".join([zoo.HEADER, *(zoo.line(r) for r in ROWS.values())])
    assert table in (ROOT / "README.md").read_text()
