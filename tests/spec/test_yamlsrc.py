"""The one safe YAML loader: hostile documents and files end in one clean line naming the file and line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shufflecalc.errors import ShufflecalcError
from shufflecalc.spec import yamlsrc
from shufflecalc.spec.yamlsrc import MAX_DEPTH, MAX_FILE_BYTES, MAX_NUMBER, load_file, load_text, read_text_file


def error_of(text: str) -> str:
    with pytest.raises(ShufflecalcError) as exc:
        load_text(text, "f.yaml")
    message = str(exc.value)
    assert "\n" not in message and "\x1b" not in message, message
    return message


# --- structure: aliases, nesting, merge keys ----------------------------------------------------------------------


@pytest.mark.parametrize("text, where", [
    ("a: &x [*x]\n", "f.yaml:1 a[0]: recursive alias"),
    ("a: &x {k: *x}\n", "f.yaml:1 a.k: recursive alias"),
    ("b: 1\na: &x {<<: *x}\n", "f.yaml:2 a: recursive alias"),
    ("a: &x [1, [2, *x]]\n", "f.yaml:1 a[1][1]: recursive alias"),
])
def test_recursive_aliases_are_an_error(text: str, where: str) -> None:
    assert error_of(text).startswith(where)


@pytest.mark.parametrize("text", [
    "a: " + "[" * 5000 + "]" * 5000,
    "a: " + "{a: " * 5000 + "1" + "}" * 5000,
    "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    "a: " + "{a: " * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1),
    "".join(" " * i + "- \n" for i in range(0, 2 * (MAX_DEPTH + 5), 2)),
])
def test_deep_nesting_is_an_error(text: str) -> None:
    message = error_of(text)
    assert message.startswith("f.yaml:1") and f"nested too deeply (more than {MAX_DEPTH} levels)" in message
    assert len(message) < 200


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = MAX_DEPTH - 1  # the top-level mapping is a level too
    data = load_text("a: " + "[" * depth + "1" + "]" * depth, "f.yaml").data["a"]
    for _ in range(depth):
        data = data[0]
    assert data == 1


def test_the_pure_python_composer_recursion_is_caught(monkeypatch) -> None:
    monkeypatch.setattr(yamlsrc, "_COMPOSER", yamlsrc.yaml.SafeLoader)
    assert "nested too deeply" in error_of("a: " + "[" * 5000 + "]" * 5000)


def test_merge_keys_follow_yaml() -> None:
    doc = load_text("base: &b {a: 1, c: 2}\nother: &o {a: 3, d: 4}\n"
                    "x: {<<: *b, a: 5}\n"
                    "y:\n  <<: [*b, *o]\n  e: 6\n", "f.yaml")
    assert doc.data["x"] == {"a": 5, "c": 2}  # the mapping's own key overrides the merged one
    assert list(doc.data["x"]) == ["a", "c"]  # in PyYAML's order
    assert doc.data["y"] == {"a": 1, "c": 2, "d": 4, "e": 6}  # the earlier merged mapping wins
    assert list(doc.data["y"]) == ["a", "c", "d", "e"]
    assert doc.line(("x", "a")) == 3 and doc.line(("y", "e")) == 6


@pytest.mark.parametrize("text, where, message", [
    ("x: {a: 1, a: 2}\n", "f.yaml:1 x", "duplicate key 'a'"),
    ("b: &b {a: 1}\nx:\n  <<: *b\n  a: 2\n  a: 3\n", "f.yaml:5 x", "duplicate key 'a'"),
    ("b: &b {a: 1}\nx:\n  <<: *b\n  <<: *b\n", "f.yaml:4 x", "duplicate key '<<'"),
    ("x:\n  <<: 5\n", "f.yaml:2 x", "a merge key '<<' takes a mapping or a list of mappings"),
    ("x:\n  <<: [{a: 1}, 5]\n", "f.yaml:2 x", "a merge key '<<' takes a mapping or a list of mappings"),
])
def test_bad_merges_and_duplicates(text: str, where: str, message: str) -> None:
    got = error_of(text)
    assert got.startswith(where + ": ") and message in got, got


# --- tags and scalars -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("a: 1\nb: !!int abc\n", "f.yaml:2 b: cannot read 'abc' as an integer"),
    ("a: 1\nb: !!float x\n", "f.yaml:2 b: cannot read 'x' as a number"),
    ("b: !!bool maybe\n", "f.yaml:1 b: cannot read 'maybe' as a boolean"),
    ("b: !!null x\n", "f.yaml:1 b: cannot read 'x' as null"),
    ("b: !!int [1]\n", "f.yaml:1 b: invalid value: a list cannot be tagged"),
    ("b: !!str {a: 1}\n", "f.yaml:1 b: invalid value: a mapping cannot be tagged"),
    ("b: !!map x\n", "f.yaml:1 b: invalid value: a plain value cannot be tagged"),
    ("b: !!python/object:os.system ls\n", "f.yaml:1 b: invalid value: unsupported YAML tag"),
    ("b: !!binary aGk=\n", "f.yaml:1 b: invalid value: unsupported YAML tag"),
])
def test_explicit_tags_with_bad_values(text: str, message: str) -> None:
    assert error_of(text).startswith(message)


@pytest.mark.parametrize("text, message", [
    ("a: 1\nb: .nan\n", "f.yaml:2 b: '.nan' is not a finite number"),
    ("b: .inf\n", "f.yaml:1 b: '.inf' is not a finite number"),
    ("b: -.inf\n", "f.yaml:1 b: '-.inf' is not a finite number"),
    ("b: 1.0e+999\n", "f.yaml:1 b: '1.0e+999' is not a finite number"),
    ("b: !!float 1e999\n", "f.yaml:1 b: '1e999' is not a finite number"),
    ("b: [1, .NaN]\n", "f.yaml:1 b[1]: '.NaN' is not a finite number"),
    ("b: 4611686018427387905\n", "f.yaml:1 b: '4611686018427387905' is too large"),
    ("b: -4611686018427387905\n", "f.yaml:1 b: '-4611686018427387905' is too large"),
    ("b: 1.0e+19\n", "f.yaml:1 b: '1.0e+19' is too large"),
    ("b: " + "9" * 5000 + "\n", "f.yaml:1 b: '" + "9" * 27 + "..." + "9" * 28 + "' is too large"),
    ("b: 0x" + "f" * 5000 + "\n", "f.yaml:1 b: '0x" + "f" * 25 + "..." + "f" * 28 + "' is too large"),
    ("b: 1:30\n", "f.yaml:1 b: '1:30' is a YAML 1.1 base-60 number (90): write 90, or quote it ('1:30') for text"),
    ("b: -1:30.5\n", "f.yaml:1 b: '-1:30.5' is a YAML 1.1 base-60 number (-90.5): write -90.5"),
    ("b: 010\n", "f.yaml:1 b: '010' has a leading zero, which YAML 1.1 reads as an octal number: write 10"),
    ("b: -0_7\n", "f.yaml:1 b: '-0_7' has a leading zero"),
    ("b: !!int 0o17\n", "f.yaml:1 b: cannot read '0o17' as an integer"),
    ("{1:30: a}\n", "f.yaml:1: '1:30' is a YAML 1.1 base-60 number"),
])
def test_numbers_are_finite_bounded_and_unambiguous(text: str, message: str) -> None:
    assert error_of(text).startswith(message)


@pytest.mark.parametrize("text, value", [
    ("4611686018427387904", MAX_NUMBER), ("-4611686018427387904", -MAX_NUMBER), ("0x10", 16), ("0b101", 5),
    ("1_000", 1000), ("-0", 0), ("+12", 12), ("0", 0), ("12.", 12.0), (".5", 0.5), ("1.0e+1", 10.0),
    ("2.5e-300", 2.5e-300),
    ("1_000.5", 1000.5), ("0o17", "0o17"), ("1e6", "1e6"), ("'1:30'", "1:30"), ("'010'", "010"), ("yes", True),
    ("Off", False), ("~", None), ("null", None), ("!!float 1", 1.0), ("!!int '12'", 12), ("!!str 010", "010"),
    ('"tab\\there\\nnewline"', "tab\there\nnewline"),
])
def test_accepted_scalars(text: str, value: object) -> None:
    got = load_text(f"a: {text}\n", "f.yaml").data["a"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text, message", [
    ('a: 1\nb: "x\\x1b[31my"\n', r"f.yaml:2 b: text must not hold the control character \x1b"),
    ('b: "\\0"\n', r"f.yaml:1 b: text must not hold the control character \x00"),
    ('b: "\\r"\n', r"f.yaml:1 b: text must not hold the control character \r"),
    ('b: ["ok", "\\u202e"]\n', r"f.yaml:1 b[1]: text must not hold the control character \u202e"),
    ('"a\\x1bb": 1\n', r"f.yaml:1: a key must be printable text: 'a\x1bb'"),
    ('x:\n  "a\\nb": 1\n', r"f.yaml:2 x: a key must be printable text: 'a\nb'"),
    ('"a\\tb": 1\n', r"f.yaml:1: a key must be printable text"),
])
def test_control_characters(text: str, message: str) -> None:
    assert error_of(text).startswith(message)


@pytest.mark.parametrize("text, message", [
    ("a: 1\nb: x\x07\n", "f.yaml:2: malformed YAML: control characters are not allowed (character #x0007)"),
    ("a: [1, 2\n", "f.yaml:2: malformed YAML: did not find expected ',' or ']'"),
    ("a: *nothing\n", "f.yaml:1: malformed YAML: found undefined alias"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2: malformed YAML: but found another document"),
])
def test_pyyaml_errors_are_one_line_with_a_line(text: str, message: str) -> None:
    assert error_of(text).startswith(message)


def test_alias_bomb_is_stopped() -> None:
    text = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
    assert "document too large" in error_of(text)


# --- files ------------------------------------------------------------------------------------------------------------


def test_regular_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("a: 1\n")
    assert load_file(path).data == {"a": 1}
    assert read_text_file(path) == "a: 1\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(ShufflecalcError) as exc:
        load_file(fifo, "f.yaml")
    assert str(exc.value) == "f.yaml: not a regular file (a FIFO)"
    assert time.monotonic() - start < 5


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused() -> None:
    with pytest.raises(ShufflecalcError, match=r"^/dev/zero: not a regular file \(a character device\)$"):
        load_file("/dev/zero")


def test_a_directory_and_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ShufflecalcError, match="is a directory, not a YAML file"):
        load_file(tmp_path)
    with pytest.raises(ShufflecalcError, match=r"none\.yaml: no such file$"):
        load_file(tmp_path / "none.yaml")
    with pytest.raises(ShufflecalcError, match=r"none\.json: no such baseline file$"):
        read_text_file(tmp_path / "none.json", what="baseline file")


def test_a_file_above_the_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: [" + "1, " * (MAX_FILE_BYTES // 3) + "1]\n")
    start = time.monotonic()
    with pytest.raises(ShufflecalcError) as exc:
        load_file(path, "big.yaml")
    assert str(exc.value).startswith("big.yaml: too large (") and f"the limit is {MAX_FILE_BYTES:,} bytes" in str(
        exc.value)
    assert time.monotonic() - start < 1
    path.write_text("a: 1\n" + "#" * (MAX_FILE_BYTES - 6) + "\n")  # exactly the limit
    assert load_file(path).data == {"a": 1}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_file_that_says_it_is_empty_is_read_up_to_the_limit(tmp_path: Path) -> None:
    assert "Name:" in read_text_file("/proc/self/status")  # st_size is 0 there
    with pytest.raises(ShufflecalcError, match="too large"):
        read_text_file("/proc/self/status", limit=10)


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"a: 1\nb: \xff\n")
    with pytest.raises(ShufflecalcError) as exc:
        load_file(path, "bin.yaml")
    assert str(exc.value) == "bin.yaml:2: not UTF-8 text (byte 0xff cannot be decoded)"


def test_every_yaml_reader_uses_the_one_loader() -> None:
    """Specs, budgets, tables and baselines are read by `yamlsrc` (load_file / read_text_file), nothing else."""
    root = Path(yamlsrc.__file__).resolve().parent.parent
    for name in ("spec/load.py", "analysis/budget.py", "analysis/tables.py"):
        text = (root / name).read_text()
        for reader in ("yaml.", "read_text(", "read_bytes(", "open(", "json.load("):
            assert reader not in text, (name, reader)
    assert "load_file(" in (root / "spec/load.py").read_text()
    assert "load_file(" in (root / "analysis/tables.py").read_text()
    assert "load_file(" in (root / "analysis/budget.py").read_text()
    assert "read_text_file(" in (root / "analysis/budget.py").read_text()


@pytest.mark.parametrize("command", [("show",), ("table",), ("compare", "mobilenet")])
@pytest.mark.parametrize("name", ["a" * 300, "specs/" + "b" * 256 + ".yaml", "x\x00y.yaml"])
def test_a_name_no_file_can_have_is_one_error(cli, command: tuple[str, ...], name: str) -> None:
    """Path.exists() raises for these (ENAMETOOLONG, an embedded NUL) instead of answering: it was an internal error."""
    r = cli(*command, name)
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert "name (" in r.stderr and "\x00" not in r.stderr
