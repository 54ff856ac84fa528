"""`shufflecalc import TARGET`: a PyTorch model as a spec, with its round-trip proof. Imports torch when it runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from shufflecalc.cli.common import (
    EXIT_FAILED,
    ForceOpt,
    Format,
    FormatOpt,
    Out,
    WideOpt,
    boundary,
    check_writable,
    command,
    render,
    write_file,
)

TargetArg = Annotated[str, typer.Argument(
    metavar="TARGET", help="torchvision:NAME, pkg.module:callable or path/to/file.py:callable (a function or class "
    "that returns an nn.Module), or path/to/model.onnx (read without torch)")]
InputOpt = Annotated[str | None, typer.Option("--input", help="the input C,H,W the model is traced on (batch 1; "
                                              "default 3,224,224, an ONNX graph's own)")]
ArgOpt = Annotated[list[str] | None, typer.Option(
    "--arg", help="NAME=VALUE keyword argument for the callable (repeatable; VALUE a Python literal, else text)")]


@command("import")
@boundary
def import_command(
    target: TargetArg,
    spec_file: Annotated[Path | None, typer.Option(
        "--output", "-o", dir_okay=False, help="write the spec to FILE (the proof goes to stdout); without it the "
        "spec goes to stdout and the proof to stderr")] = None,
    input_: InputOpt = None,
    args: ArgOpt = None,
    fmt: FormatOpt = None,
    force: ForceOpt = False,
    wide: WideOpt = False,
    flat: Annotated[bool, typer.Option("--flat", help="one line per layer: no blocks or stages for repeated "
                                       "modules")] = False,
) -> None:
    """Trace a PyTorch model with torch.fx and write it as a spec, layers named by module path; then prove the spec is
    the model (params, MACs, fvcore's counts, activations, its torch model loading the original state_dict by name and
    giving the same output). Exit 0 when the proof passes, 1 when any part fails, 2 on bad input."""
    if target.endswith(".onnx"):
        _import_onnx(target, spec_file, input_, fmt, force, wide)
        return
    from shufflecalc.importer.run import import_target, parse_input
    from shufflecalc.importer.target import parse_args

    shape = parse_input(input_ or "3,224,224")
    kwargs = parse_args(args)
    if spec_file is not None:
        check_writable(spec_file, force)
    with Out(fmt, None, force, wide=wide) as out:
        if out.fmt not in (Format.table, Format.json):
            from shufflecalc.errors import ShufflecalcError

            raise ShufflecalcError(f"--format {out.fmt.value}: the proof is printed as table or json")
        result = import_target(target, shape, kwargs, fold=not flat)

        from shufflecalc.report.imports import proof_json, proof_table

        imported = result.imported
        unused = sum(ly.unused for ly in imported.layers)
        extra = [f"{target}: {len(imported.layers) - unused} layers" + (f" and {unused} unused in eval" if unused
                 else "") + f", spec of {result.lines} lines, imported and proven in {result.seconds:.1f} s."]
        data = {**proof_json(result.proof), "layers": len(imported.layers) - unused, "unused_layers": unused,
                "spec_lines": result.lines}
        table = proof_table(result.proof, f"shufflecalc import {target}", extra)
        if spec_file is not None:
            write_file(spec_file, result.text, force)
            out.output(data, table)
        else:
            sys.stdout.write(result.text)
            sys.stdout.flush()
            sys.stderr.write(render(out.fmt, data, table))
        if not result.proof.ok:
            raise typer.Exit(EXIT_FAILED)


def _import_onnx(path: str, spec_file: Path | None, input_: str | None, fmt: Format | None, force: bool,
                 wide: bool) -> None:
    """`shufflecalc import model.onnx`: the ONNX reader (no torch), the spec and what the import read."""
    from shufflecalc.errors import ShufflecalcError
    from shufflecalc.importer.onnxread import import_onnx, parse_shape
    from shufflecalc.report.render import Column, Tabular

    shape = parse_shape(input_) if input_ is not None else None
    if spec_file is not None:
        check_writable(spec_file, force)
    with Out(fmt, None, force, wide=wide) as out:
        if out.fmt not in (Format.table, Format.json):
            raise ShufflecalcError(f"--format {out.fmt.value}: the import's report is printed as table or json")
        result = import_onnx(path, shape)
        graph = result.graph
        assert graph is not None
        data = {
            "file": path, "opset": result.opset, "input": list(result.input), "nodes": result.nodes,
            "constant_nodes_folded": result.folded, "layers": len(result.layers),
            "batchnorm_nodes": result.batchnorms, "batchnorm_folded": result.batchnorm_folded,
            "initializer_elements": result.initializer_elements,
            "params": sum(ly.params for ly in graph.layers), "macs": sum(ly.macs for ly in graph.layers),
            "spec_lines": result.lines, "notes": result.notes,
        }
        rows = [{"what": k.replace("_", " "),
                 "value": ("yes" if v else "no") if isinstance(v, bool) else f"{v:,}" if isinstance(v, int) else str(v)}
                for k, v in data.items() if k not in ("file", "notes", "input")]
        notes = [f"{path}: input {' x '.join(map(str, result.input))}, read in {result.seconds:.2f} s without torch.",
                 "params: the spec's (a BatchNormalization's running mean and variance are buffers, not params); "
                 "initializer elements: every initializer once (an exporter shares equal ones).", *result.notes]
        table = Tabular(f"shufflecalc import {path}", [Column("what", "what", justify="left", priority=0),
                                                       Column("value", "value")], rows, notes=notes)
        if spec_file is not None:
            write_file(spec_file, result.text, force)
            out.output(data, table)
        else:
            sys.stdout.write(result.text)
            sys.stdout.flush()
            sys.stderr.write(render(out.fmt, data, table))
