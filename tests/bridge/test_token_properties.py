"""Property-based proof for token networks: for random small vision transformers, the analytic counts equal fvcore's
and torch's (FlopCounterMode, with attention counted: `verify.attention_counted`), exactly, layer by layer.

Hypothesis writes random specs as YAML text: a patch embedding (conv2d, kernel = stride = patch), to_tokens, an
optional class token and position embedding, then up to three blocks (self-attention with a random number of heads
dividing C, an MLP of two linear layers, or a linear layer changing C; layernorm and gelu among them, residual adds
through `inputs:`), and a head (select_token then linear, or linear on every token then select_token). The generator
tracks the shapes and the MACs with the rules written out here (conv: out x in x k² x positions; linear: in x out per
token; attention: 3TC² + T²C + T²C + TC²); both are asserted besides verify's comparisons.

Deterministic (derandomize=True, no example database): CI runs the same examples every time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("fvcore")
pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_properties import assert_verified, divisors

EXAMPLES = 50


@dataclass
class Net:
    """A spec under construction: YAML lines, the current entry's name and shape, the MACs so far."""

    shape: tuple[int, ...]
    lines: list[str] = field(default_factory=list)
    current: str = "input"
    count: int = 0
    macs: int = 0

    def name(self) -> str:
        self.count += 1
        return f"e{self.count}"

    def add(self, entry: str, shape: tuple[int, ...], macs: int = 0) -> str:
        name = self.name()
        self.lines.append(f"  - {{name: {name}, {entry}}}")
        self.shape, self.current = shape, name
        self.macs += macs
        return name

    def yaml(self, input_shape: tuple[int, int, int]) -> str:
        return f"name: tokens\ninput: [{', '.join(map(str, input_shape))}]\nlayers:\n" + "\n".join(self.lines) + "\n"


def linear(net: Net, out: int, bias: bool = True) -> None:
    *rest, n_in = net.shape
    rows = 1
    for r in rest:
        rows *= r
    net.add(f"op: linear, out: {out}, bias: {str(bias).lower()}", (*rest, out), rows * n_in * out)


def attention(draw: st.DrawFn, net: Net) -> None:
    t, c = net.shape
    start = net.current
    if draw(st.booleans()):
        net.add("op: layernorm, eps: 1.0e-6", (t, c))
    heads = draw(st.sampled_from(divisors(c)))
    dim = f", dim: {c}" if draw(st.booleans()) else ""
    bias = draw(st.booleans())
    net.add(f"op: multihead_attention, heads: {heads}{dim}, bias: {str(bias).lower()}", (t, c),
            3 * t * c * c + t * t * c + t * t * c + t * c * c)
    if draw(st.booleans()):
        net.add(f"op: add, inputs: [{net.current}, {start}]", (t, c))


def mlp(draw: st.DrawFn, net: Net) -> None:
    t, c = net.shape
    start = net.current
    linear(net, draw(st.integers(1, 12)), draw(st.booleans()))
    if draw(st.booleans()):
        net.add("op: gelu", net.shape)
    linear(net, c)
    if draw(st.booleans()):
        net.add("op: dropout, p: 0.1", net.shape)
    net.add(f"op: add, inputs: [{net.current}, {start}]", (t, c))


@st.composite
def token_specs(draw: st.DrawFn) -> tuple[str, tuple[int, ...], int]:
    c_in, patch = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    h, w = draw(st.integers(patch, 3 * patch + 2)), draw(st.integers(patch, 3 * patch + 2))
    c = draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12]))
    net = Net((c_in, h, w))
    oh, ow = h // patch, w // patch  # kernel = stride = patch, padding 0
    bias = str(draw(st.booleans())).lower()
    net.add(f"op: conv2d, out: {c}, kernel: {patch}, stride: {patch}, padding: 0, bias: {bias}", (c, oh, ow),
            c * c_in * patch * patch * oh * ow)
    net.add("op: to_tokens", (oh * ow, c))
    if draw(st.booleans()):
        net.add("op: class_token", (oh * ow + 1, c))
    if draw(st.booleans()):
        net.add("op: position_embedding", net.shape)
    for _ in range(draw(st.integers(0, 3))):
        block = draw(st.sampled_from(["attention", "attention", "mlp", "linear"]))
        if block == "attention":
            attention(draw, net)
        elif block == "mlp":
            mlp(draw, net)
        else:
            linear(net, draw(st.sampled_from([2, 4, 6, 8])))
    if draw(st.booleans()):
        net.add("op: layernorm", net.shape)
    index = draw(st.integers(0, net.shape[0] - 1))
    if draw(st.booleans()):
        net.add(f"op: select_token, index: {index}", (net.shape[1],))
        linear(net, draw(st.integers(1, 10)))
    else:
        linear(net, draw(st.integers(1, 10)))
        net.add(f"op: select_token, index: {index}", (net.shape[1],))
    return net.yaml((c_in, h, w)), net.shape, net.macs


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("token_specs")


_counter = itertools.count()


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=token_specs())
def test_token_networks_analytic_equals_fvcore_equals_torch(spec_dir: Path,
                                                             case: tuple[str, tuple[int, ...], int]) -> None:
    text, expected_out, expected_macs = case
    path = spec_dir / f"tokens{next(_counter)}.yaml"  # a new file each time: specs are cached by path and mtime
    path.write_text(text)
    v = assert_verified(path, text, expected_out)
    assert v.macs == expected_macs, text
