"""The two conventions shufflecalc's engine already counts, as peers: fvcore's ``FlopCountAnalysis`` (the kinds'
``fvcore_extra`` and ``fvcore`` treatment, `shufflecalc.spec.layers`) and torch's ``FlopCounterMode`` (2 FLOPs per
multiply-accumulate). Both are proven layer by layer by ``shufflecalc verify``."""

from __future__ import annotations

from shufflecalc.analysis.peers.base import Peer, Rule, Term
from shufflecalc.spec.graph import Layer
from shufflecalc.spec.layers import KINDS

_FVCORE_CLASS = {
    "batchnorm": "batchnorm",
    "layernorm": "norms",
    "groupnorm": "norms",
    "instancenorm": "norms",
    "global_avgpool": "pooling",
    "adaptive_avgpool": "pooling",
    "upsample": "upsample",
    "multihead_attention": "attention",
}
_FVCORE_REASON = {
    "batchnorm": "fvcore counts 2 per output element of an affine batchnorm (1 without affine)",
    "norms": "fvcore's norm_flop_counter: 5 per element with an affine weight, 4 without",
    "pooling": "fvcore counts 1 per input element of adaptive average pooling, whatever the output size",
    "upsample": "fvcore counts 1 per output element of nearest upsampling, 4 of bilinear",
    "attention": "fvcore counts attention's projections (aten::linear) but not scaled_dot_product_attention "
    "(unsupported): Q.K^T and A.V missing",
}


def _fvcore_terms(layer: Layer) -> tuple[Term, ...]:
    extra = layer.fvcore_flops - layer.macs
    if not extra:
        return ()
    op_class = _FVCORE_CLASS[layer.op]
    return (Term(op_class, extra, _FVCORE_REASON[op_class]),)


def _fvcore_note(kind: str) -> str:
    treatment = KINDS[kind].fvcore
    return {"counted": "counted", "ignored": "0: ignored by design", "unsupported": "0: unsupported (a warning)",
            "partial": "partly counted"}[treatment] + f" ({', '.join(KINDS[kind].aten) or 'no operator'})"


FVCORE = Peer(
    "fvcore",
    "fvcore 0.1.5 FlopCountAnalysis(model, x).total(), eval mode",
    "0.1.5.post20221221",
    {kind: Rule(_fvcore_note(kind), _fvcore_terms) for kind in KINDS},
    header="fvcore 0.1.5 flops",
    summary="the MACs, plus 2 per affine batchnorm element, 4 or 5 per norm element, 1 per adaptive-average-pool "
    "input element, 1 or 4 per upsampled element; attention's Q.K^T and A.V unsupported",
)


def _flop_counter_terms(layer: Layer) -> tuple[Term, ...]:
    return (Term("FLOPs = 2 x MACs", layer.macs, "FlopCounterMode counts 2 FLOPs per multiply-accumulate"),)


FLOP_COUNTER = Peer(
    "flop_counter",
    "torch.utils.flop_counter.FlopCounterMode total (FLOPs)",
    "",
    {kind: Rule("2 x MACs" if kind in ("conv2d", "conv_transpose2d", "linear", "multihead_attention") else "0",
                _flop_counter_terms) for kind in KINDS},
    header="torch FlopCounterMode FLOPs",
    summary="2 x MACs: convolutions, linear layers and (under the MATH attention kernel) attention's matmuls",
)
