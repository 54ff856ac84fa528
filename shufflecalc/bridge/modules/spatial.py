"""The torch module of the spatial kinds torch.nn lacks: conv2d with an odd total ``same`` padding."""

from __future__ import annotations

import torch
from torch import nn


class SamePadConv2d(nn.Conv2d):
    """``nn.Conv2d(..., padding='same')`` where dilation * (kernel - 1) is odd on an axis, computed as PyTorch
    computes it (at::_convolution_mode): one more zero row / column at the bottom / right (`extra`), then the
    convolution with the symmetric rest of the padding. Written out, the trace is ``aten::constant_pad_nd`` (which
    fvcore ignores) and ``aten::_convolution`` (which it counts), where ``padding='same'`` traces as
    ``aten::_convolution_mode``, which fvcore 0.1.5 does not support. Same parameters and state dict as
    nn.Conv2d."""

    def __init__(self, *args: object, extra: tuple[int, int], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.constant_pad_nd(x, (0, self.extra[1], 0, self.extra[0]), 0.0))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, extra={self.extra}"
