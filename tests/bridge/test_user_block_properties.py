"""Property-based proof for user-defined blocks: for random specs whose units are random `blocks:`, the analytic
counts equal fvcore's and torch's, exactly.

Hypothesis writes random block declarations and the specs that use them: convolutions whose width is the block's
`out` argument or a constant, branches concatenated through `inputs:`, residual adds whose projection has a `when`
and whose second input is an expression choosing between the projection and the block's `input`, block-local
`define`s, built-in blocks inside (dwsep, conv_bn_act), user blocks inside user blocks, layers removed by
`when: false`, an `output` before such layers, and stages of a block that declares `stride`. Every spec is valid by
construction; the generator tracks shapes with PyTorch's size rule and the final shape is asserted too.

Deterministic (derandomize=True, no example database), like tests/bridge/test_properties.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .test_properties import _flow, assert_verified

pytest.importorskip("torch")
pytest.importorskip("fvcore")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from shufflecalc.bridge.verify import verify  # noqa: E402

EXAMPLES = 30
MAX_DEPTH = 2  # user blocks inside user blocks inside user blocks


def size(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - (k - 1) - 1) // s + 1




@dataclass
class Library:
    """Block declarations written so far (YAML lines under `blocks:`)."""

    lines: list[str] = field(default_factory=list)
    count: int = 0

    def new(self) -> str:
        self.count += 1
        return f"blk{self.count}"


@dataclass
class Body:
    """A block's layers under construction: local names and shapes."""

    shape: tuple[int, int, int]
    current: str = "input"
    layers: list[str] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)
    count: int = 0
    uses_out: bool = False

    def name(self, stem: str = "l") -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def add(self, layer: str, shape: tuple[int, int, int], name: str) -> None:
        self.layers.append(f"      - {layer}")
        self.shape, self.current = shape, name


# --- a block's layers -----------------------------------------------------------------------------------------------


