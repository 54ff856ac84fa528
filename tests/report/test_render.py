"""The formatters: one per format, pure, escaping what their format needs, human units or exact integers."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest

from shufflecalc.report.render import FORMATTERS, Column, Tabular, human, human_short, latex_escape, to_html, to_latex

NASTY = "a&b <i>% $x_1$ #{}~^\\ |×"


def sample() -> Tabular:
    columns = [Column("name", "model & <config>", justify="left"), Column("macs", "MACs (conv+linear)", "count"),
               Column("pub", "MACs, paper", "published"), Column("diff", "Δ vs paper", "diff"),
               Column("share", "% of MACs", "percent"), Column("ratio", "ratio", "ratio"),
               Column("shape", "output", "shape")]
    rows = [
        {"name": NASTY, "macs": 568_740_352, "pub": 569_000_000, "diff": -0.0456, "share": 12.5, "ratio": 0.2417,
         "shape": (3, 224, 224)},
        {"name": "second", "macs": 999, "pub": None, "diff": None, "share": 0.0, "ratio": None, "shape": [1000]},
    ]
    return Tabular("title with 50% & <b>", columns, rows, notes=["K/M/G are powers of 1000 & <notes>"],
                   footer={"name": "total", "macs": 568_741_351})


def test_every_format_has_one_formatter() -> None:
    assert set(FORMATTERS) == {"table", "markdown", "csv", "latex", "html"}
    for name, formatter in FORMATTERS.items():
        text = formatter(sample())
        assert isinstance(text, str) and text.endswith("\n"), name


def test_human_units() -> None:
    assert human(568_740_352) == "568.74M" and human(1_137_480_704) == "1.14G" and human(999) == "999"
    assert human_short(569_000_000) == "569M" and human_short(4_200_000) == "4.2M" and human_short(500_000) == "500K"


def test_human_units_move_up_when_the_figure_rounds_to_1000() -> None:
    # 999,999,999 / 1e6 = 999.999999, which shows as 1000.00 at two decimals: that is 1.00G
    assert human(999_999_999) == "1.00G" and human(-999_999_999) == "-1.00G" and human_short(999_999_999) == "1G"
    assert human(999_995) == "1.00M" and human(999_994) == "999.99K" and human_short(999_999) == "1M"
    assert human(999.9999) == "1.00K" and human(999.5) == "999.5" and human(999_999) == "1.00M"
    assert human(999_999_999_999_999) == "1000.00T"  # no unit above T


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex", "html"])
def test_human_formats_show_units_and_signed_differences(fmt: str) -> None:
    text = FORMATTERS[fmt](sample())
    assert "568.74M" in text and "569M" in text and "3x224x224" in text
    assert "568740352" not in text
    assert "0.242" in text
    # -0.0456 % rounds to zero: no "-0.0%"
    assert "-0.0" not in text and "0.0%" in text.replace("\\%", "%")


def test_csv_is_exact() -> None:
    rows = list(csv.DictReader(io.StringIO(FORMATTERS["csv"](sample()))))
    assert rows[0]["macs"] == "568740352" and rows[0]["pub"] == "569000000" and rows[0]["diff"] == "-0.0456"
    assert rows[0]["name"] == NASTY and rows[1]["shape"] == "1000" and len(rows) == 2  # no totals row in csv


def test_latex_escapes_every_special_character() -> None:
    assert latex_escape("50% & $x_1$ #{}~^\\") == (
        r"50\% \& \$x\_1\$ \#\{\}\textasciitilde{}\textasciicircum{}\textbackslash{}"
    )
    assert latex_escape("2×MACs, Δ") == r"2\ensuremath{\times}MACs, \ensuremath{\Delta}"
    text = to_latex(sample())
    assert "\\toprule" in text and "\\midrule" in text and "\\bottomrule" in text
    assert "\\begin{tabular}{lrrrrrr}" in text
    assert "\\caption{title with 50\\% \\& \\textless{}b\\textgreater{}}" in text
    assert latex_escape(NASTY) + " & 568.74M & 569M & 0.0\\% & 12.5\\% & 0.242\\ensuremath{\\times} & 3x224x224" in text
    # every body row has one cell per column
    rows = [line for line in text.splitlines() if line.rstrip().endswith("\\\\")]
    assert len(rows) == 1 + 2 + 1  # header, two rows, footer
    assert all(line.replace("\\&", "").count("&") == 6 for line in rows)


def test_html_is_escaped_and_well_formed() -> None:
    text = to_html(sample())
    root = ET.fromstring(f"<div>{text.replace('<br>', '<br/>')}</div>")  # a well-formed fragment
    table = root.find("table")
    assert table is not None and table.find("caption").text == "title with 50% & <b>"
    assert next(th.text for th in table.find("thead/tr")) == "model & <config>"
    cells = [td.text for td in table.find("tbody/tr")]
    assert cells[0] == NASTY and cells[1] == "568.74M"
    assert [td.text for td in table.find("tfoot/tr")][:2] == ["total", "568.74M"]
    assert "<i>" not in text and "&lt;i&gt;" in text


def test_the_formatters_are_the_one_list_of_text_formats() -> None:
    import shufflecalc.report.render as render

    assert set(FORMATTERS) == {"table", "markdown", "csv", "latex", "html"}
    assert not hasattr(render, "FORMATS")  # a second, unused list of format names went out of date unnoticed


# --- fitting a table to the terminal --------------------------------------------------------------------------------


def _wide_table() -> Tabular:
    from shufflecalc.report.render import Column, Tabular

    columns = [Column("name", "layer name", justify="left"), Column("about", "a description of the row",
                                                                      justify="left"),
               Column("macs", "MACs (conv+linear)", "count", priority=0), Column("params", "parameters", "count"),
               Column("extra", "an extra measure of little interest", "count", priority=2),
               Column("more", "another measure", "count")]
    rows = [{"name": f"stage{i}.unit0.conv", "about": "a fairly long sentence that says what this row is " * 2,
             "macs": 1234567 * i, "params": 4321 * i, "extra": i, "more": 10 * i} for i in range(1, 4)]
    return Tabular("a table too wide", columns, rows, notes=["a note " * 30])


def test_a_table_that_fits_is_unchanged_but_its_notes_wrap() -> None:
    from shufflecalc.report.render import fit, table_width, to_text

    t = _wide_table()
    full = table_width(t)
    fitted = fit(t, full)
    assert fitted.columns == t.columns and to_text(fitted).splitlines()[:8] == to_text(t).splitlines()[:8]
    assert all(len(line) <= full for line in to_text(fitted).splitlines())


@pytest.mark.parametrize("width", [120, 100, 80, 60])
def test_fit_folds_headers_wraps_prose_then_hides_by_priority(width: int) -> None:
    from shufflecalc.report.render import MIN_WRAP, fit, table_width, to_text

    t = _wide_table()
    assert table_width(t) > 200
    fitted = fit(t, width)
    text = to_text(fitted)
    assert max(len(line) for line in text.splitlines()) <= width, text
    keys = [c.key for c in fitted.columns]
    assert keys[0] == "name" and "macs" in keys  # the row labels and priority 0 stay
    hidden = [c.key for c in t.columns if c.key not in keys]
    if hidden:
        assert hidden[0] == "extra" or "extra" in hidden  # priority 2 goes first
        note = " ".join(fitted.notes)
        headers = ", ".join(c.header for c in t.columns if c.key in hidden)  # named as --columns takes them
        assert f"hidden to fit {width} characters ({headers})" in note and "--wide" in note
    about = next((c for c in fitted.columns if c.key == "about"), None)
    if about is not None:
        assert about.wrap >= MIN_WRAP and "fairly long" in text  # wrapped, not cut: every word is still there
        words = ["a", "fairly", "long", "sentence", "that", "says", "what", "this", "row", "is"]
        assert all(w in text for w in words)


def test_wrapping_comes_before_hiding() -> None:
    from shufflecalc.report.render import fit

    fitted = fit(_wide_table(), 120)
    assert [c.key for c in fitted.columns] == ["name", "about", "macs", "params", "extra", "more"][:len(fitted.columns)]
    assert next(c for c in fitted.columns if c.key == "about").wrap > 0


def test_select_by_key_or_header_in_the_given_order() -> None:
    from shufflecalc.errors import ShufflecalcError
    from shufflecalc.report.render import select

    t = _wide_table()
    assert [c.key for c in select(t, ["params", "layer name", "macs"]).columns] == ["params", "name", "macs"]
    with pytest.raises(ShufflecalcError, match=r"--columns: no column 'flops' in this table \(columns: name, about, "):
        select(t, ["flops"])
