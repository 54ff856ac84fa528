"""The table commands: sweep (a cartesian product of parameter values) and table (a paper's table, reproduced).

The library modules are imported inside the commands, so that other commands do not pay for them at start-up.
"""

from __future__ import annotations

from typing import Annotated

import typer

from shufflecalc.cli.common import (
    ColumnsOpt,
    ConventionOpt,
    ForcePlotOpt,
    FormatOpt,
    Out,
    OutputOpt,
    PlotKindOpt,
    PlotOpt,
    SpecsArg,
    TargetArgOpt,
    TargetInputOpt,
    WideOpt,
    boundary,
    command,
    load_refs,
    parse_conventions,
    parse_sets,
    per_model,
    progress,
    target_options,
)
from shufflecalc.errors import ShufflecalcError

_LIST = "comma list (START:STOP:STEP for an inclusive range)"
GListOpt = Annotated[str | None, typer.Option("--g", help=f"groups g: {_LIST}, e.g. 1,2,3,4,8")]
WidthListOpt = Annotated[str | None, typer.Option("--width", help=f"width multipliers: {_LIST}")]
ResListOpt = Annotated[str | None, typer.Option("--resolution", help=f"input resolutions: {_LIST}")]


def sweep_axes(
    g: str | None, width: str | None, resolution: str | None, sets: list[str] | None
) -> dict[str, list[str]]:
    """Parameter -> values, in option order: --g, --width, --resolution, then each --set NAME=V1,V2."""
    from shufflecalc.analysis.sweep import parse_values

    axes: dict[str, list[str]] = {}
    for name, text in (("g", g), ("width", width), ("resolution", resolution)):
        if text is not None:
            axes[name] = parse_values(text, f"--{name}")
    for name, text in parse_sets(sets).items():
        if name in axes:
            raise ShufflecalcError(f"--set {name}=...: '{name}' is already given by --{name}")
        axes[name] = parse_values(text, f"--set {name}")
    return axes


@command("sweep")
@boundary
def sweep_command(
    specs: SpecsArg,
    g: GListOpt = None,
    width: WidthListOpt = None,
    resolution: ResListOpt = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help="NAME=V1,V2,... for any declared parameter "
                                                      "(repeatable)")] = None,
    args: TargetArgOpt = None,
    input_: TargetInputOpt = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="drop invalid configurations")] = False,
    sort: Annotated[str | None, typer.Option("--sort", help="sort by a column (macs, params, g, ...); "
                                                "-macs for descending")] = None,
    columns: Annotated[str | None, typer.Option("--columns", help="comma list of columns to show (model, the "
                                                   "swept parameters, macs, flops, fvcore_flops, params, "
                                                   "activations, memory_access, macs_without_classifier, "
                                                   "params_without_classifier, each --convention, error)")] = None,
    convention: ConventionOpt = None,
    plot: PlotOpt = None,
    plot_kind: PlotKindOpt = "auto",
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForcePlotOpt = False,
    wide: WideOpt = False,
) -> None:
    """Cost of every combination of parameter values: one row per configuration; invalid ones show the reason."""
    from shufflecalc.analysis.sweep import check_sort, collect, parse_columns, plan, run, sort_rows
    from shufflecalc.report.plot import from_sweep
    from shufflecalc.report.sweep import sweep_json, sweep_table
    with Out(fmt, output_file, force, wide=wide) as out:
        loaded, own = load_refs(specs, target_options(args, input_))
        axes = sweep_axes(g, width, resolution, sets)
        per_spec = per_model(loaded, axes, [{k: [v] for k, v in mine.items()} for mine in own])
        names = parse_conventions(convention)
        chosen = parse_columns(columns, list(axes), names)
        check_sort(sort, list(axes), names)
        plot_path = out.plot_target(plot, plot_kind)
        points = plan(loaded, per_spec, names)
        rows = run(points)
        sweep = collect(list(axes), progress(rows, len(points), out.fmt, "sweep"), skip_invalid, names)
        if not sweep.rows:
            raise ShufflecalcError(f"all {sweep.total} configurations are invalid, e.g. {sweep.first_error}")
        sort_rows(sweep, sort)
        out.output(sweep_json(sweep, axes), sweep_table(sweep, chosen or sweep.default_columns()))
        out.save_plot(plot_path, from_sweep(sweep), plot_kind)


@command("table")
@boundary
def table_command(
    name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="a built-in table (see --list) or a table YAML "
                                                "file")] = None,
    list_: Annotated[bool, typer.Option("--list", help="list the built-in tables")] = False,
    plot: PlotOpt = None,
    plot_kind: PlotKindOpt = "auto",
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForcePlotOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """A paper's table reproduced: published value, computed value and difference per cell."""
    from dataclasses import replace

    from shufflecalc.analysis.tables import compute, list_tables, load_table
    from shufflecalc.report.tables import list_json, list_tabular, table_json, table_plot, table_tabular

    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        if list_:
            if name is not None:
                raise ShufflecalcError("--list takes no table name")
            tables = list_tables()
            out.output(list_json(tables), list_tabular(tables))
            return
        if name is None:
            raise ShufflecalcError("give a table name or file (see 'shufflecalc table --list')")
        table = load_table(name)
        plot_path = out.plot_target(plot, plot_kind)
        results = compute(table)
        out.output(table_json(table, results), table_tabular(table, results))
        out.save_plot(plot_path, replace(table_plot(table, results), subtitle=f"shufflecalc table {table.name}"),
                      plot_kind)
