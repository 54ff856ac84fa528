"""`shufflecalc verify`: the analytic counts against torch and fvcore. Imports torch only when it runs."""

from __future__ import annotations

from typing import Annotated

import typer

from shufflecalc.cli.common import (
    EXIT_FAILED,
    ColumnsOpt,
    ForceOpt,
    Format,
    FormatOpt,
    GOpt,
    Out,
    OutputOpt,
    ResOpt,
    SetOpt,
    TargetInputOpt,
    WideOpt,
    WidthOpt,
    boundary,
    command,
    models,
    overrides,
    target_options,
)
from shufflecalc.errors import ShufflecalcError
from shufflecalc.spec.load import builtin_names

SpecsOpt = Annotated[
    list[str] | None,
    typer.Argument(metavar="[SPEC]...", help="built-in spec names or YAML spec paths, optionally with their own "
                   "parameters (with --all: the specs whose grids to run)"),
]


@command("verify")
@boundary
def verify_command(
    specs: SpecsOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="every configuration of the parameter grid (the product of each "
                                       "parameter's choices) of the given specs, or of every built-in spec")] = False,
    g: GOpt = None,
    width: WidthOpt = None,
    resolution: ResOpt = None,
    sets: SetOpt = None,
    layers: Annotated[bool, typer.Option("--layers", help="add a row per layer")] = False,
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForceOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
    against: Annotated[str | None, typer.Option(
        "--against", metavar="TARGET", help="compare one spec with the real network, layer by layer in forward order: "
        "torchvision:NAME, pkg.module:callable or path/to/file.py:callable")] = None,
    args: Annotated[list[str] | None, typer.Option(
        "--arg", metavar="NAME=VALUE", help="a keyword argument for the callable of the --against TARGET, or, "
        "without --against, of every TARGET among the SPECs (repeatable; VALUE a Python literal, else text)")] = None,
    input_: TargetInputOpt = None,
    conventions: Annotated[bool, typer.Option(
        "--conventions", help="run the other counters (ptflops, thop, torchinfo, torchprofile: the peers extra) on "
        "each model instead, against their reproductions ('shufflecalc conventions'), in total and per layer")] = False,
) -> None:
    """Build each model in torch and check params, shapes, fvcore's counts and torch's FlopCounterMode against the
    analytic numbers, exactly. With --against TARGET: the spec against the real network instead, layer by layer, to
    the first divergence. With --conventions: the other counters against their reproductions. Exit 0 when all agree,
    1 when any differs, 2 on bad input."""
    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        if conventions:
            if against is not None or all_ or layers:
                raise ShufflecalcError("--conventions runs on the SPECs given (no --all, --against or --layers)")
            if not specs:
                raise ShufflecalcError("give one or more specs for --conventions")
            _conventions(out, specs, overrides(g, width, resolution, sets), target_options(args, input_))
            return
        if against is not None:
            if input_ is not None:
                raise ShufflecalcError("--input: with --against, the TARGET is traced on the spec's input size")
            _against(out, specs or [], all_, layers, against, args, overrides(g, width, resolution, sets))
            return
        if not specs and not all_:
            raise ShufflecalcError("give one or more specs, or --all for every built-in spec's parameter grid")
        loaded, configs = models(specs or builtin_names(), overrides(g, width, resolution, sets),
                                 target_options(args, input_))

        from shufflecalc.bridge import (
            verify as v,  # imports torch and fvcore: MissingDependency (exit 2) without the torch extra
        )
        from shufflecalc.report.verify import layers_table, report_tables, summary_table, verify_json

        outcomes = []
        for spec, config in zip(loaded, configs, strict=False):
            outcomes += v.verify_grid(spec, config) if all_ else v.verify_configs(spec, [config], strict=True)
        if out.fmt is Format.json:
            out.output(verify_json(outcomes, layers), summary_table(outcomes))
        elif out.fmt is Format.csv:
            out.output(None, layers_table(outcomes, exact=True) if layers else summary_table(outcomes, exact=True))
        else:
            for i, table in enumerate(report_tables(outcomes, layers)):
                out.emit("\n" if i else "")
                out.output(None, table)
        if not all(o.ok for o in outcomes):
            raise typer.Exit(EXIT_FAILED)


def _conventions(out: Out, specs: list[str], values: dict, target: dict) -> None:
    """`verify SPEC... --conventions`: every installed counter on each model against its reproduction."""
    loaded, configs = models(specs, values, target)
    from shufflecalc.analysis.cost import analyze
    from shufflecalc.bridge.peers import verify_conventions  # imports torch: MissingDependency (exit 2) without it
    from shufflecalc.report.conventions import mismatch_table, reproduction_json, reproduction_table

    checks = [verify_conventions(analyze(spec, config).graph) for spec, config in zip(loaded, configs, strict=True)]
    if out.fmt is Format.json:
        out.output(reproduction_json(checks), reproduction_table(checks))
    else:
        exact = out.fmt is Format.csv
        out.output(None, reproduction_table(checks, exact))
        differing = mismatch_table(checks, exact)
        if differing is not None and not exact:
            out.emit("\n")
            out.output(None, differing)
    if not all(c.ok for c in checks):
        raise typer.Exit(EXIT_FAILED)


def _against(out: Out, specs: list[str], all_: bool, layers: bool, target: str, args: list[str] | None,
             values: dict) -> None:
    """`verify SPEC --against TARGET`: the spec's layers against the imported, proven TARGET's."""
    if len(specs) != 1 or all_ or layers:
        raise ShufflecalcError("--against compares one spec with the TARGET (no --all, no --layers)")
    from shufflecalc.importer.run import compare_target
    from shufflecalc.importer.target import parse_args
    from shufflecalc.report.imports import against_json, against_table, proof_table

    loaded, configs = models(specs, values)
    comparison = compare_target(loaded[0], configs[0], target, parse_args(args))
    if out.fmt is Format.json:
        out.output(against_json(comparison), against_table(comparison))
    else:
        out.output(None, against_table(comparison))
        if not comparison.proof.ok:
            out.emit("\n")
            out.output(None, proof_table(comparison.proof, f"round-trip proof of the import of {target}"))
    if not comparison.ok:
        raise typer.Exit(EXIT_FAILED)
