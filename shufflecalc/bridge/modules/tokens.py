"""The torch modules of the token kinds (shufflecalc.spec.layers.tokens): a vision transformer's tokens, class token,
position embedding, token selection and self-attention, written as torchvision's VisionTransformer computes them."""

from __future__ import annotations

import torch
from torch import nn


class ToTokens(nn.Module):
    """N x C x H x W -> N x (H*W) x C, a view of the input: ``x.flatten(2).transpose(1, 2)``, the very tensor of
    torchvision's ``x.reshape(n, c, h * w).permute(0, 2, 1)`` (``VisionTransformer._process_input``). Written so,
    fvcore's trace holds no shape arithmetic (torchvision's ``h * w`` is an ``aten::mul`` fvcore reports as
    unsupported), only the two views, which it ignores."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)


class FromTokens(nn.Module):
    """N x (H*W) x C -> N x C x H x W, a view of the input: ``x.transpose(1, 2).reshape(-1, c, h, w)``, the inverse
    of `ToTokens` and the very tensor of a channels-last map permuted back (``x.permute(0, 3, 1, 2)``, ConvNeXt's
    ``Permute([0, 3, 1, 2])``). The sizes are constants, so fvcore's trace holds no shape arithmetic."""

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        self.channels, self.height, self.width = channels, height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).reshape(-1, self.channels, self.height, self.width)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, height={self.height}, width={self.width}"


class ClassToken(nn.Module):
    """Prepends a learned token: N x T x C -> N x (T+1) x C. `weight` is torchvision's ``class_token`` parameter
    (shape 1 x 1 x C, zeros at first), expanded over the batch and concatenated in front."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.weight.expand(x.shape[0], -1, -1), x], dim=1)

    def extra_repr(self) -> str:
        return f"channels={self.weight.shape[-1]}"


class PositionEmbedding(nn.Module):
    """Adds a learned T x C table: `weight` is torchvision's ``encoder.pos_embedding`` (shape 1 x T x C, normal with
    std 0.02 at first)."""

    def __init__(self, tokens: int, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1, tokens, channels).normal_(std=0.02))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight

    def extra_repr(self) -> str:
        return f"tokens={self.weight.shape[1]}, channels={self.weight.shape[2]}"


class SelectToken(nn.Module):
    """One token as a flat vector, ``x[:, index]`` (torchvision's ViT takes the class token, index 0)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.index]

    def extra_repr(self) -> str:
        return f"index={self.index}"


class SelfAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention(dim, heads, batch_first=True)`` called as self-attention on one input, as torchvision's
    ViT EncoderBlock calls it: ``attention(x, x, x, need_weights=False)[0]``. A subclass, not a wrapper, so that its
    parameters (``in_proj_weight``, ``in_proj_bias``, ``out_proj.weight``, ``out_proj.bias``) and state-dict keys are
    MultiheadAttention's."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__(dim, heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]