def conv(draw, body: Body, out_arg: int) -> None:
    _, h, w = body.shape
    k, s = draw(st.sampled_from((1, 3))), draw(st.sampled_from((1, 1, 2)))
    use_arg = draw(st.booleans())
    out = "out" if use_arg else draw(st.integers(1, 8))
    body.uses_out |= use_arg
    channels = out_arg if use_arg else out
    name = body.name("conv")
    body.add(_flow(op="conv2d", name=name, out=out, kernel=k, stride=s, bias=draw(st.booleans())),
             (channels, size(h, k, s, k // 2), size(w, k, s, k // 2)), name)
    if draw(st.booleans()):
        bn = body.name("bn")
        body.add(_flow(op="batchnorm", name=bn), body.shape, bn)
    if draw(st.booleans()):
        act = body.name("act")
        body.add(_flow(op=draw(st.sampled_from(("relu", "relu6"))), name=act), body.shape, act)


def concat(draw, body: Body, out_arg: int) -> None:
    _, h, w = body.shape
    source, names, channels = body.current, [], 0
    for _ in range(draw(st.integers(2, 3))):
        name, k, out = body.name("br"), draw(st.sampled_from((1, 3))), draw(st.integers(1, 5))
        body.add(_flow(op="conv2d", name=name, inputs=[source], out=out, kernel=k), (out, h, w), name)
        names.append(name)
        channels += out
    name = body.name("cat")
    body.add(_flow(op="concat", name=name, inputs=names), (channels, h, w), name)


def residual(draw, body: Body, out_arg: int) -> None:
    """branch conv (stride s, r channels) and a projection of the source kept by `when` where the shapes differ;
    the add's second input is an expression choosing the projection or the source."""
    c, h, w = body.shape
    source = body.current
    s = draw(st.sampled_from((1, 1, 2)))
    r = c if draw(st.booleans()) else draw(st.integers(1, 8))
    oh, ow = size(h, 3, s, 1), size(w, 3, s, 1)
    branch, proj, add = body.name("res"), body.name("proj"), body.name("add")
    flag = body.name("p")
    if source == "input":  # read the input's size through in_channels
        body.defines.append(f"      {flag}: \"{r} != in_channels or {s} != 1\"")
    else:
        body.defines.append(f"      {flag}: \"{r} != {c} or {s} != 1\"")
    body.add(_flow(op="conv2d", name=branch, out=r, kernel=3, stride=s), (r, oh, ow), branch)
    body.add(_flow(op="conv2d", name=proj, inputs=[source], out=r, kernel=1, stride=s, when=flag), (r, oh, ow), proj)
    second = f"\"'{proj}' if {flag} else '{source}'\""
    body.add(_flow(op="add", name=add, inputs=[branch, second]), (r, oh, ow), add)


def builtin(draw, body: Body, out_arg: int) -> None:
    _, h, w = body.shape
    kind, s = draw(st.sampled_from(("dwsep", "conv_bn_act"))), draw(st.sampled_from((1, 2)))
    out = draw(st.integers(1, 8))
    name = body.name("bi")
    body.add(_flow(op=kind, name=name, out=out, stride=s, act=draw(st.sampled_from(("relu", "relu6", "none")))),
             (out, size(h, 3, s, 1), size(w, 3, s, 1)), name)


def removed(draw, body: Body, out_arg: int) -> None:
    name = body.name("off")
    body.layers.append(f"      - {_flow(op='conv2d', name=name, out=3, kernel=1, when='false')}")


BODY_STEPS = (conv, concat, residual, builtin, removed)


def user_block(draw, lib: Library, shape: tuple[int, int, int], depth: int) -> tuple[str, int, tuple[int, int, int]]:
    """Declare a random block for inputs of `shape`: (its name, the `out` to use it with, its output shape)."""
    out_arg = draw(st.integers(1, 8))
    body = Body(shape)
    steps = draw(st.lists(st.sampled_from(BODY_STEPS + (("nested",) if depth < MAX_DEPTH else ())),
                          min_size=1, max_size=4))
    for step in steps:
        if step == "nested":
            inner, inner_out, out_shape = user_block(draw, lib, body.shape, depth + 1)
            name = body.name("sub")
            body.add(_flow(op=inner, name=name, out=inner_out), out_shape, name)
        else:
            step(draw, body, out_arg)
    if body.current == "input":  # only removed layers so far
        conv(draw, body, out_arg)
    output = None
    if draw(st.booleans()):  # name the output, then add layers that `when` removes
        output = body.current
        removed(draw, body, out_arg)
    name = lib.new()
    lines = [f"  {name}:", "    args:", "      out: {type: int, min: 1}"]
    if body.defines:
        lines += ["    define:", *body.defines]
    lines += ["    layers:", *body.layers]
    if output is not None:
        lines.append(f"    output: {output}")
    lib.lines += lines
    return name, out_arg, body.shape


def stage_block(draw, lib: Library) -> tuple[str, int]:
    """A unit for stages: conv (the stride) [bn, relu] conv [bn], a projection when the shape changes, add."""
    name = lib.new()
    k = draw(st.sampled_from((1, 3)))
    bn = draw(st.booleans())
    layers = [_flow(op="conv2d", name="conv1", out="out", kernel=k, stride="stride")]
    layers += [_flow(op="batchnorm", name="bn1"), _flow(op="relu", name="relu1")] if bn else []
    layers.append(_flow(op="conv2d", name="conv2", out="out", kernel=3))
    last = "conv2"
    if bn:
        layers.append(_flow(op="batchnorm", name="bn2"))
        last = "bn2"
    layers += [
        _flow(op="conv2d", name="down", inputs=["input"], out="out", kernel=1, stride="stride", when="project"),
        _flow(op="add", name="add", inputs=[last, "\"'down' if project else 'input'\""]),
        _flow(op="relu", name="relu"),
    ]
    lib.lines += [f"  {name}:", "    args:", "      out: {type: int, min: 1}",
                  "      stride: {type: int, default: 1}", "    define:",
                  "      project: \"stride != 1 or in_channels != out\"", "    layers:",
                  *[f"      - {x}" for x in layers]]
    return name, k


@st.composite
def random_specs(draw) -> tuple[str, tuple[int, ...]]:
    c = draw(st.sampled_from((1, 2, 3, 4, 6)))
    h = draw(st.integers(4, 12))
    w = h if draw(st.booleans()) else draw(st.integers(4, 12))
    shape = (c, h, w)
    lib, entries = Library(), []
    kinds = draw(st.lists(st.sampled_from(("block", "block", "stage", "conv")), min_size=1, max_size=3))
    for count, kind in enumerate(kinds, 1):
        if kind == "block":
            name, out, shape = user_block(draw, lib, shape, 0)
            entries.append(_flow(op=name, name=f"u{count}", out=out))
        elif kind == "stage":
            unit, k = stage_block(draw, lib)
            repeat, s, out = draw(st.integers(1, 2)), draw(st.sampled_from((1, 2))), draw(st.integers(1, 8))
            entries.append(f"{{stage: s{count}, repeat: {repeat}, stride: {s}, unit: {_flow(op=unit, out=out)}}}")
            shape = (out, size(shape[1], k, s, k // 2), size(shape[2], k, s, k // 2))
        else:
            out = draw(st.integers(1, 8))
            entries.append(_flow(op="conv2d", name=f"c{count}", out=out, kernel=1))
            shape = (out, shape[1], shape[2])
    if draw(st.booleans()):
        entries += [_flow(op="global_avgpool", name="pool"), _flow(op="flatten", name="flat"),
                    _flow(op="linear", name="fc", out=3)]
        shape = (3,)
    text = (("blocks:\n" + "\n".join(lib.lines) + "\n") if lib.lines else "") + (
        f"input: [{c}, {h}, {w}]\nlayers:\n" + "".join(f"  - {e}\n" for e in entries))
    return text, shape


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("user_block_specs")


_counter = itertools.count()


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=random_specs())
def test_user_blocks_analytic_equals_fvcore_equals_torch(spec_dir: Path, case: tuple[str, tuple[int, ...]]) -> None:
    text, expected_out = case
    path = spec_dir / f"random{next(_counter)}.yaml"  # a new file each time: specs are cached by path and mtime
    path.write_text(text)
    assert_verified(path, text, expected_out)


# --- directed cases -------------------------------------------------------------------------------------------------

TAIL_BLOCK = """\
blocks:
  b:
    args: {out: {type: int}}
    layers:
      - {op: conv2d, name: main, out: out, kernel: 3}
      - {op: conv2d, name: tail, out: 2, kernel: 1}
    output: main
input: [3, 8, 8]
layers:
"""


def test_squeezenet_verifies(spec_dir: Path) -> None:
    v = verify("squeezenet1_0", resolution=64, classes=10)
    assert v.mismatches == () and v.result == "PASS"


@pytest.mark.parametrize("uses", ["  - {op: b, name: u, out: 5}\n",
                                  "  - {op: b, name: u, out: 5}\n  - {op: conv2d, name: head, out: 4, kernel: 1}\n"])
def test_a_layer_after_a_blocks_output_is_refused(spec_dir: Path, uses: str) -> None:
    """A layer after the block's output feeds nothing: the engine would count it, a trace drops it (fvcore counted
    0 for u.tail), and the torch model returned it instead of the block's output. Such a spec is refused, at the
    layer's line in the declaration and at the use."""
    from shufflecalc.errors import ShufflecalcError

    path = spec_dir / "tail.yaml"
    path.write_text(TAIL_BLOCK + uses)
    with pytest.raises(ShufflecalcError) as exc:
        verify(str(path))
    assert str(exc.value) == (f"{path}:10 layers[0] (u) -> {path}:6 blocks.b.layers[1]: the output of 'tail' is read "
                              "by no later layer of the block and is not the block's output (name it in a later "
                              "layer's 'inputs', or remove it)")
