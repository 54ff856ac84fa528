"""Token kinds: a vision transformer's sequence of tokens and the attention over it.

A token shape is ``(T, C)``: T tokens of C features each, batch excluded, as ``C x H x W`` is a feature map's (torch's
tensor is ``N x T x C``, ``batch_first``). A patch embedding is a `conv2d` with kernel = stride = patch size; the
kinds here turn its map into tokens (``to_tokens``), prepend the class token, add the position embedding, attend
(``multihead_attention``) and pick one token for the head (``select_token``). ``linear`` (structure.py) applies to
the last axis of any shape, tokens included; ``layernorm`` and ``gelu`` (pointwise.py) work on tokens as on any
shape.

``multihead_attention`` is exactly ``torch.nn.MultiheadAttention(dim, heads, batch_first=True)`` called as
self-attention (``q = k = v = x``, ``need_weights=False``), as torchvision's ViT ``EncoderBlock`` calls it. Its MACs
are the sum of four matmul terms (`attention_terms`, reported one by one as a layer's ``macs_terms``):

- in-projection: ``3 * T * C * C`` (q, k and v from x, one packed linear);
- ``Q.K^T``: ``T * T * C`` (per head ``T * T * C/heads``, times ``heads``);
- ``A.V``: ``T * T * C``;
- out-projection: ``T * C * C``.

The softmax, the scaling by ``1/sqrt(C/heads)`` and the bias adds are not multiply-accumulates and are not counted.
``FlopCounterMode`` sees the two attention matmuls only under the MATH kernel of ``scaled_dot_product_attention``
with the ``MultiheadAttention`` fast path off (``shufflecalc.bridge.verify`` counts that way). fvcore 0.1.5 counts
the two projections (``aten::linear``, ``4 * T * C * C``) and leaves ``aten::scaled_dot_product_attention`` out as
unsupported (0, with a warning): the kind's fvcore treatment is ``partial``, and its fvcore count is
``macs - 2 * T * T * C``.

``from_tokens`` is the inverse of ``to_tokens``: tokens back to a C x H x W map (a square one unless ``height`` is
given), the view torchvision's ConvNeXt makes when it permutes its channels-last block back.

fvcore's treatment of the others (measured, tests/spec/test_layers_tokens.py): ``to_tokens`` (``aten::flatten``,
``aten::transpose``), ``from_tokens`` (``aten::transpose``, ``aten::reshape``), ``class_token`` (``aten::expand``,
``aten::cat``) and ``select_token`` (``aten::slice``, ``aten::select``) are ignored by design;
``position_embedding``'s ``aten::add`` is unsupported. FlopCounterMode counts none of these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from math import isqrt
from typing import Any

from shufflecalc.spec.layers.base import (
    MAX_CHANNELS,
    MAX_SPATIAL,
    Arg,
    Attrs,
    Eval,
    LayerError,
    LayerKind,
    Shape,
    fmt,
    image,
    local_module,
)

MAX_TOKENS = MAX_SPATIAL * MAX_SPATIAL  # the tokens of the largest C x H x W map


def tokens(ins: tuple[Shape, ...], kind: str) -> tuple[int, int]:
    """(T, C) of a token input, or a LayerError naming what the kind needs."""
    shape = ins[0]
    if len(shape) != 2:
        hint = " (to_tokens turns a C x H x W map into tokens)" if len(shape) == 3 else ""
        raise LayerError(f"{kind} needs tokens (T x C), got {fmt(shape)}{hint}")
    return shape[0], shape[1]


# --- to_tokens, class_token, position_embedding, select_token -----------------------------------------------------


def _to_tokens(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    c, h, w = image(ins, "to_tokens")
    return Eval((h * w, c), op_class="tokens")


def _from_tokens(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    t, c = tokens(ins, "from_tokens")
    h = a["height"]
    if h is None:
        h = isqrt(t)
        if h * h != t:
            raise LayerError(f"{t} tokens are no square map: give the height (tokens = height x width)", "height")
    elif t % h:
        raise LayerError(f"{t} tokens are not divisible by height={h} (tokens = height x width)", "height")
    return Eval((c, h, t // h), op_class="tokens")


def _from_tokens_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    c, h, w = _from_tokens(a, ins).out
    return t.FromTokens(c, h, w)


def _class_token(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    t, c = tokens(ins, "class_token")
    return Eval((t + 1, c), c, op_class="tokens")


def _class_token_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.ClassToken(ins[0][1])


def _position_embedding(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    t, c = tokens(ins, "position_embedding")
    return Eval((t, c), t * c, op_class="tokens")


def _position_embedding_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.PositionEmbedding(*ins[0])


def _select_token(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    t, c = tokens(ins, "select_token")
    if a["index"] >= t:
        raise LayerError(f"index {a['index']} is out of range for {t} tokens (0 to {t - 1})", "index")
    return Eval((c,), op_class="tokens")


def _select_token_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.SelectToken(a["index"])


# --- multihead_attention ------------------------------------------------------------------------------------------


def _embedding(a: Attrs, ins: tuple[Shape, ...]) -> tuple[int, int]:
    """(T, C) of an attention layer's input, its arguments checked against it."""
    t, c = tokens(ins, "multihead_attention")
    dim, heads = a["dim"], a["heads"]
    if dim is not None and dim != c:
        raise LayerError(f"dim {dim} must equal the input's features C = {c} (self-attention: q = k = v = x)", "dim")
    if c % heads:
        raise LayerError(f"the embedding dim {c} is not divisible by heads={heads}", "heads")
    return t, c


