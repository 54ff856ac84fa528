"""Renderers: pure functions from data to text (or a rich renderable). Only the CLI prints.

Every tabular command builds a `Tabular` (columns with a kind, rows of raw values); one formatter per output format
(`FORMATTERS`: table, markdown, csv, latex, html) turns it into text. Counts are shown in human units (K, M, G:
powers of 1000) in the terminal table, markdown, LaTeX and HTML, and as exact integers in csv. JSON is built from the
commands' own dictionaries by `to_json`, which is deterministic. Formatters do no I/O.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shufflecalc.errors import ShufflecalcError


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"  # text | count | published | ratio | percent | diff (signed percent) | shape
    justify: str = "right"
    priority: int = 1  # when a table is too wide for the terminal: 0 is never hidden, higher numbers go first
    wrap: int = 0  # in the terminal table, text longer than this is wrapped onto more lines (0: never; see `fit`)


@dataclass
class Tabular:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    footer: dict[str, Any] | None = None  # a totals row
    # notes that explain columns, made from the keys of the columns shown (after --columns or fitting): a table
    # never explains a column it does not show
    footnotes: Callable[[list[str]], list[str]] | None = None

    def all_notes(self) -> list[str]:
        return self.notes + (self.footnotes([c.key for c in self.columns]) if self.footnotes else [])


_UNITS = ((1.0, ""), (1e3, "K"), (1e6, "M"), (1e9, "G"), (1e12, "T"))


def human(n: int | float) -> str:
    """568740352 -> '568.74M'; powers of 1000, two decimals. A figure that rounds to 1000 of a unit is shown in the
    next one (999999999 -> '1.00G', not '1000.00M'); below 1000, integers are exact and floats use `g` format."""
    value = abs(n)
    i = max([0] + [i for i, (factor, _) in enumerate(_UNITS) if value >= factor])
    text = _scaled(n, i)
    if i + 1 < len(_UNITS) and abs(float(text)) >= 1000:
        i += 1
        text = _scaled(n, i)
    return text + _UNITS[i][1]


def _scaled(n: int | float, i: int) -> str:
    if i == 0:
        return f"{n:g}" if isinstance(n, float) else str(n)
    return f"{n / _UNITS[i][0]:.2f}"


def human_short(n: int | float) -> str:
    """A rounded figure as a paper prints it: 143000000 -> '143M', 4200000 -> '4.2M' (no invented precision)."""
    text = human(n)
    if text[-1:] in "KMGT" and "." in text:
        number, suffix = text[:-1].rstrip("0").rstrip("."), text[-1]
        return number + suffix
    return text


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def _cell(value: Any, kind: str, exact: bool) -> str:
    if value is None:
        return ""
    if kind == "count" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value) if exact else human(value)
    if kind == "published" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value) if exact else human_short(value)
    if kind == "ratio" and isinstance(value, (int, float)):
        return repr(float(value)) if exact else f"{value:.3f}×"  # exact: always a float (1.0, not 1)
    if kind == "percent" and isinstance(value, (int, float)):
        return f"{value:.4f}" if exact else f"{value:.1f}%"
    if kind == "diff" and isinstance(value, (int, float)):
        return f"{value:.4f}" if exact else (f"{value:+.1f}%" if round(value, 1) else "0.0%")
    if kind == "shape" and isinstance(value, (list, tuple)):
        return shape_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text_rows(t: Tabular, exact: bool) -> list[list[str]]:
    rows = [[_cell(r.get(c.key), c.kind, exact) for c in t.columns] for r in t.rows]
    if t.footer:
        rows.append([_cell(t.footer.get(c.key), c.kind, exact) for c in t.columns])
    return rows


def _wrapped_rows(t: Tabular) -> list[list[list[str]]]:
    """The terminal table's cells as lines: a column with `wrap` breaks its text at spaces to that width."""
    import textwrap

    def lines(text: str, c: Column) -> list[str]:
        if not c.wrap or len(text) <= c.wrap:
            return [text]
        return textwrap.wrap(text, c.wrap, break_long_words=False, break_on_hyphens=False) or [""]

    return [[lines(v, c) for v, c in zip(row, t.columns, strict=True)] for row in _text_rows(t, exact=False)]


def _widths(t: Tabular, rows: list[list[list[str]]]) -> list[int]:
    return [max([len(x) for x in c.header.split("\n")] + [len(x) for r in rows for x in r[i]])
            for i, c in enumerate(t.columns)]


