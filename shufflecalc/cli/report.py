"""The report command: one self-contained HTML page for one or several models. No torch import on this path (unless
--latency times the models)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from shufflecalc.cli.common import (
    ForceOpt,
    GOpt,
    Out,
    ResOpt,
    SetOpt,
    SpecsArg,
    TargetArgOpt,
    TargetInputOpt,
    WidthOpt,
    boundary,
    command,
    models,
    overrides,
    target_options,
)
from shufflecalc.cli.timing import (
    TIMING_DEFAULTS,
    BatchOpt,
    ChannelsLastOpt,
    CompileOpt,
    CudaGraphOpt,
    DeviceOpt,
    DtypeOpt,
    MinTimeOpt,
    PeakOpt,
    ThreadsOpt,
    timed,
    timing_options,
)
from shufflecalc.errors import ShufflecalcError


class PageFormat(str, Enum):
    html = "html"
    json = "json"


PAGE_EXTENSIONS: dict[str, PageFormat] = {".html": PageFormat.html, ".htm": PageFormat.html, ".json": PageFormat.json}

PageFormatOpt = Annotated[
    PageFormat | None,
    typer.Option("--format", "-f", help="html (the page) or json (the data it shows) [default: html; with --output, "
                 "the file's extension]", show_default=False),
]
PageOutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="write the page to FILE (.html; .json for its data) instead of stdout",
                 dir_okay=False),
]


@command("report")
@boundary
def report_command(
    specs: SpecsArg,
    g: GOpt = None,
    width: WidthOpt = None,
    resolution: ResOpt = None,
    sets: SetOpt = None,
    args: TargetArgOpt = None,
    input_: TargetInputOpt = None,
    fmt: PageFormatOpt = None,
    output_file: PageOutputOpt = None,
    force: ForceOpt = False,
    latency: Annotated[bool, typer.Option("--latency", help="also time the models and show the measured latency "
                                          "(options as for 'compare --latency'; needs the torch extra)")] = False,
    device: DeviceOpt = "auto",
    batch: BatchOpt = "1",
    dtype: DtypeOpt = "float32",
    channels_last: ChannelsLastOpt = False,
    threads: ThreadsOpt = None,
    cuda_graph: CudaGraphOpt = False,
    compile_: CompileOpt = False,
    min_time: MinTimeOpt = 1.0,
    peak_tflops: PeakOpt = None,
) -> None:
    """One self-contained HTML page of the models: summary with the counting conventions, a treemap of MACs (or
    params, memory access) by stage, block and layer, the network as a graph, the sortable layer table, each unit's
    closed form and, for several models, the comparison; with --latency, each model's measured latency and, for
    several, its ratio to the first, with the conditions of the measurement. Opens from disk; requests nothing from
    any server."""
    from shufflecalc.analysis.cost import analyze
    from shufflecalc.report.page import page_data, page_html
    from shufflecalc.report.render import to_json

    with Out(fmt, output_file, force, extensions=PAGE_EXTENSIONS, default=PageFormat.html) as out:
        if out.path is None and out.fmt is PageFormat.html and sys.stdout.isatty():
            raise ShufflecalcError("the report is an HTML page of about 2 MB: write it to a file with "
                                   "--output report.html (or redirect stdout)")
        loaded, configs = models(specs, overrides(g, width, resolution, sets), target_options(args, input_))
        analyses = [analyze(spec, config) for spec, config in zip(loaded, configs, strict=True)]
        # as compare: timing options without --latency are checked all the same (without torch) and change nothing
        timing = (device, batch, dtype, channels_last, threads, cuda_graph, compile_, min_time, peak_tflops)
        doc = None
        if latency or timing != TIMING_DEFAULTS:
            options = timing_options(*timing, resolve=latency)
        if latency:
            doc = timed(analyses, options, out.fmt)
        out.emit(page_html(analyses, doc) if out.fmt is PageFormat.html else to_json(page_data(analyses, doc)))


__all__ = ["report_command"]
