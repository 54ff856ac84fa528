"""The torch modules of the pointwise kinds torch.nn lacks: ConvNeXt's channel LayerNorm of a C x H x W map,
stochastic depth and the learnable per-channel scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels at each position of an N x C x H x W tensor: permute to channels-last, layer norm,
    permute back (torchvision's ConvNeXt ``LayerNorm2d``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def stochastic_depth(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """torchvision.ops.stochastic_depth(x, p, "row", training): in training, each sample (row of the batch) is zeroed
    with probability `p` and the others scaled by 1 / (1 - p); otherwise `x` itself."""
    if not training or p == 0.0:
        return x
    survival = 1.0 - p
    noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(survival)
    if survival > 0.0:
        noise.div_(survival)
    return x * noise


class DropPath(nn.Module):
    """Stochastic depth, ``torchvision.ops.StochasticDepth(p, "row")``: the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stochastic_depth(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerScale(nn.Module):
    """A learned scale, ``scale * x``, every entry initialized to `init`: shape (C, 1, 1) on N x C x H x W as in
    torchvision's ConvNeXt ``CNBlock`` (``self.layer_scale * x``), (C,) on a tensor whose last axis is the channels."""

    def __init__(self, shape: tuple[int, ...], init: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full(shape, float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"
