"""The check command: budgets for CI. No torch import unless --latency is given."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from shufflecalc.cli.common import EXIT_FAILED, EXIT_OK, Out, app, boundary
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


@app.command("check")
@boundary
def check_command(
    budgets: Annotated[str, typer.Argument(metavar="BUDGETS.yaml",
                                           help="budget YAML file (see the README's 'Budgets' section)")],
    latency: Annotated[bool, typer.Option("--latency", help="time the models for max_latency_ms limits (needs the "
                                          "torch extra); without it they are skipped")] = False,
    baseline: Annotated[str | None, typer.Option(
        "--baseline", metavar="REPORT.json",
        help="JSON report to compare with (compare -f json, check -f json or --write-baseline)")] = None,
    max_increase: Annotated[str | None, typer.Option(
        "--max-increase", metavar="PERCENT",
        help="growth over --baseline allowed per metric, such as 2% (default 0%)")] = None,
    write_baseline: Annotated[Path | None, typer.Option("--write-baseline", metavar="FILE", dir_okay=False,
                                                           help="record the current values in this JSON file")] = None,
    fmt: Annotated[CheckFormat | None, typer.Option(
        "--format", "-f", help="output format [default: table; with --output, the file's extension]",
        show_default=False)] = None,
    output_file: Annotated[Path | None, typer.Option(
        "--output", "-o", dir_okay=False, help="write to FILE instead of stdout; the format follows the extension "
        "(.txt .md .csv .json, .xml for junit; github needs --format)")] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing --output or --write-baseline "
                                        "file")] = False,
) -> None:
    """Check models against the budgets in a YAML file: exit 0 within budget, 1 a budget exceeded, 2 invalid input."""
    # imported here, not at the top: the other commands' start-up does not pay for them
    from shufflecalc.analysis.budget import check, load_baseline, load_budgets, parse_percent
    from shufflecalc.report import budget as report
    from shufflecalc.report.render import to_json

    with Out(fmt, output_file, force, EXTENSIONS, CheckFormat.table) as out:
        try:
            if max_increase is not None and baseline is None:
                raise ShufflecalcError("--max-increase needs --baseline")
            if write_baseline is not None:
                out.check_target(write_baseline, "--write-baseline")
            base = load_baseline(baseline) if baseline is not None else None
            increase = parse_percent(max_increase) if max_increase is not None else parse_percent("0")
            meter = None
            if latency:
                from shufflecalc.latency.budget import BenchLatency

                meter = BenchLatency()
            result = check(load_budgets(budgets), latency=meter, baseline=base, max_increase=increase)
        except ShufflecalcError as exc:
            if out.fmt is CheckFormat.github:
                out.emit(report.github_error(exc))
            raise
        render = {
            CheckFormat.table: report.text_report, CheckFormat.json: lambda r: to_json(report.check_json(r)),
            CheckFormat.csv: report.csv_report, CheckFormat.markdown: report.markdown_report,
            CheckFormat.junit: report.junit_report, CheckFormat.github: report.github_report,
        }
        out.emit(render[out.fmt](result))
        if out.fmt in MACHINE:
            print(report.summary(result), file=sys.stderr)
            if base is not None:
                print(report.baseline_summary(result), file=sys.stderr)
        if write_baseline is not None:
            out.write_file(write_baseline, to_json(report.baseline_json(result)),
                           note=f" (the baseline of {report.plural(len(result.models), 'model')})")
        raise typer.Exit(EXIT_FAILED if result.failed else EXIT_OK)
