"""The check command: budgets for CI. No torch import unless --latency is given."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from shufflecalc.cli.common import EXIT_FAILED, EXIT_OK, Out, WideOpt, boundary, command, use_targets
from shufflecalc.errors import ShufflecalcError


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    junit = "junit"
    github = "github"


EXTENSIONS: dict[str, CheckFormat] = {  # --output FILE: the format its extension means (github has none)
    ".txt": CheckFormat.table, ".json": CheckFormat.json, ".csv": CheckFormat.csv, ".md": CheckFormat.markdown,
    ".markdown": CheckFormat.markdown, ".xml": CheckFormat.junit,
}
MACHINE = (CheckFormat.json, CheckFormat.csv, CheckFormat.junit)  # their summary goes to stderr


@command("check")
@boundary
def check_command(
    budgets: Annotated[str, typer.Argument(metavar="BUDGETS.yaml",
                                           help="budget YAML file (see docs/ci.md)")],
    latency: Annotated[bool, typer.Option("--latency", help="time the models for max_latency_ms limits (needs the "
                                          "torch extra); without it they are skipped")] = False,
    threads: Annotated[int | None, typer.Option("--threads", help="with --latency: CPU threads "
                                                "(torch.set_num_threads), as for bench")] = None,
    min_time: Annotated[float | None, typer.Option(
        "--min-time", metavar="SECONDS",
        help="with --latency: seconds of timed samples per latency limit [default: 0.5]")] = None,
    batch: Annotated[int | None, typer.Option(
        "--batch", help="with --latency: the batch size of the latency limits that state none (a limit's own "
        "batch is kept)")] = None,
    baseline: Annotated[str | None, typer.Option(
        "--baseline", metavar="REPORT.json",
        help="JSON report to compare with (compare -f json, check -f json or --write-baseline)")] = None,
    max_increase: Annotated[str | None, typer.Option(
        "--max-increase", metavar="PERCENT",
        help="growth over --baseline allowed per metric, such as 2% (default 0%)")] = None,
    write_baseline: Annotated[Path | None, typer.Option("--write-baseline", metavar="FILE", dir_okay=False,
                                                           help="record the current values in this JSON file")] = None,
    only_failures: Annotated[bool, typer.Option(
        "--only-failures", help="leave the passing rows out of the tables (table, markdown, github, csv); the "
        "summary still counts them")] = False,
    fmt: Annotated[CheckFormat | None, typer.Option(
        "--format", "-f", help="output format [default: table; with --output, the file's extension]",
        show_default=False)] = None,
    output_file: Annotated[Path | None, typer.Option(
        "--output", "-o", dir_okay=False, help="write to FILE instead of stdout; the format follows the extension "
        "(.txt .md .csv .json, .xml for junit; github needs --format)")] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing --output or --write-baseline "
                                        "file")] = False,
    wide: WideOpt = False,
) -> None:
    """Check models against the budgets in a YAML file: exit 0 within budget, 1 a budget exceeded, 2 invalid input."""
    # imported here, not at the top: the other commands' start-up does not pay for them
    from shufflecalc.analysis.budget import check, load_baseline, load_budgets, parse_percent
    from shufflecalc.report import budget as report
    from shufflecalc.report.render import to_json

    with Out(fmt, output_file, force, EXTENSIONS, CheckFormat.table, wide=wide) as out:
        try:
            if max_increase is not None and baseline is None:
                raise ShufflecalcError("--max-increase needs --baseline")
            for option, value in (("--threads", threads), ("--min-time", min_time), ("--batch", batch)):
                if value is not None and not latency:
                    raise ShufflecalcError(f"{option} needs --latency")
            if batch is not None and batch < 1:
                raise ShufflecalcError(f"--batch {batch}: must be a positive whole number")
            if write_baseline is not None:
                out.check_target(write_baseline, "--write-baseline")
            base = load_baseline(baseline) if baseline is not None else None
            increase = parse_percent(max_increase) if max_increase is not None else parse_percent("0")
            meter = None
            if latency:
                from shufflecalc.latency.budget import LATENCY_MIN_TIME, BenchLatency

                meter = BenchLatency(threads, LATENCY_MIN_TIME if min_time is None else min_time)
            use_targets()  # a budget's model may be a TARGET (model: mypkg.nets:build_small)
            spec = load_budgets(budgets)
            if batch is not None and not any(limit.is_latency and not limit.batch_stated
                                             for e in spec.entries for limit in e.limits):
                print(f"shufflecalc: warning: --batch {batch} changes no limit: every max_latency_ms of {budgets} "
                      "states its batch", file=sys.stderr)
            result = check(spec, latency=meter, baseline=base, max_increase=increase, latency_batch=batch)
        except ShufflecalcError as exc:
            if out.fmt is CheckFormat.github:
                out.emit(report.github_error(exc))
            raise
        render = {
            CheckFormat.table: lambda r: report.text_report(r, only_failures, out.width),
            CheckFormat.json: lambda r: to_json(report.check_json(r)),
            CheckFormat.csv: lambda r: report.csv_report(r, only_failures),
            CheckFormat.markdown: lambda r: report.markdown_report(r, only_failures),
            CheckFormat.junit: report.junit_report,
            CheckFormat.github: lambda r: report.github_report(r, only_failures),
        }
        out.emit(render[out.fmt](result))
        for line in report.warning_lines(result):  # on stderr in every format, as bench prints them
            print(f"shufflecalc: {line}", file=sys.stderr)
        if out.fmt in MACHINE:
            print(report.summary(result), file=sys.stderr)
            if base is not None:
                print(report.baseline_summary(result), file=sys.stderr)
        if write_baseline is not None:
            out.write_file(write_baseline, to_json(report.baseline_json(result)),
                           note=f" (the baseline of {report.plural(len(result.models), 'model')})")
        raise typer.Exit(EXIT_FAILED if result.failed else EXIT_OK)