def to_text(t: Tabular) -> str:
    """The terminal table: box-drawn, title above, notes below.

    Drawn here rather than with rich.table: importing rich's console costs about 20 ms, more than loading, analyzing
    and printing two models together, and `compare` must start fast (it runs in CI loops). rich is used where it
    earns its cost: progress bars and live displays.
    """
    rows = _wrapped_rows(t)
    header_lines = [c.header.split("\n") for c in t.columns]  # a folded header (see `fit`) has several lines
    depth = max((len(h) for h in header_lines), default=1)
    widths = _widths(t, rows)

    def line(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(values: list[str], bar: str) -> str:
        parts = [
            f" {v.ljust(w) if c.justify != 'right' else v.rjust(w)} "
            for v, w, c in zip(values, widths, t.columns, strict=False)
        ]
        return bar + bar.join(parts) + bar

    out = []
    total_width = sum(widths) + 3 * len(widths) + 1
    if t.title:
        out.append(t.title.center(total_width).rstrip())
    out.append(line("┏", "━", "┳", "┓"))
    for k in range(depth):  # headers end on the same line, above their column's values
        out.append(cells([h[k - depth + len(h)] if k >= depth - len(h) else "" for h in header_lines], "┃"))
    out.append(line("┡", "━", "╇", "┩"))
    for i, row in enumerate(rows):
        if t.footer is not None and i == len(rows) - 1:
            out.append(line("├", "─", "┼", "┤"))
        for k in range(max(len(c) for c in row)):  # a wrapped cell makes its row taller
            out.append(cells([c[k] if k < len(c) else "" for c in row], "│"))
    out.append(line("└", "─", "┴", "┘"))
    out.extend(t.all_notes())
    return "\n".join(out) + "\n"


def table_width(t: Tabular) -> int:
    """How many characters wide `to_text` draws the table."""
    widths = _widths(t, _wrapped_rows(t))
    return sum(widths) + 3 * len(widths) + 1


def select(t: Tabular, keys: Sequence[str]) -> Tabular:
    """The table with only the columns `keys` (a column's key or its header), in that order; an unknown one is an
    error listing the table's columns."""
    by_key = {c.key: c for c in t.columns}
    by_header = {c.header.lower(): c for c in t.columns}
    chosen = []
    for key in keys:
        column = by_key.get(key) or by_header.get(key.lower())
        if column is None:
            known = ", ".join(c.key for c in t.columns)
            raise ShufflecalcError(f"--columns: no column '{key}' in this table (columns: {known})")
        if column not in chosen:
            chosen.append(column)
    return replace(t, columns=chosen)


MAX_HEADER_LINES = 3
MIN_WRAP = 16  # a wrapped text column is at least this wide


def fit(t: Tabular, width: int) -> Tabular:
    """The table drawn in at most `width` characters, if it can be. In order, until it fits: long headers fold onto
    up to three lines (never narrower than the column's values); text columns (left-aligned prose: descriptions,
    parameters, reasons) wrap their cells, the widest first, down to MIN_WRAP characters; then columns are hidden,
    the highest `priority` first and, among equals, the rightmost first; the first column (the row labels) and
    priority-0 columns stay. A note names what was hidden; notes wrap to the width."""
    if table_width(t) <= width:
        return replace(t, notes=_wrap_notes(t.all_notes(), width), footnotes=None)
    rows = _text_rows(t, exact=False)
    columns = []
    for i, c in enumerate(t.columns):
        cells = max((len(r[i]) for r in rows), default=0)
        columns.append(replace(c, header=_fold(c.header, cells)))
    fitted = replace(t, columns=columns)
    stuck: set[int] = set()  # columns that cannot get narrower (a long word)
    while (over := table_width(fitted) - width) > 0:
        current = _widths(fitted, _wrapped_rows(fitted))
        prose = [i for i, c in enumerate(columns) if i > 0 and i not in stuck and c.justify == "left"
                 and c.kind == "text" and current[i] > MIN_WRAP]
        if not prose:
            break
        widest = max(current[i] for i in prose)  # shrink the widest together, down to the next widest at most
        tied = [i for i in prose if current[i] == widest]
        below = max([current[i] for i in prose if current[i] < widest] + [MIN_WRAP])
        target = max(below, widest - -(-over // len(tied)))
        for i in tied:
            columns[i] = replace(columns[i], wrap=target, header=_fold(t.columns[i].header, target))
        fitted = replace(fitted, columns=columns)
        after = _widths(fitted, _wrapped_rows(fitted))
        stuck |= {i for i in tied if after[i] >= current[i]}
    order = sorted(range(1, len(columns)), key=lambda i: (-columns[i].priority, -i))
    hidden: list[int] = []
    for i in order:
        if table_width(fitted) <= width or columns[i].priority == 0:
            break
        hidden.append(i)
        fitted = replace(fitted, columns=[c for j, c in enumerate(columns) if j not in hidden])
    notes = fitted.all_notes()
    if hidden:
        names = ", ".join(t.columns[i].header.replace("\n", " ") for i in sorted(hidden))  # as --columns takes them
        notes.append(f"{len(hidden)} column{'s' if len(hidden) > 1 else ''} hidden to fit {width} characters "
                     f"({names}): --columns to choose, --wide for all.")
    return replace(fitted, notes=_wrap_notes(notes, width), footnotes=None)


def _wrap_notes(notes: Sequence[str], width: int) -> list[str]:
    import textwrap

    return [line for n in notes for line in (textwrap.wrap(n, width, break_on_hyphens=False) or [""])]


def _fold(header: str, width: int) -> str:
    """`header` broken at spaces onto at most MAX_HEADER_LINES lines, as narrow as that allows but not narrower than
    `width` (the column's values)."""
    words = header.split(" ")
    target = max(width, max(len(w) for w in words), -(-len(header) // MAX_HEADER_LINES))
    while True:
        lines: list[str] = []
        for word in words:
            if lines and len(lines[-1]) + 1 + len(word) <= target:
                lines[-1] += " " + word
            else:
                lines.append(word)
        if len(lines) <= MAX_HEADER_LINES:
            return "\n".join(lines)
        target += 1


def to_markdown(t: Tabular) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = [f"**{esc(t.title)}**", ""] if t.title else []
    lines.append("| " + " | ".join(esc(c.header) for c in t.columns) + " |")
    lines.append("|" + "|".join("---:" if c.justify == "right" else ":---" for c in t.columns) + "|")
    for i, row in enumerate(_text_rows(t, exact=False)):
        cells = [esc(x) for x in row]
        if t.footer is not None and i == len(t.rows):
            cells = [f"**{x}**" if x else x for x in cells]
        lines.append("| " + " | ".join(cells) + " |")
    notes = t.all_notes()
    if notes:
        lines.append("")
        lines.extend(f"{esc(n)}  " if i < len(notes) - 1 else esc(n) for i, n in enumerate(notes))
    return "\n".join(lines) + "\n"


def to_csv(t: Tabular) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in t.columns])
    for row in t.rows:
        writer.writerow([_cell(row.get(c.key), c.kind, exact=True) for c in t.columns])
    return out.getvalue()


def to_json(data: Any) -> str:
    """Deterministic JSON: insertion-ordered keys as the commands build them, 2-space indent, trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "×": r"\ensuremath{\times}", "Δ": r"\ensuremath{\Delta}", "²": r"\textsuperscript{2}", "≤": r"\ensuremath{\leq}",
    "≥": r"\ensuremath{\geq}", "−": "-", "\n": " ",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters; the few non-ASCII symbols the tables use become math or text commands."""
    return "".join(_LATEX.get(ch, ch) for ch in text)


def to_latex(t: Tabular) -> str:
    """A booktabs table (``\\usepackage{booktabs}``) in a floating table environment; notes under the tabular."""
    spec = "".join("r" if c.justify == "right" else "l" for c in t.columns)
    rows = _text_rows(t, exact=False)
    out = ["% generated by shufflecalc; needs \\usepackage{booktabs}", "\\begin{table}[htbp]", "  \\centering"]
    if t.title:
        out.append(f"  \\caption{{{latex_escape(t.title)}}}")
    out += [f"  \\begin{{tabular}}{{{spec}}}", "    \\toprule"]
    out.append("    " + " & ".join(latex_escape(c.header) for c in t.columns) + " \\\\")
    out.append("    \\midrule")
    for i, row in enumerate(rows):
        if t.footer is not None and i == len(t.rows):
            out.append("    \\midrule")
        out.append("    " + " & ".join(latex_escape(x) for x in row) + " \\\\")
    out += ["    \\bottomrule", "  \\end{tabular}"]
    if t.all_notes():
        out.append("  \\par\\smallskip")
        out.append("  {\\footnotesize " + "\\par\n   ".join(latex_escape(n) for n in t.all_notes()) + "\\par}")
    out.append("\\end{table}")
    return "\n".join(out) + "\n"


def to_html(t: Tabular) -> str:
    """An HTML table fragment (caption, thead, tbody, tfoot for totals) and the notes in a paragraph; all escaped."""
    import html  # imported here: its entity table costs start-up time that the other formats need not pay

    def esc(text: str) -> str:
        return html.escape(text, quote=True)

    def tr(values: list[str], tag: str) -> str:
        cells = "".join(
            f'<{tag} style="text-align:{"right" if c.justify == "right" else "left"}">{esc(v)}</{tag}>'
            for v, c in zip(values, t.columns, strict=False)
        )
        return f"<tr>{cells}</tr>"

    rows = _text_rows(t, exact=False)
    body = rows[: len(t.rows)]
    out = ['<table class="shufflecalc">']
    if t.title:
        out.append(f"<caption>{esc(t.title)}</caption>")
    out.append("<thead>" + tr([c.header for c in t.columns], "th") + "</thead>")
    out.append("<tbody>")
    out.extend(tr(r, "td") for r in body)
    out.append("</tbody>")
    if t.footer is not None:
        out.append("<tfoot>" + tr(rows[-1], "td") + "</tfoot>")
    out.append("</table>")
    if t.all_notes():
        out.append('<p class="shufflecalc-notes">' + "<br>\n".join(esc(n) for n in t.all_notes()) + "</p>")
    return "\n".join(out) + "\n"


FORMATTERS: dict[str, Callable[[Tabular], str]] = {
    "table": to_text, "markdown": to_markdown, "csv": to_csv, "latex": to_latex, "html": to_html,
}
