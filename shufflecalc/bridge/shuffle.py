"""The channel shuffle run in torch: the builder's module against the permutation and torch.nn.ChannelShuffle."""

from __future__ import annotations

from dataclasses import dataclass

from shufflecalc.formulas.shuffle import Shuffle


@dataclass(frozen=True)
class TorchCheck:
    """What `check_torch` found: does the builder's shuffle move channel permutation[i] to i, as nn.ChannelShuffle?"""

    module: str  # the module the builder makes
    shape: tuple[int, ...]
    is_permutation: bool
    equals_nn: bool
    torch_version: str

    @property
    def ok(self) -> bool:
        return self.is_permutation and self.equals_nn


def check_torch(s: Shuffle) -> TorchCheck:
    """Run the channel_shuffle layer exactly as the model builder builds it (`torch_module('channel_shuffle', ...)`)
    on a random N x C x H x W tensor; compare with the permutation and with torch.nn.ChannelShuffle. Needs the torch
    extra."""
    from shufflecalc.bridge.builder import torch  # raises MissingDependency (exit 2, install hint) without torch
    from shufflecalc.bridge.modules import torch_module

    shape = (2, s.channels, 3, 5)
    module = torch_module("channel_shuffle", {"groups": s.groups}, (shape[1:],)).eval()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = module(x)
        reference = torch.nn.ChannelShuffle(s.groups)(x)
    index = torch.tensor(s.permutation, dtype=torch.long)
    is_perm = tuple(y.shape) == shape and torch.equal(y, x.index_select(1, index))
    name = f"{type(module).__module__}.{type(module).__qualname__}"
    return TorchCheck(name, shape, bool(is_perm), bool(torch.equal(y, reference)), torch.__version__)


__all__ = ["TorchCheck", "check_torch"]
