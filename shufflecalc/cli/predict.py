"""Latency from the spec: calibrate (microbenchmarks on this device, into a profile) and predict (torch-free)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shufflecalc.cli.analytic import load_models
from shufflecalc.cli.common import (
    ColumnsOpt,
    ForcePlotOpt,
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
    progress_bar,
    target_options,
)
from shufflecalc.cli.timing import AllocatorOpt, DtypeOpt, ThreadsOpt
from shufflecalc.errors import ShufflecalcError

ProfileOpt = Annotated[Path, typer.Option("--profile", help="a device profile made by `shufflecalc calibrate -o`")]


@command("calibrate")
@boundary
def calibrate_command(
    device: Annotated[str, typer.Option("--device", help="cpu (the device whose layers are timed)")] = "cpu",
    threads: ThreadsOpt = None,
    dtype: DtypeOpt = "float32",
    batch: Annotated[int, typer.Option("--batch", help="batch size the profile predicts", min=1, max=1024)] = 1,
    passes: Annotated[int, typer.Option("--passes", help="timed passes over the microbenchmarks (a case's time: "
                                        "the 10th percentile of them)", min=3, max=100)] = 9,
    repeat: Annotated[int, typer.Option("--repeat", help="calibrations in a row, pooled (the median of each case): "
                                        "steadier where the machine's speed drifts", min=1, max=20)] = 1,
    allocator: AllocatorOpt = "steady",
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForcePlotOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """Time every layer class on this device over a designed range of shapes and fit a latency profile; -o
    device.json writes the profile that `predict --profile` reads."""
    from shufflecalc.latency.bench import BenchOptions
    from shufflecalc.latency.calibrate import calibrate, pooled
    from shufflecalc.report.predict import calibrate_table

    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        options = BenchOptions(device=device, batches=(batch,), dtype=dtype, threads=threads,
                               allocator=allocator).checked()
        docs = []
        with progress_bar(out.fmt, "calibrating") as update:
            for r in range(repeat):
                def step(done: int, total: int, what: str, r: int = r) -> None:
                    if update:
                        update(r * total + done, repeat * total, what if repeat == 1 else f"{r + 1}/{repeat} {what}")

                docs.append(calibrate(options, passes, step))
        doc = docs[0] if repeat == 1 else pooled(docs)
        out.output(doc, calibrate_table(doc))


@command("predict")
@boundary
def predict_command(
    specs: SpecsArg,
    profile: ProfileOpt,
    g: GOpt = None,
    width: WidthOpt = None,
    resolution: ResOpt = None,
    sets: SetOpt = None,
    args: TargetArgOpt = None,
    input_: TargetInputOpt = None,
    by: Annotated[str | None, typer.Option("--by", help="rows per model | class | layer (default: class for one "
                                           "model, model for several)")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="draw the roofline (.png, .svg or .pdf)")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="check that the profile was calibrated at this "
                                              "batch size", min=1)] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="check that the profile was calibrated with this "
                                                "many threads", min=1)] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="check that the profile was calibrated with this "
                                              "dtype")] = None,
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForcePlotOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """Predict each layer's latency from the spec and a device profile, without torch: total, per class or per
    layer, each layer's bound (overhead, compute or memory), and a roofline chart."""
    from shufflecalc.analysis.cost import labels
    from shufflecalc.analysis.predict import load_profile, predict_layers
    from shufflecalc.report.predict import PREDICT_BY, predict_csv, predict_json, predict_table

    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        if by is not None and by not in PREDICT_BY:
            raise ShufflecalcError(f"--by {by!r}: expected one of {', '.join(PREDICT_BY)}")
        if plot is not None:
            plot = out.plot_target(plot)
        prof = load_profile(profile)
        prof.check(threads=threads, dtype=dtype, batch=batch)
        analyses = load_models(specs, g, width, resolution, sets, target_options(args, input_))
        names = labels(analyses)
        predictions = [predict_layers(a.layers, prof, name) for name, a in zip(names, analyses, strict=True)]
        doc = predict_json(names, analyses, predictions, prof)
        out.output(doc, predict_table(doc, by or ("class" if len(analyses) == 1 else "model")),
                   csv=predict_csv(doc))
        if plot is not None:
            from shufflecalc.report.plot import IMAGE_FORMATS
            from shufflecalc.report.roofline import render_roofline

            out.write_file(plot, render_roofline(doc, IMAGE_FORMATS[plot.suffix.lower()]))
