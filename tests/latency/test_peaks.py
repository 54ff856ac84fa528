"""The GPU peak table: device names as torch reports them, and the dtype rule (datasheet figures, dense)."""

from __future__ import annotations

import pytest

from shufflecalc.latency.peaks import find_peak, peak_for


@pytest.mark.parametrize("name, entry", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA H200", "H200 SXM"),
    ("NVIDIA A100-SXM4-80GB", "A100"),
    ("NVIDIA A100 80GB PCIe", "A100"),
    ("NVIDIA L4", "L4"),
    ("Tesla T4", "T4"),
    ("Tesla V100-SXM2-16GB", "V100 SXM2"),
    ("Tesla V100-PCIE-32GB", "V100 PCIe"),
    ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090"),
])
def test_device_names_find_their_entry(name: str, entry: str) -> None:
    peak = find_peak(name)
    assert peak is not None and peak.name == entry


@pytest.mark.parametrize("name", ["NVIDIA L40S", "NVIDIA H100 NVL", "NVIDIA H200 NVL", "NVIDIA GeForce RTX 3090", ""])
def test_devices_outside_the_table_have_no_peak(name: str) -> None:
    assert find_peak(name) is None


def test_dtype_rule() -> None:
    h100 = find_peak("NVIDIA H100 80GB HBM3")
    # H100 SXM datasheet: FP32 67 TFLOPS; TF32 989, FP16/BF16 1,979 TFLOPS with sparsity (half that dense)
    assert peak_for(h100, "float32", allow_tf32=False) == (67.0, "fp32")
    assert peak_for(h100, "float32", allow_tf32=True) == (494.7, "tf32 tensor")
    assert peak_for(h100, "float16", allow_tf32=False) == (989.4, "fp16 tensor")
    assert peak_for(h100, "bfloat16", allow_tf32=True) == (989.4, "bf16 tensor")
    v100 = find_peak("Tesla V100-SXM2-32GB")
    assert peak_for(v100, "float32", allow_tf32=True) == (15.7, "fp32")  # no TF32 before Ampere
    assert peak_for(v100, "bfloat16", allow_tf32=True)[0] is None
    a100 = find_peak("NVIDIA A100-SXM4-40GB")
    assert peak_for(a100, "float32", True)[0] == 156.0 and peak_for(a100, "float16", True)[0] == 312.0
