"""The vocabulary of layer kinds: `Arg`, `Eval`, `LayerKind`, `LayerError`, the bounds of every number, and the
shape helpers the kinds share. The counting conventions are in the package docstring (`shufflecalc.spec.layers`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]
Attrs = Mapping[str, Any]

# Bounds of every number a layer or block takes, and of every tensor a layer produces (docs/spec-format.md).
MAX_CHANNELS = 2**20  # channels: out, hidden, planes, squeeze, se_channels; groups, parts; a C x H x W tensor's C
MAX_WINDOW = 2**12  # kernel, stride, padding, dilation
MAX_SPATIAL = 2**16  # height and width of every C x H x W tensor, the input's included
MAX_FEATURES = MAX_CHANNELS * MAX_SPATIAL**2  # elements of a flat tensor (the flatten of the largest C x H x W)
MAX_RATIO = 1024.0  # ratios: bottleneck, expand; expansion, width_per_group
MAX_EPS = 1.0  # batchnorm epsilon

# Layer and stage names that cannot be module names in torch: every public attribute of torch.nn.Module and of the
# torch builder's GraphModule (tests/bridge/test_builder.py checks this list against the installed torch). Names
# starting with "_" are refused as well: torch keeps its own state under them.
# Names a module's own code assigns as attributes while it runs: nn.Module.train() sets `training` on every module,
# the builder's GraphModule sets `graph`, `output_name` and `annotate`. A submodule under such a name makes that
# assignment fail (torch refuses to replace a child module by a value), so `bench` and `profile` crashed. Every
# other attribute name (`half`, `eval`, `forward`, ...) is fine: the builder registers modules in `_modules` directly
# and calls them from its plan (tests/bridge/test_builder.py builds and runs each one).
RESERVED_NAMES = frozenset({"training", "graph", "output_name", "annotate"})


def reserved_name(name: str) -> str | None:
    """Why `name` cannot name a layer or stage (a module in torch), or None if it can."""
    if name.startswith("_"):
        return "names starting with '_' are reserved"
    if name in RESERVED_NAMES:
        return "torch assigns an attribute of that name on modules"
    return None


class LayerError(Exception):
    """Invalid arguments or input shapes for a layer; `arg` names the offending argument, if one does."""

    def __init__(self, message: str, arg: str | None = None) -> None:
        super().__init__(message)
        self.arg = arg


@dataclass(frozen=True)
class Arg:
    """One argument of a layer or block kind. `type` is int, float, bool or str; `minimum` and `maximum` bound
    numbers (both required for a number: no spec value is unbounded)."""

    type: type
    default: Any = None
    required: bool = False
    minimum: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.type in (int, float) and (self.minimum is None or self.maximum is None):
            raise TypeError("a number argument needs a minimum and a maximum")


@dataclass(frozen=True)
class Eval:
    """What a kind's rule returns for one layer."""

    out: Shape
    params: int = 0
    macs: int = 0
    fvcore_extra: int = 0  # fvcore's count beyond macs
    op_class: str = "other"


@dataclass(frozen=True)
class LayerKind:
    name: str
    args: dict[str, Arg]
    rule: Callable[[Attrs, tuple[Shape, ...]], Eval]
    torch: Callable[[Attrs, tuple[Shape, ...], Any], Any]  # (attrs, input shapes, shufflecalc.bridge.modules)
    fvcore: str  # "counted", "ignored" (0, silently) or "unsupported" (0, with a warning): fvcore's treatment
    aten: tuple[str, ...]  # the aten ops fvcore sees for this layer
    inputs: int = 1  # number of inputs; 0 means two or more
    counts_activations: bool = False
    view: bool = False  # the output aliases the input in eager execution (a view or the identity): memory_access 0
    doc: str = ""
    defaults: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", {k: a.default for k, a in self.args.items() if not a.required})


# --- shape helpers ------------------------------------------------------------------------------------------------


def spatial_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's output-size rule for convolution and pooling along one axis."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:  # the last window must start inside the input or left padding
            out -= 1
    else:
        out = span // stride + 1
    return out


def image(ins: tuple[Shape, ...], kind: str) -> Shape:
    shape = ins[0]
    if len(shape) != 3:
        raise LayerError(f"{kind} needs a C x H x W input, got {fmt(shape)} (flattened already?)")
    return shape


def fmt(shape: Shape) -> str:
    return "x".join(str(s) for s in shape)


def out_hw(h: int, w: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> tuple[int, int]:
    oh, ow = spatial_size(h, k, s, p, d, ceil_mode), spatial_size(w, k, s, p, d, ceil_mode)
    if oh < 1 or ow < 1:
        raise LayerError(
            f"the spatial size reaches zero: {h}x{w} input, kernel {k}, stride {s}, padding {p} gives {oh}x{ow}"
        )
    return oh, ow


# --- generic rules and torch factories ---------------------------------------------------------------------------


def elementwise(op_class: str) -> Callable[[Attrs, tuple[Shape, ...]], Eval]:
    return lambda a, ins: Eval(ins[0], op_class=op_class)


def nn_module(name: str, **fixed: Any) -> Callable[[Attrs, tuple[Shape, ...], Any], Any]:
    def make(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
        return getattr(t.nn, name)(**fixed)

    return make


def local_module(name: str) -> Callable[[Attrs, tuple[Shape, ...], Any], Any]:
    def make(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
        return getattr(t, name)()

    return make


POS = 1  # the least channel count
