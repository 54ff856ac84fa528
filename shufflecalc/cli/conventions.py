"""The conventions command: every popular counter's number for a model, reproduced without torch, and why each
differs from the exact MACs."""

from __future__ import annotations

from shufflecalc.analysis.peers import compare
from shufflecalc.cli.analytic import load_models
from shufflecalc.cli.common import (
    ColumnsOpt,
    ForceOpt,
    FormatOpt,
    GOpt,
    Out,
    OutputOpt,
    ResOpt,
    SetOpt,
    SpecsArg,
    TargetArgOpt,
    TargetInputOpt,
    WideOpt,
    WidthOpt,
    boundary,
    command,
    target_options,
)
from shufflecalc.report.conventions import conventions_json, conventions_table


@command("conventions")
@boundary
def conventions_command(
    specs: SpecsArg,
    g: GOpt = None,
    width: WidthOpt = None,
    resolution: ResOpt = None,
    sets: SetOpt = None,
    args: TargetArgOpt = None,
    input_: TargetInputOpt = None,
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForceOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """Why the tools disagree: fvcore, ptflops (both backends), thop, torchinfo, torchprofile and FlopCounterMode
    on each model, their difference to the exact MACs split by operator class, with the reason (no torch)."""
    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        analyses = load_models(specs, g, width, resolution, sets, target_options(args, input_))
        comparisons = [compare(a.graph) for a in analyses]
        out.output(conventions_json(analyses, comparisons), conventions_table(analyses, comparisons))
