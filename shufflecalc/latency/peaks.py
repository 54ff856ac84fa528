"""Peak arithmetic throughput of common GPUs, for the "fraction of peak" column (pure, no torch).

Figures are NVIDIA's datasheet peaks in TFLOP/s, **dense** (the datasheets' tensor figures marked "with sparsity" are
halved), at boost clock:

- ``fp32``: CUDA-core FP32.
- ``tf32``: tensor-core TF32 (Ampere and later); None where the GPU has none.
- ``fp16`` / ``bf16``: tensor-core FP16 / BF16 with FP32 accumulation (what PyTorch's convolutions and matmuls use);
  None where the GPU has no such tensor cores.

Which peak applies (`peak_for`): float16 -> fp16, bfloat16 -> bf16; float32 -> tf32 when TF32 is allowed for
convolutions (``torch.backends.cudnn.allow_tf32``, on by default; the models' FLOPs are almost all convolutions) and
the GPU has TF32 tensor cores, otherwise fp32. ``--peak-tflops`` overrides the table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Peak:
    name: str
    fp32: float
    tf32: float | None
    fp16: float | None
    bf16: float | None
    source: str


# Matched in order against the lower-cased device name: every substring of `match` must occur, none of `exclude`.
PEAKS: tuple[tuple[tuple[str, ...], tuple[str, ...], Peak], ...] = (
    (("h200",), ("nvl",), Peak("H200 SXM", 67.0, 494.7, 989.4, 989.4, "H200 datasheet")),
    (("h100", "pcie"), (), Peak("H100 PCIe", 51.2, 378.0, 756.5, 756.5, "H100 datasheet")),
    (("h100",), ("nvl", "pcie"), Peak("H100 SXM", 67.0, 494.7, 989.4, 989.4, "H100 datasheet")),
    (("a100",), (), Peak("A100", 19.5, 156.0, 312.0, 312.0, "A100 datasheet")),
    (("l4",), ("l40",), Peak("L4", 30.3, 60.0, 121.0, 121.0, "L4 datasheet")),
    (("t4",), (), Peak("T4", 8.1, None, 65.0, None, "T4 datasheet")),
    (("v100", "pcie"), (), Peak("V100 PCIe", 14.0, None, 112.0, None, "V100 datasheet")),
    (("v100",), ("pcie",), Peak("V100 SXM2", 15.7, None, 125.0, None, "V100 datasheet")),
    (("rtx 4090",), (), Peak("GeForce RTX 4090", 82.6, 82.6, 165.2, 165.2, "Ada Lovelace architecture whitepaper")),
)


def find_peak(device_name: str) -> Peak | None:
    """The table entry for a device name as torch.cuda.get_device_name reports it ('NVIDIA H100 80GB HBM3')."""
    name = device_name.lower()
    for match, exclude, peak in PEAKS:
        if all(m in name for m in match) and not any(e in name for e in exclude):
            return peak
    return None


def peak_for(peak: Peak, dtype: str, allow_tf32: bool) -> tuple[float | None, str]:
    """(peak TFLOP/s, which peak) for a dtype ('float32', 'float16', 'bfloat16'); None where the GPU has none."""
    if dtype == "float16":
        return peak.fp16, "fp16 tensor"
    if dtype == "bfloat16":
        return peak.bf16, "bf16 tensor"
    if allow_tf32 and peak.tf32 is not None:
        return peak.tf32, "tf32 tensor"
    return peak.fp32, "fp32"


RULE = ("peak: float16/bfloat16 -> dense FP16/BF16 tensor-core peak (FP32 accumulate); float32 -> dense TF32 "
        "tensor-core peak when torch.backends.cudnn.allow_tf32 is on and the GPU has TF32, else the FP32 peak")
