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
