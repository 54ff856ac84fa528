"""The latency commands: bench (times models) and profile (time per operator class against MACs)."""

from __future__ import annotations

from typing import Annotated

import typer

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
    WideOpt,
    WidthOpt,
    boundary,
    command,
)
from shufflecalc.cli.timing import (
    AllocatorOpt,
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


@command("bench")
@boundary
def bench_command(
    specs: SpecsArg,
    g: GOpt = None,
    width: WidthOpt = None,
    resolution: ResOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = "auto",
    batch: BatchOpt = "1",
    dtype: DtypeOpt = "float32",
    channels_last: ChannelsLastOpt = False,
    threads: ThreadsOpt = None,
    cuda_graph: CudaGraphOpt = False,
    compile_: CompileOpt = False,
    min_time: MinTimeOpt = 1.0,
    peak_tflops: PeakOpt = None,
    allocator: AllocatorOpt = "steady",
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForceOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """Measure latency and throughput: median, p90, p99, min, mean, IQR/median, images/s, GFLOP/s (and % of peak)."""
    from shufflecalc.report.latency import bench_csv, bench_table

    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        analyses = load_models(specs, g, width, resolution, sets)
        options = timing_options(device, batch, dtype, channels_last, threads, cuda_graph, compile_, min_time,
                                 peak_tflops, allocator=allocator)
        doc = timed(analyses, options, out.fmt)
        out.output(doc, bench_table(doc), csv=bench_csv(doc))


@command("profile")
@boundary
def profile_command(
    spec: Annotated[str, typer.Argument(metavar="SPEC", help="built-in spec name or YAML spec path, optionally "
                                        "with its own parameters: shufflenet:g=8")],
    g: GOpt = None,
    width: WidthOpt = None,
    resolution: ResOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = "auto",
    batch: Annotated[str, typer.Option("--batch", help="one batch size, e.g. 8 (bench and compare take a comma "
                                       "list)")] = "1",
    dtype: DtypeOpt = "float32",
    channels_last: Annotated[bool, typer.Option("--channels-last", help="channels-last memory format")] = False,
    threads: ThreadsOpt = None,
    iterations: Annotated[int, typer.Option("--iterations", help="profiled forward passes")] = 10,
    by: Annotated[str, typer.Option("--by", help="rows per class | layer")] = "class",
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForceOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """Profile one model: time per operator class (or layer) beside its share of MACs and of memory access."""
    from shufflecalc.latency.bench import parse_batch
    from shufflecalc.latency.profile import profile_model
    from shufflecalc.report.latency import PROFILE_BY, profile_csv, profile_table

    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        if by not in PROFILE_BY:
            raise ShufflecalcError(f"--by {by!r}: expected one of {', '.join(PROFILE_BY)}")
        (a,) = load_models([spec], g, width, resolution, sets)
        options = timing_options(
            device, str(parse_batch(batch)), dtype, channels_last, threads, False, False, 1.0, None
        )
        doc = profile_model(a.name, a, options, iterations)
        out.output(doc, profile_table(doc, by), csv=profile_csv(doc, by))
