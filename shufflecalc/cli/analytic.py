"""The analytic commands: list, show, compare. No torch import on this path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from shufflecalc.analysis.cost import analyze
from shufflecalc.cli.common import (
    ColumnsOpt,
    ConventionOpt,
    ForceOpt,
    ForcePlotOpt,
    FormatOpt,
    GOpt,
    Out,
    OutputOpt,
    PlotKindOpt,
    PlotOpt,
    ResOpt,
    SetOpt,
    SpecsArg,
    TargetArgOpt,
    TargetInputOpt,
    WideOpt,
    WidthOpt,
    boundary,
    command,
    models,
    overrides,
    parse_conventions,
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
from shufflecalc.report.cost import (
    SHOW_BY,
    compare_by_metric,
    compare_by_model,
    compare_json,
    labels,
    list_json,
    list_table,
    show_json,
    show_table,
)
from shufflecalc.spec.load import builtin_names, load_spec


def load_models(specs: list[str], g, width, resolution, sets, target=None):
    """Load each spec and analyze it with the options that apply to it (`target`: the TARGETs' --arg and --input)."""
    loaded, configs = models(specs, overrides(g, width, resolution, sets), target)
    return [analyze(spec, config) for spec, config in zip(loaded, configs, strict=True)]


@command("list")
@boundary
def list_command(
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForceOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """List the built-in specs with their parameters, defaults and allowed values."""
    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        specs = [load_spec(n) for n in builtin_names()]
        out.output(list_json(specs), list_table(specs))


@command("show")
@boundary
def show_command(
    spec: Annotated[str, typer.Argument(metavar="SPEC", help="built-in spec name or YAML spec path, optionally "
                                        "with its own parameters: shufflenet:g=8")],
    g: GOpt = None,
    width: WidthOpt = None,
    resolution: ResOpt = None,
    sets: SetOpt = None,
    args: TargetArgOpt = None,
    input_: TargetInputOpt = None,
    by: Annotated[str, typer.Option("--by", help=f"rows per {' | '.join(SHOW_BY)}")] = "layer",
    convention: ConventionOpt = None,
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForceOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """Per-layer cost table of one model: output shape, MACs, share, params, activations, memory access (with
    --convention, a column per other counter's convention)."""
    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        if by not in SHOW_BY:
            raise ShufflecalcError(f"--by {by!r}: expected one of {', '.join(SHOW_BY)}")
        names = parse_conventions(convention)
        (a,) = load_models([spec], g, width, resolution, sets, target_options(args, input_))
        out.output(show_json(a, names), show_table(a, by, names))


def _predictions(analyses: list[Any], profile: Path | None) -> tuple[list[Any], Any] | None:
    """compare --predicted: each model's prediction from the profile (torch-free), and the profile."""
    if profile is None:
        return None
    from shufflecalc.analysis.predict import load_profile, predict_layers

    prof = load_profile(profile)
    return [predict_layers(a.layers, prof, name) for name, a in zip(labels(analyses), analyses, strict=True)], prof


@command("compare")
@boundary
def compare_command(
    specs: SpecsArg,
    g: GOpt = None,
    width: WidthOpt = None,
    resolution: ResOpt = None,
    sets: SetOpt = None,
    args: TargetArgOpt = None,
    input_: TargetInputOpt = None,
    convention: ConventionOpt = None,
    plot: PlotOpt = None,
    plot_kind: PlotKindOpt = "auto",
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForcePlotOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
    latency: Annotated[bool, typer.Option("--latency", help="also time the models (options as for 'bench')")] = False,
    predicted: Annotated[Path | None, typer.Option("--predicted", metavar="PROFILE", help="also predict each "
                                                   "model's latency from a device profile (shufflecalc calibrate), "
                                                   "without torch")] = None,
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
    """Compare models side by side: MACs, FLOPs, fvcore count, params, activations, memory access, ratios to the first;
    with --latency, median latency and throughput too; with --convention, other counters' conventions too."""
    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        names = parse_conventions(convention)
        analyses = load_models(specs, g, width, resolution, sets, target_options(args, input_))
        plot_path = out.plot_target(plot, plot_kind)  # checks --plot-kind even without --plot
        # timing options given without --latency are checked all the same (without torch); left at their defaults,
        # they cost the analytic path nothing
        timing = (device, batch, dtype, channels_last, threads, cuda_graph, compile_, min_time, peak_tflops)
        if latency or timing != TIMING_DEFAULTS:
            options = timing_options(*timing, resolve=latency)
        latency_ms, doc = None, None
        predictions = _predictions(analyses, predicted)
        if latency:
            from shufflecalc.report.latency import compare_latency, first_batch_medians

            doc = timed(analyses, options, out.fmt)
            data, table, csv = compare_latency(analyses, labels(analyses), doc, names)
            latency_ms = first_batch_medians(doc, len(analyses))
        else:
            data, table, csv = (compare_json(analyses, names), compare_by_metric(analyses, names),
                                compare_by_model(analyses, names))
        if predictions is not None:
            from shufflecalc.report.predict import add_predicted

            add_predicted(data, table, csv, *predictions)
        out.output(data, table, csv=csv)
        if plot_path is not None:
            from shufflecalc.report.plot import from_analyses

            out.save_plot(plot_path, from_analyses(labels(analyses), analyses, latency_ms=latency_ms, bench=doc),
                          plot_kind)
