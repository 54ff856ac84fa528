"""The formula commands: formula, explain, shuffle. Only `shuffle --check` imports torch.

The library modules are imported inside each command: every shufflecalc command registers these, and importing the
formula tables (dataclasses, fractions, difflib) at start-up would slow `compare` and `show` by 10-20 ms.
"""

from __future__ import annotations

import sys
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
    TargetArgOpt,
    TargetInputOpt,
    WideOpt,
    WidthOpt,
    boundary,
    command,
    fatal,
    models,
    overrides,
    target_options,
)
from shufflecalc.report.render import to_json


def _sym(name: str, meaning: str) -> object:
    # strings, parsed by the library: a bad value is one line on stderr, not a usage screen
    return typer.Option(f"--{name}", help=meaning, metavar="INT")


KOpt = Annotated[str | None, _sym("K", "K: filter size")]
MOpt = Annotated[str | None, _sym("M", "M: input channels")]
NOpt = Annotated[str | None, _sym("N", "N: output channels (conv, dwsep, gconv, inverted residual) or bottleneck / "
                                         "branch channels (the units)")]
TOpt = Annotated[str | None, typer.Option("--t", help="t: expansion ratio of an inverted residual (6, 9/2 or 4.5)",
                                             metavar="RATIO")]
IwOpt = Annotated[str | None, _sym("Iw", "Iw: feature-map width")]
IhOpt = Annotated[str | None, _sym("Ih", "Ih: feature-map height")]
GSymOpt = Annotated[str | None, _sym("g", "g: groups")]


@command("formula")
@boundary
def formula_command(
    name: Annotated[str | None, typer.Argument(metavar="[NAME]",
        help="conv, dwsep, gconv, unit-a, unit-b, unit-c, resnet-unit, resnext-unit, inverted-residual[-s2], "
             "shufflenet-v2-unit[-s2]; none: list them")] = None,
    K: KOpt = None,
    M: MOpt = None,
    N: NOpt = None,
    t: TOpt = None,
    Iw: IwOpt = None,
    Ih: IhOpt = None,
    g: GSymOpt = None,
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForceOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """A closed-form cost formula with numbers: the formula, the substitution, the exact MACs and the saving."""
    from shufflecalc.formulas.catalog import evaluate
    from shufflecalc.report.formulas import formula_list, formula_report

    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        if name is None:
            data, table = formula_list()
            out.output(data, table)
            return
        ev = evaluate(name, {"K": K, "M": M, "N": N, "t": t, "Iw": Iw, "Ih": Ih, "g": g})
        data, table, csv = formula_report(ev)
        out.output(data, table, csv=csv)


@command("explain")
@boundary
def explain_command(
    spec: Annotated[str, typer.Argument(metavar="SPEC", help="built-in spec name or YAML spec path, optionally "
                                        "with its own parameters: shufflenet:g=8")],
    g: GOpt = None,
    width: WidthOpt = None,
    resolution: ResOpt = None,
    sets: SetOpt = None,
    args: TargetArgOpt = None,
    input_: TargetInputOpt = None,
    layer: Annotated[str | None, typer.Option("--layer", help="one unit (stage3.unit0) or a layer inside it")] = None,
    study: Annotated[bool, typer.Option(
        "--groups-study", help="for each choice of g: stage widths, one stride-1 unit's MACs, total MACs")] = False,
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForceOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """Each unit a formula covers (dwsep, bottleneck and ShuffleNet units, ResNet / ResNeXt bottlenecks, inverted
    residuals, ShuffleNetV2 units): the closed-form formula beside the engine's exact count."""
    from shufflecalc.formulas.explain import explain
    from shufflecalc.formulas.groups_study import groups_study
    from shufflecalc.report.formulas import explain_report, study_report

    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        (loaded,), (config,) = models([spec], overrides(g, width, resolution, sets), target_options(args, input_))
        if study:
            data, table, csv = study_report(groups_study(loaded, config, layer))
        else:
            data, table, csv = explain_report(explain(loaded, config, layer))
        out.output(data, table, csv=csv)


@command("shuffle")
@boundary
def shuffle_command(
    g: Annotated[str | None, typer.Option("--g", help="groups", metavar="INT")] = None,
    channels: Annotated[str | None, typer.Option(
        "--channels", help="channels N (divisible by g)", metavar="INT")] = None,
    check: Annotated[bool, typer.Option(
        "--check",
        help="run the model builder's shuffle on a tensor against torch.nn.ChannelShuffle (torch extra)")] = False,
    fmt: FormatOpt = None,
    output_file: OutputOpt = None,
    force: ForceOpt = False,
    columns: ColumnsOpt = None,
    wide: WideOpt = False,
) -> None:
    """ShuffleNet's channel shuffle step by step: reshape to (g, N/g), transpose, flatten."""
    from shufflecalc.bridge.shuffle import check_torch
    from shufflecalc.formulas.shuffle import make_shuffle
    from shufflecalc.report.formulas import check_text, shuffle_json, shuffle_table, shuffle_text

    with Out(fmt, output_file, force, columns=columns, wide=wide) as out:
        s = make_shuffle(g, channels)
        result = check_torch(s) if check else None
        if out.fmt is Format.json:
            out.emit(to_json(shuffle_json(s, result)))
        elif out.fmt is Format.table:
            out.emit(shuffle_text(s) + (check_text(result, s) if result else ""))
        else:
            out.output(shuffle_json(s, result), shuffle_table(s))
            if result is not None:  # csv stays machine-readable: the check's verdict goes to stderr
                (out.emit if out.fmt is Format.markdown else _err)(check_text(result, s))
        if result is not None and not result.ok:
            fatal("check failed: the builder's channel shuffle is not the permutation above", EXIT_FAILED)


def _err(text: str) -> None:
    sys.stderr.write(text)


__all__ = ["explain_command", "formula_command", "shuffle_command"]
