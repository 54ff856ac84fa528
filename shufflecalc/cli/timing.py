"""The timing options `bench` and `compare --latency` share, and their warnings.

Importing this module imports neither torch nor rich: the library functions import torch when they run, and the
progress bar (`common.progress_bar`) imports rich only when it is drawn.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Any

import typer

from shufflecalc.cli.common import progress_bar

DeviceOpt = Annotated[str, typer.Option("--device", help="cpu | cuda | auto (cuda when available)")]
BatchOpt = Annotated[str, typer.Option("--batch", help="batch sizes, comma-separated, e.g. 1,8,32")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="float32 | float16 | bfloat16")]
ChannelsLastOpt = Annotated[
    bool, typer.Option("--channels-last", help="channels-last memory format (contiguous is timed too, as baseline)")
]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads (torch.set_num_threads)")]
CudaGraphOpt = Annotated[bool, typer.Option("--cuda-graph", help="time replays of a captured CUDA graph")]
CompileOpt = Annotated[bool, typer.Option("--compile", help="torch.compile the model (compiled before timing)")]
MinTimeOpt = Annotated[float, typer.Option("--min-time", help="seconds of timed samples per model and batch")]
AllocatorOpt = Annotated[str, typer.Option(
    "--allocator", help="CPU: steady (memory a call frees is kept for the next: no page faults while timing) | system "
    "(malloc as it is)")]
PeakOpt = Annotated[
    float | None, typer.Option("--peak-tflops", help="device peak in TFLOP/s for '% of peak' (overrides the table)")
]


TIMING_DEFAULTS = ("auto", "1", "float32", False, None, False, False, 1.0, None)  # the timing options' defaults


def timing_options(device: str, batch: str, dtype: str, channels_last: bool, threads: int | None,
                   cuda_graph: bool, compile_: bool, min_time: float, peak_tflops: float | None,
                   resolve: bool = True, allocator: str = "steady") -> Any:
    """The options as a validated BenchOptions (raises ShufflecalcError, or MissingDependency without torch). With
    `resolve` False, only each option's own check, without torch: for `compare` without --latency, whose timing
    options are checked all the same."""
    from shufflecalc.latency.bench import BenchOptions, parse_batches

    options = BenchOptions(device=device, batches=parse_batches(batch), dtype=dtype, channels_last=channels_last,
                           threads=threads, cuda_graph=cuda_graph, compile=compile_, min_time=min_time,
                           peak_tflops=peak_tflops, allocator=allocator)
    return options.validated() if resolve else options.checked()


def print_warnings(warnings: list[str]) -> None:
    for w in warnings:
        print(f"shufflecalc: warning: {w}", file=sys.stderr)


def timed(analyses: list[Any], options: Any, fmt: Enum) -> dict[str, Any]:
    """Run the benchmark with a progress bar (`common.progress_bar`: a terminal on stderr, a human format) and print
    its warnings; the JSON document."""
    from shufflecalc.latency.bench import bench

    with progress_bar(fmt, "timing") as progress:
        doc = bench(analyses, options, progress)
    print_warnings(doc["warnings"])
    return doc
