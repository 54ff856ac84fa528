"""User-defined block declarations (`spec/blockdefs.py`): names, keys, cycles, includes, blocks defined twice.

Every mistake is one stderr line and exit code 2, naming the file, line and YAML path of the declaration (and, for a
block defined twice, both declarations).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shufflecalc.spec.graph import expand

from ..conftest import rejected

fails = rejected  # show on a bad spec: the one stderr line, prefix removed


def spec(blocks: str, layers: str = "  - {op: relu, name: r}\n", head: str = "") -> str:
    """A spec text: `blocks` (indented by 2, under `blocks:`), then an input and `layers` (indented by 2)."""
    return f"{head}blocks:\n{blocks}input: [4, 8, 8]\nlayers:\n{layers}"


# --- cycles ---------------------------------------------------------------------------------------------------------


def test_a_block_that_uses_itself(cli, write_spec) -> None:
    path = write_spec(spec(
        "  a:\n"
        "    layers:\n"
        "      - {op: relu, name: r}\n"
        "      - {op: a, name: again}\n",
        "  - {op: a, name: u}\n",
    ))
    assert fails(cli, path) == (
        f"{path}:5 blocks.a.layers[1].op: block cycle: a -> a (a block cannot use itself, directly or through others)"
    )


def test_a_cycle_through_another_block_names_the_chain(cli, write_spec) -> None:
    path = write_spec(spec(
        "  a:\n"
        "    layers:\n"
        "      - {op: b, name: x}\n"
        "  b:\n"
        "    layers:\n"
        "      - {op: relu, name: r}\n"
        "      - {op: a, name: y}\n",
        "  - {op: a, name: u}\n",
    ))
    assert fails(cli, path) == (
        f"{path}:8 blocks.b.layers[1].op: block cycle: a -> b -> a (a block cannot use itself, directly or through "
        "others)"
    )


def test_a_three_block_cycle_names_the_whole_chain(cli, write_spec) -> None:
    path = write_spec(spec(
        "  a:\n    layers:\n      - {op: b, name: x}\n"
        "  b:\n    layers:\n      - {op: c, name: x}\n"
        "  c:\n    layers:\n      - {op: a, name: x}\n",
    ))
    message = fails(cli, path)
    assert message.startswith(f"{path}:10 blocks.c.layers[0].op: block cycle: a -> b -> c -> a"), message


def test_a_cycle_is_an_error_even_when_no_layer_uses_the_blocks(cli, write_spec) -> None:
    path = write_spec(spec("  a:\n    layers:\n      - {op: a, name: x}\n"))
    assert "block cycle: a -> a" in fails(cli, path)


def test_a_block_used_twice_without_a_cycle_is_fine(cli, write_spec) -> None:
    path = write_spec(spec(
        "  leaf:\n    layers:\n      - {op: relu, name: r}\n"
        "  mid:\n    layers:\n      - {op: leaf, name: x}\n      - {op: leaf, name: y}\n"
        "  top:\n    layers:\n      - {op: mid, name: p}\n      - {op: leaf, name: q}\n",
        "  - {op: top, name: t}\n",
    ))
    result = cli("show", path, "-f", "json")
    assert result.exit_code == 0, result.stderr
    names = [layer["name"] for layer in result.json()["models"][0]["layers"]]
    assert names == ["t.p.x.r", "t.p.y.r", "t.q.r"]


# --- a block's own declaration --------------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", ["    layers: []\n", "    args: {c: {type: int, default: 1}}\n", "    layers:\n"])
def test_a_block_with_no_layers(cli, write_spec, layers: str) -> None:
    path = write_spec(spec("  empty:\n" + layers, "  - {op: empty, name: u}\n"))
    assert fails(cli, path) == f"{path}:2 blocks.empty: block 'empty' has no layers: 'layers' must be a non-empty list"


def test_output_naming_no_layer(cli, write_spec) -> None:
    path = write_spec(spec(
        "  b:\n"
        "    layers:\n"
        "      - {op: relu, name: r}\n"
        "    output: nope\n",
        "  - {op: b, name: u}\n",
    ))
    assert fails(cli, path) == f"{path}:5 blocks.b.output: output must name a layer of the block, got 'nope'"


def test_output_naming_the_block_input_is_refused(cli, write_spec) -> None:
    path = write_spec(spec("  b:\n    layers:\n      - {op: relu, name: r}\n    output: input\n"))
    assert "blocks.b.output: output must name a layer of the block" in fails(cli, path)


@pytest.mark.parametrize(("name", "what"), [("conv2d", "a layer kind"), ("relu", "a layer kind"),
                                            ("concat", "a layer kind"), ("dwsep", "a built-in block"),
                                            ("bottleneck", "a built-in block"), ("conv_bn_act", "a built-in block")])
def test_a_block_named_like_a_layer_kind_or_built_in_block(cli, write_spec, name: str, what: str) -> None:
    path = write_spec(spec(f"  {name}:\n    layers:\n      - {{op: relu, name: r}}\n"))
    assert fails(cli, path) == (
        f"{path}:2 blocks.{name}: block '{name}' is defined twice: here and as {what} of shufflecalc"
    )


def test_a_reserved_block_name(cli, write_spec) -> None:
    path = write_spec(spec("  __x:\n    layers:\n      - {op: relu, name: r}\n"))
    assert fails(cli, path) == (
        f"{path}:2 blocks.__x: invalid block name '__x' (letters, digits and _, not starting with __)"
    )


@pytest.mark.parametrize(("decl", "where", "message"), [
    ("    args: {__x: {type: int, default: 1}}\n", "blocks.b.args.__x", "invalid argument name '__x'"),
    ("    define: {__x: 1}\n", "blocks.b.define.__x", "invalid name '__x'"),
    ("    args: {name: {type: int, default: 1}}\n", "blocks.b.args.name", "'name' cannot name an argument"),
    ("    args: {in_channels: {type: int, default: 1}}\n", "blocks.b.args.in_channels",
     "'in_channels' cannot name an argument"),
    ("    args: {max: {type: int, default: 1}}\n", "blocks.b.args.max", "'max' cannot name an argument"),
    ("    args: {k: {type: int, default: 1}}\n    define: {k: 2}\n", "blocks.b.define.k", "'k' is already defined"),
    ("    define: {in_width: 2}\n", "blocks.b.define.in_width", "'in_width' is already defined"),
    ("    args: {k: {type: complex}}\n", "blocks.b.args.k.type", "type must be one of int, float, bool, str"),
    ("    args: {k: {type: int, default: 1.5}}\n", "blocks.b.args.k.default", ""),
    ("    args: {k: {type: int, deflt: 1}}\n", "blocks.b.args.k.deflt", "unknown key 'deflt'"),
    ("    stride: 2\n", "blocks.b.stride", "unknown key 'stride'"),
])
def test_reserved_and_invalid_names_in_a_declaration(cli, write_spec, decl: str, where: str, message: str) -> None:
    path = write_spec(spec("  b:\n" + decl + "    layers:\n      - {op: relu, name: r}\n"))
    got = fails(cli, path)
    assert got.startswith(f"{path}:") and f" {where}: " in got and message in got, got


@pytest.mark.parametrize(("name", "why"), [
    ("training", "torch assigns an attribute of that name on modules"),
    ("input", "it names the block's input"),
    ("graph", ""),
    ("_hidden", ""),
])
def test_a_reserved_layer_name_inside_a_block(cli, write_spec, name: str, why: str) -> None:
    path = write_spec(spec(f"  b:\n    layers:\n      - {{op: relu, name: {name}}}\n", "  - {op: b, name: u}\n"))
    message = fails(cli, path)
    assert message.startswith(f"{path}:4 blocks.b.layers[0].name: layer name '{name}' is reserved ("), message
    assert why in message


def test_a_layer_name_used_twice_in_a_block(cli, write_spec) -> None:
    # the second relu's default name is relu_1, which the first one took explicitly
    path = write_spec(spec("  b:\n    layers:\n      - {op: relu, name: relu_1}\n      - {op: relu}\n"))
    assert fails(cli, path) == f"{path}:5 blocks.b.layers[1]: duplicate layer name 'relu_1' in the block"


@pytest.mark.parametrize(("layer", "where", "message"), [
    ("{op: nosuch, name: x}", "blocks.b.layers[0].op", "unknown op 'nosuch'"),
    ("{op: relu, name: x, when: 3}", "blocks.b.layers[0].when",
     "when must be an expression that is true or false, got 3"),
    ("{op: relu, name: x, when: [a]}", "blocks.b.layers[0].when", "when must be an expression"),
    ("{op: relu, name: x, inputs: [1]}", "blocks.b.layers[0].inputs", "inputs must be a list of local layer names"),
    ("{op: relu, name: x, inputs: []}", "blocks.b.layers[0].inputs", "inputs must be a list of local layer names"),
    ("{name: x}", "blocks.b.layers[0]", "a block's layer is a mapping with 'op'"),
    ("{op: relu, name: a..b}", "blocks.b.layers[0].name", "invalid layer name 'a..b'"),  # a.b is a module path
])
def test_invalid_layers_of_a_block(cli, write_spec, layer: str, where: str, message: str) -> None:
    path = write_spec(spec(f"  b:\n    layers:\n      - {layer}\n"))
    assert fails(cli, path).startswith(f"{path}:4 {where}: {message}")


def test_blocks_must_be_a_mapping(cli, write_spec) -> None:
    path = write_spec("blocks: [a]\ninput: [4, 8, 8]\nlayers:\n  - {op: relu, name: r}\n")
    assert fails(cli, path).startswith(f"{path}:1 blocks: 'blocks' must be a mapping")


# --- includes -------------------------------------------------------------------------------------------------------

LIB_BLOCK = "blocks:\n  {name}:\n    layers:\n      - {{op: conv2d, name: conv, out: {out}, kernel: 1}}\n"


def test_an_include_that_does_not_exist(cli, write_spec) -> None:
    path = write_spec(spec("  b:\n    layers:\n      - {op: relu, name: r}\n", head="include: [nothere.yaml]\n"))
    assert fails(cli, path) == (
        f"{path}:1 include[0]: no such file nothere.yaml (include paths are relative to {path})"
    )


def test_an_include_that_includes_itself(cli, write_spec) -> None:
    path = write_spec("include: [my.yaml]\ninput: [4, 8, 8]\nlayers:\n  - {op: relu, name: r}\n")
    assert fails(cli, path) == f"{path}:1 include[0]: include cycle: my.yaml -> my.yaml"


def test_an_include_cycle_between_two_files(cli, write_spec, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("include: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("blocks:\n  x:\n    layers:\n      - {op: relu, name: r}\ninclude: [a.yaml]\n")
    path = write_spec("include: [a.yaml]\ninput: [4, 8, 8]\nlayers:\n  - {op: relu, name: r}\n")
    assert fails(cli, path) == f"{tmp_path / 'b.yaml'}:5 include[0]: include cycle: a.yaml -> b.yaml -> a.yaml"


def test_an_include_cycle_back_to_the_spec(cli, write_spec, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("include: [my.yaml]\n")
    path = write_spec("include: [a.yaml]\ninput: [4, 8, 8]\nlayers:\n  - {op: relu, name: r}\n")
    assert fails(cli, path) == f"{tmp_path / 'a.yaml'}:1 include[0]: include cycle: my.yaml -> a.yaml -> my.yaml"


def test_a_block_defined_in_two_files_names_both(cli, write_spec, tmp_path: Path) -> None:
    (tmp_path / "lib.yaml").write_text(LIB_BLOCK.format(name="b", out=4))
    path = write_spec(spec("  b:\n    layers:\n      - {op: relu, name: r}\n", "  - {op: b, name: u}\n",
                           head="include: [lib.yaml]\n"))
    assert fails(cli, path) == (
        f"{tmp_path / 'lib.yaml'}:2 blocks.b: block 'b' is defined twice: here and at {path}:3 blocks.b"
    )


def test_a_block_defined_in_two_included_files_names_both(cli, write_spec, tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(LIB_BLOCK.format(name="b", out=4))
    (tmp_path / "two.yaml").write_text("description: more\n" + LIB_BLOCK.format(name="b", out=5))
    path = write_spec("include: [one.yaml, two.yaml]\ninput: [4, 8, 8]\nlayers:\n  - {op: b, name: u}\n")
    assert fails(cli, path) == (
        f"{tmp_path / 'two.yaml'}:3 blocks.b: block 'b' is defined twice: here and at {tmp_path / 'one.yaml'}:2 "
        "blocks.b"
    )


def test_an_included_file_holds_only_blocks_and_includes(cli, write_spec, tmp_path: Path) -> None:
    (tmp_path / "lib.yaml").write_text("layers: []\n")
    path = write_spec("include: [lib.yaml]\ninput: [4, 8, 8]\nlayers:\n  - {op: relu, name: r}\n")
    assert fails(cli, path).startswith(f"{tmp_path / 'lib.yaml'}:1 layers: unknown key 'layers' in an included file")


def test_a_mistake_in_an_included_block_names_that_file(cli, write_spec, tmp_path: Path) -> None:
    (tmp_path / "lib.yaml").write_text("blocks:\n  b:\n    layers:\n      - {op: relu, name: input}\n")
    path = write_spec("include: [lib.yaml]\ninput: [4, 8, 8]\nlayers:\n  - {op: b, name: u}\n")
    assert fails(cli, path) == (
        f"{tmp_path / 'lib.yaml'}:4 blocks.b.layers[0].name: layer name 'input' is reserved (it names the block's "
        "input)"
    )


def test_include_paths_are_relative_to_the_including_file(cli, tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "lib" / "more").mkdir(parents=True)
    (tmp_path / "lib" / "blocks.yaml").write_text(
        "include: [more/convs.yaml]\n"
        "blocks:\n  pair:\n    args: {out: {type: int}}\n    layers:\n"
        "      - {op: conv1, name: a, out: out}\n      - {op: conv1, name: b, out: out}\n"
    )
    (tmp_path / "lib" / "more" / "convs.yaml").write_text(
        "blocks:\n  conv1:\n    args: {out: {type: int}}\n    layers:\n"
        "      - {op: conv2d, name: conv, out: out, kernel: 1}\n      - {op: relu, name: act}\n"
    )
    path = tmp_path / "net" / "net.yaml"
    path.write_text("include: [../lib/blocks.yaml]\ninput: [3, 4, 4]\nlayers:\n  - {op: pair, name: p, out: 5}\n")
    result = cli("show", str(path), "-f", "json")
    assert result.exit_code == 0, result.stderr
    model = result.json()["models"][0]
    assert [layer["name"] for layer in model["layers"]] == ["p.a.conv", "p.a.act", "p.b.conv", "p.b.act"]
    assert model["macs"] == 5 * 3 * 16 + 5 * 5 * 16
    # the same spec run from another working directory finds the same files
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path / "lib")
        again = cli("show", str(path), "-f", "json")
    finally:
        os.chdir(cwd)
    assert again.exit_code == 0 and again.json()["models"][0]["macs"] == model["macs"]


def test_a_file_included_along_two_paths_is_read_once(cli, write_spec, tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(LIB_BLOCK.format(name="base", out=4))
    (tmp_path / "x.yaml").write_text("include: [base.yaml]\nblocks:\n  x:\n    layers:\n      - {op: base, name: i}\n")
    (tmp_path / "y.yaml").write_text("include: [base.yaml]\nblocks:\n  y:\n    layers:\n      - {op: base, name: i}\n")
    path = write_spec("include: [x.yaml, y.yaml]\ninput: [3, 4, 4]\nlayers:\n"
                      "  - {op: x, name: p}\n  - {op: y, name: q}\n")
    result = cli("show", path, "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert [layer["name"] for layer in result.json()["models"][0]["layers"]] == ["p.i.conv", "q.i.conv"]


def test_an_include_may_be_a_single_path(cli, write_spec, tmp_path: Path) -> None:
    (tmp_path / "lib.yaml").write_text(LIB_BLOCK.format(name="b", out=4))
    path = write_spec("include: lib.yaml\ninput: [3, 4, 4]\nlayers:\n  - {op: b, name: u}\n")
    result = cli("show", path, "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["models"][0]["output"] == [4, 4, 4]


def test_a_built_in_spec_includes_files_of_the_built_in_folder() -> None:
    # both SqueezeNet specs include specs/blocks/squeezenet.yaml, the one declaration of the fire block
    from shufflecalc.spec.blockdefs import library
    from shufflecalc.spec.load import load_spec

    for name in ("squeezenet1_0", "squeezenet"):
        fire = library(load_spec(name))["fire"]
        assert fire.doc.file == "specs/blocks/squeezenet.yaml" and fire.where(fire.path).startswith(
            "specs/blocks/squeezenet.yaml:3 blocks.fire"), name
    g = expand("squeezenet1_0")  # torchvision's squeezenet1_0: 1,248,424 parameters, 818,924,576 MACs
    assert g.sums.params == 1_248_424 and g.sums.macs == 818_924_576


def test_an_edited_included_file_is_read_again(tmp_path: Path) -> None:
    lib = tmp_path / "lib.yaml"
    lib.write_text(LIB_BLOCK.format(name="b", out=4))
    path = tmp_path / "net.yaml"
    path.write_text("include: [lib.yaml]\ninput: [3, 8, 8]\nlayers:\n  - {op: b, name: u}\n")
    assert expand(str(path)).output == (4, 8, 8)
    lib.write_text(LIB_BLOCK.format(name="b", out=7))
    later = time.time() + 5
    os.utime(lib, (later, later))
    assert expand(str(path)).output == (7, 8, 8)


@pytest.mark.parametrize("decl, message", [
    ("{type: int, default: 0, min: 1}", "blocks.b.args.out.default: 0 is below the minimum 1"),
    ("{type: int, min: 4, max: 2}", "blocks.b.args.out.max: max 2 is below min 4"),
    ("{type: int, choices: [2, 9], max: 8}", "blocks.b.args.out.choices[1]: 9 is above the maximum 8"),
    ("{type: str, default: a, choices: [b, c]}", "blocks.b.args.out.default: a is not one of b, c"),
    ("{type: pair, default: [0, 3], min: 1}", "blocks.b.args.out.default: 0x3 is below the minimum 1"),
    ("{type: padding, default: [1, 2, 3]}", "blocks.b.args.out.default: [1, 2, 3] is not a whole number, a pair "
                                            "[h, w] of them, same or valid (a list of 3)"),
])
def test_block_arguments_are_checked_like_parameters(cli, write_spec, decl: str, message: str) -> None:
    """One reader for declared parameters and block arguments: a block argument's default, bounds and choices are
    checked as a parameter's are (they were not)."""
    path = write_spec(f"blocks:\n  b:\n    args:\n      out: {decl}\n    layers:\n      - {{op: relu, name: r}}\n"
                      "input: [3, 8, 8]\nlayers:\n  - {op: b, name: u, out: 3}\n")
    assert rejected(cli, path).endswith(message)
