"""The vocabulary of layer kinds: `Arg`, `Eval`, `LayerKind`, `LayerError`, the bounds of every number, and the
shape helpers the kinds share. The counting conventions are in the package docstring (`shufflecalc.spec.layers`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

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


class Pair:
    """The type of an argument that is a whole number or a pair ``[h, w]`` of them (kernel, stride, padding,
    dilation, output sizes): an int stays an int, a pair is a tuple ``(h, w)``. `minimum` and `maximum` bound each
    element."""

    name = "pair"
    element: type = int
    words: tuple[str, ...] = ()  # strings the argument takes besides numbers
    what = "a whole number or a pair [h, w] of them"


class Padding(Pair):
    """A `Pair`, or one of the words ``same`` and ``valid`` (conv2d's and the pools' ``padding``)."""

    name = "padding"
    words = ("same", "valid")
    what = "a whole number, a pair [h, w] of them, same or valid"


class FloatPair(Pair):
    """A number or a pair ``[h, w]`` of numbers (upsample's ``scale``): a float, or a tuple of two floats."""

    name = "float pair"
    element = float
    what = "a number or a pair [h, w] of numbers"


def is_pair_type(t: Any) -> TypeGuard[type[Pair]]:
    return isinstance(t, type) and issubclass(t, Pair)


def pair(value: Any) -> tuple[Any, Any]:
    """(h, w) of an int, a float or a pair."""
    return (value[0], value[1]) if isinstance(value, tuple) else (value, value)


def above(value: Any, maximum: float) -> bool:
    """A number, or an element of a pair, above `maximum` (a word such as ``same`` is never above)."""
    if isinstance(value, tuple):
        return any(above(v, maximum) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > maximum


def text(value: Any) -> str:
    """A number or a pair as a message shows it: ``3``, ``1x7``."""
    return "x".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


class LayerError(Exception):
    """Invalid arguments or input shapes for a layer; `arg` names the offending argument, if one does."""

    def __init__(self, message: str, arg: str | None = None) -> None:
        super().__init__(message)
        self.arg = arg


@dataclass(frozen=True)
class Arg:
    """One argument of a layer or block kind. `type` is int, float, bool, str or a `Pair` type; `minimum` and
    `maximum` bound numbers (both required for an int or float: no spec value is unbounded) and each element of a
    pair."""

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
    aten_of: Callable[[Attrs], tuple[str, ...]] | None = None  # the aten ops, where the arguments choose them
    defaults: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", {k: a.default for k, a in self.args.items() if not a.required})

    def ops(self, attrs: Attrs | None = None) -> tuple[str, ...]:
        """The aten ops fvcore sees for a layer with these (complete) arguments: `aten`, unless the arguments choose
        (upsample's mode)."""
        return self.aten_of(attrs) if self.aten_of is not None and attrs is not None else self.aten


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


Size = int | tuple[int, int]  # a number or a pair (h, w)


def out_hw(h: int, w: int, k: Size, s: Size, p: Size, d: Size = 1, ceil_mode: bool = False) -> tuple[int, int]:
    """The output height and width of a convolution or pooling window; each of `k`, `s`, `p`, `d` an int or a pair
    (h, w). A size below 1 is a LayerError."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pair(k), pair(s), pair(p), pair(d)
    oh, ow = spatial_size(h, kh, sh, ph, dh, ceil_mode), spatial_size(w, kw, sw, pw, dw, ceil_mode)
    if oh < 1 or ow < 1:
        raise LayerError(
            f"the spatial size reaches zero: {h}x{w} input, kernel {text(k)}, stride {text(s)}, padding {text(p)}"
            + (f", dilation {text(d)}" if d != 1 else "") + f" gives {oh}x{ow}"
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