def attention_terms(a: Attrs, ins: tuple[Shape, ...]) -> dict[str, int]:
    """The MACs of a `multihead_attention` layer, term by term (their sum is the layer's macs)."""
    t, c = _embedding(a, ins)
    return {"in_projection": 3 * t * c * c, "qk": t * t * c, "av": t * t * c, "out_projection": t * c * c}


def _multihead_attention(a: Attrs, ins: tuple[Shape, ...]) -> Eval:
    terms = attention_terms(a, ins)
    t, c = ins[0]
    params = 4 * c * c + (4 * c if a["bias"] else 0)  # in_proj_weight 3C x C (+ bias 3C), out_proj C x C (+ C)
    macs = sum(terms.values())
    return Eval((t, c), params, macs, -(terms["qk"] + terms["av"]), "attention")


def _multihead_attention_torch(a: Attrs, ins: tuple[Shape, ...], t: Any) -> Any:
    return t.SelfAttention(ins[0][1], a["heads"], dropout=a["dropout"], bias=a["bias"])


# The MACs of a layer term by term, for the kinds whose MACs are a sum of distinct matmuls: reported beside the
# layer's total (`shufflecalc show`, the JSON's ``macs_terms``).
MACS_TERMS: Mapping[str, Callable[[Attrs, tuple[Shape, ...]], dict[str, int]]] = {
    "multihead_attention": attention_terms,
}

KINDS: list[LayerKind] = [
    LayerKind(
        "to_tokens", {}, _to_tokens, local_module("ToTokens"), "ignored", ("aten::flatten", "aten::transpose"),
        view=True,
        doc="C x H x W -> (H*W) x C: x.flatten(2).transpose(1, 2), torchvision's x.reshape(n, c, h * w).permute(0, "
        "2, 1)",
    ),
    LayerKind(
        "from_tokens",
        {"height": Arg(int, None, minimum=1, maximum=MAX_SPATIAL,
                       help="rows of the map (tokens = height x width); default: a square map")},
        _from_tokens, _from_tokens_torch, "ignored", ("aten::transpose", "aten::reshape"),
        view=True,
        doc="(H*W) x C -> C x H x W, the inverse of to_tokens: x.transpose(1, 2).reshape(n, c, h, w), the very "
        "tensor of a channels-last map permuted back (ConvNeXt's Permute([0, 3, 1, 2]))",
    ),
    LayerKind(
        "class_token", {}, _class_token, _class_token_torch, "ignored", ("aten::expand", "aten::cat"),
        doc="prepends a learned C-vector: T x C -> (T+1) x C (torchvision's ViT class_token, shape 1 x 1 x C)",
    ),
    LayerKind(
        "position_embedding", {}, _position_embedding, _position_embedding_torch, "unsupported", ("aten::add",),
        doc="adds a learned T x C table (torchvision's ViT pos_embedding, shape 1 x T x C)",
    ),
    LayerKind(
        "select_token",
        {"index": Arg(int, 0, minimum=0, maximum=MAX_TOKENS - 1, help="which token, from 0 (the class token)")},
        _select_token, _select_token_torch, "ignored", ("aten::slice", "aten::select"),
        view=True,
        doc="one token as a flat vector: T x C -> C, x[:, index]",
    ),
    LayerKind(
        "multihead_attention",
        {
            "heads": Arg(int, required=True, minimum=1, maximum=MAX_CHANNELS, help="attention heads; divide C"),
            "dim": Arg(int, None, minimum=1, maximum=MAX_CHANNELS,
                       help="embedding dim: the input's C (the default; another value is an error)"),
            "bias": Arg(bool, True, help="biases of the in- and out-projections"),
            "dropout": Arg(float, 0.0, minimum=0, maximum=1.0,
                           help="dropout on the attention weights (training only)"),
        },
        _multihead_attention,
        _multihead_attention_torch,
        "partial",
        # counted: the projections' linear; unsupported: the attention itself, and the unflatten and the shape
        # arithmetic (mul, div) of torch's multi_head_attention_forward
        ("aten::linear", "aten::scaled_dot_product_attention", "aten::unflatten", "aten::mul", "aten::div"),
        counts_activations=True,
        doc="self-attention, torch.nn.MultiheadAttention(dim, heads, batch_first=True)(x, x, x, need_weights=False)",
    ),
]
