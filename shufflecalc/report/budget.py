"""Reports of a budget check (pure: a `CheckResult` in, text or dictionaries out; only the CLI prints).

Formats: the terminal table and csv (via `render.Tabular`), deterministic JSON (also usable as a baseline), a markdown
summary for pull-request comments, JUnit XML (one testcase per model and limit, and per model and baseline check),
and GitHub Actions annotations (``::error file=...,line=...::``) pointing at the budget line that failed.
Counts in messages are exact integers; tables show K/M/G (powers of 1000).

Against a baseline, a metric and the metrics derived from it (`analysis.budget.DERIVED`) are one check, shown under
its headline metric with the others beside it. The warnings of latency timings (noise, busy machine, warm-up cap) go
into every format: notes under the table, a list in markdown, ``<system-err>`` in JUnit, ``::warning`` annotations,
a ``warnings`` list in JSON; a latency result timed with noise says so in its result and failure message.
`only_failures` drops the passing rows of the tables (table, markdown, github, csv); JSON and JUnit list everything.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from shufflecalc.analysis.budget import (
    FAIL,
    PASS,
    SKIP,
    BaselineGroup,
    CheckResult,
    Delta,
    LimitResult,
    ModelResult,
)
from shufflecalc.analysis.cost import CONVENTION_NAMES, CONVENTIONS
from shufflecalc.errors import ShufflecalcError
from shufflecalc.report.render import Column, Tabular, fit, human, to_csv, to_markdown, to_text

MARKS = {PASS: "✅ PASS", FAIL: "❌ FAIL", SKIP: "➖ SKIP", "NEW": "🆕 NEW"}


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def signed_percent(p: float, sign: str = "") -> str:
    """'5.74%'; two significant digits below 0.01% so that a small change does not read as zero: '0.00054%'."""
    return f"{p:{sign}.2g}%" if 0 < abs(p) < 0.01 else f"{p:{sign}.2f}%"


def percent_text(p: Fraction) -> str:
    return f"{float(p):g}%"


# --- tables -----------------------------------------------------------------------------------------------------------


def _status(status: str, marks: bool) -> str:
    return MARKS.get(status, status) if marks else status


def _limit_value(r: LimitResult) -> Any:
    if r.value is None:
        return None
    return f"{r.value:.2f} ms" if r.limit.is_latency or r.limit.is_predicted else r.value


def exact_human(n: int) -> str:
    """A limit as a user writes it, exactly: 150000000 -> '150M', 4500000 -> '4.5M', 1234 -> '1.234K'."""
    for power, suffix in ((9, "G"), (6, "M"), (3, "K")):
        if abs(n) >= 10**power:
            text = f"{Decimal(n).scaleb(-power):f}"
            return (text.rstrip("0").rstrip(".") if "." in text else text) + suffix
    return str(n)


def noise_note(r: LimitResult) -> str:
    """'noisy: IQR/median 83.0%' for a latency result timed with noise; '' otherwise."""
    if r.measurement is None or not r.noisy:
        return ""
    return f"noisy: IQR/median {100 * r.measurement.iqr_over_median:.1f}%"


def _result_text(r: LimitResult, marks: bool) -> str:
    note = r.reason or noise_note(r)
    return _status(r.status, marks) + (f" ({note})" if note else "")


def warning_lines(result: CheckResult) -> list[str]:
    """'warning: MODEL BUDGET: TEXT' for every warning of the latency timings, each once, in file order."""
    return list(dict.fromkeys(f"warning: {m.entry.label} {_budget_name(r)}: {w}" for m, r, w in result.warnings))


def limits_table(result: CheckResult, marks: bool = False, only_failures: bool = False) -> Tabular:
    """A row per model and limit: value, limit, headroom, result (`only_failures`: without the passing ones)."""
    columns = [
        Column("model", "model", justify="left"), Column("line", "line"), Column("budget", "budget", justify="left"),
        Column("value", "value", "count"), Column("limit", "limit", "count"),
        Column("headroom", "headroom", "percent"), Column("result", "result", justify="left"),
    ]
    rows = []
    for m in result.models:
        for r in m.limits:
            if only_failures and r.status == PASS:
                continue
            limit = r.limit
            value = _limit_value(r)
            bound = f"{limit.value:g} ms" if limit.is_latency or limit.is_predicted else exact_human(int(limit.value))
            if isinstance(value, int) and human(value) == bound and value != limit.value:
                value, bound = f"{value:,}", f"{int(limit.value):,}"  # they round alike: show how they differ
            rows.append({
                "model": m.entry.label, "line": limit.line, "budget": _budget_name(r), "value": value,
                "limit": bound,
                "headroom": r.headroom,
                "result": _result_text(r, marks),
            })
    notes = [summary(result)] + ([result.latency_method] if result.latency_method else []) + warning_lines(result)
    return Tabular(f"shufflecalc check {result.file}", columns, rows, notes=notes)


def _budget_name(r: LimitResult) -> str:
    limit = r.limit
    if limit.is_predicted:
        assert limit.profile is not None
        return f"{limit.key} ({Path(limit.profile.source).name})"
    return f"{limit.key} ({limit.device}, batch {limit.batch})" if limit.is_latency else limit.key


def baseline_table(result: CheckResult, marks: bool = False, only_failures: bool = False) -> Tabular | None:
    """A row per model and baseline check (a metric with those derived from it): the headline metric's baseline,
    value, delta and delta percent, the result, and the derived metrics' changes (`only_failures`: without the
    passing checks)."""
    if result.baseline is None:
        return None
    columns = [
        Column("model", "model", justify="left"), Column("metric", "metric", justify="left"),
        Column("baseline", "baseline", "count"), Column("value", "value", "count"), Column("delta", "delta", "count"),
        Column("percent", "delta %", "percent"), Column("result", "result", justify="left"),
        Column("with", "with it", justify="left", priority=2, wrap=36),
    ]
    rows: list[dict[str, Any]] = []
    for m in result.models:
        if m.groups is None:
            rows.append({"model": m.entry.label, "metric": "(not in the baseline)", "result": _status("NEW", marks)})
        for g in m.groups or ():
            if only_failures and g.status == PASS:
                continue
            d = g.headline
            rows.append({"model": m.entry.label, "metric": d.metric, "baseline": d.baseline, "value": d.value,
                         "delta": d.delta, "percent": d.percent, "result": _status(g.status, marks),
                         "with": ", ".join(f"{o.metric} {_change(o)}" for o in g.others)})
    title = f"baseline {result.baseline.file} (max increase {percent_text(result.max_increase)})"
    return Tabular(title, columns, rows, notes=[baseline_summary(result)])


def summary(result: CheckResult) -> str:
    n = sum(len(m.limits) for m in result.models)
    parts = [f"{result.count(PASS)} passed", f"{result.count(FAIL)} failed"]
    skipped = [r for m in result.models for r in m.limits if r.status == SKIP]
    if skipped:
        reasons = sorted({r.reason for r in skipped})
        parts.append(f"{len(skipped)} skipped ({'; '.join(reasons)})")
    return f"{result.file}: {plural(len(result.models), 'model')}, {plural(n, 'limit')}: {', '.join(parts)}"


def _change(d: Delta) -> str:
    """'+13.48%' (or '+46,750' against a baseline of 0)."""
    return f"{d.delta:+,}" if d.percent is None else signed_percent(d.percent, "+")


def baseline_summary(result: CheckResult) -> str:
    if result.baseline is None:
        return ""
    compared = [m for m in result.models if m.deltas is not None]
    new = len(result.models) - len(compared)
    n = sum(len(m.deltas or ()) for m in compared)
    checks = sum(len(m.groups or ()) for m in compared)
    return (f"baseline {result.baseline.file}: {plural(n, 'metric')} of {plural(len(compared), 'model')} compared "
            f"in {plural(checks, 'check')}, {result.count_groups(FAIL)} grew more than "
            f"{percent_text(result.max_increase)}; {plural(new, 'model')} not in the baseline")


def _notes_only(t: Tabular, render: Callable[[Tabular], str], separator: str = "\n") -> str:
    """A table left without rows by --only-failures is its notes alone (the summary still counts every check)."""
    return render(t) if t.rows else separator.join(t.notes) + "\n"


def text_report(result: CheckResult, only_failures: bool = False, width: int | None = None) -> str:
    """The terminal tables (the limits, the baseline checks), fitted to `width` characters when given."""

    def draw(t: Tabular) -> str:
        return to_text(fit(t, width) if width else t)

    parts = [_notes_only(limits_table(result, only_failures=only_failures), draw)]
    table = baseline_table(result, only_failures=only_failures)
    if table is not None:
        parts.append(_notes_only(table, draw))
    return "\n".join(parts)


def markdown_report(result: CheckResult, only_failures: bool = False) -> str:
    """A pull-request comment: a verdict heading, the failures first, the warnings of the latency timings, then every
    limit and the baseline checks."""
    n = sum(len(m.limits) for m in result.models)
    failed = result.count(FAIL) + result.count_groups(FAIL)
    verdict = f"❌ {plural(failed, 'check')} failed" if failed else f"✅ all {plural(n, 'limit')} within budget"
    lines = [f"### shufflecalc budget check: {verdict}", ""]
    messages = failure_messages(result)
    if messages:
        lines += [f"- {text}" for _, text in messages] + [""]
    warnings = warning_lines(result)
    if warnings:
        lines += [f"- ⚠️ {w}" for w in warnings] + [""]
    table = limits_table(result, marks=True, only_failures=only_failures)
    table.title = ""
    table.notes = [n for n in table.notes if n not in warnings]  # listed above
    lines.append(_notes_only(table, to_markdown, "  \n"))
    base = baseline_table(result, marks=True, only_failures=only_failures)
    if base is not None:
        lines.append(_notes_only(base, to_markdown, "  \n"))
    return "\n".join(lines)


def csv_report(result: CheckResult, only_failures: bool = False) -> str:
    """One row per check with exact integers: limits (limit, headroom) and baseline checks (the headline metric's
    baseline and delta)."""
    columns = [Column(k, k) for k in ("model", "name", "config", "line", "check", "metric", "value", "limit",
                                      "headroom_percent", "baseline", "delta", "delta_percent", "status")]
    rows = []
    for m in result.models:
        common = {"model": m.entry.model, "name": m.entry.spec.name, "config": _config_text(m)}
        for r in m.limits:
            if only_failures and r.status == PASS:
                continue
            rows.append({**common, "line": r.limit.line, "check": r.limit.key, "metric": r.limit.metric,
                         "value": r.value, "limit": r.limit.value, "headroom_percent": _round(r.headroom),
                         "status": r.status})
        for g in m.groups or ():
            if only_failures and g.status == PASS:
                continue
            d = g.headline
            rows.append({**common, "line": m.entry.line, "check": "baseline", "metric": d.metric, "value": d.value,
                         "baseline": d.baseline, "delta": d.delta, "delta_percent": _round(d.percent),
                         "status": g.status})
    return to_csv(Tabular("", columns, rows))


def _config_text(m: ModelResult) -> str:
    return " ".join(f"{k}={v}" for k, v in m.entry.overrides.items())


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


# --- JSON -------------------------------------------------------------------------------------------------------------


def model_record(m: ModelResult) -> dict[str, Any]:
    """What a baseline keeps of a model: the same keys as compare's JSON (name, spec, config, input, counts)."""
    a = m.analysis
    return {"name": a.name, "spec": a.spec.source, "config": dict(a.config), "input": list(a.graph.input),
            **m.values}


def _conventions(result: CheckResult) -> dict[str, str]:
    """What every count of the report means: the metrics, and the other counters' conventions a budget limits."""
    from shufflecalc.report.cost import convention_meanings

    return {**CONVENTIONS, **convention_meanings([n for n in CONVENTION_NAMES
                                                  if any(n in m.values for m in result.models)])}


def baseline_json(result: CheckResult) -> dict[str, Any]:
    """The file --write-baseline writes: the current values of every model of the budget file."""
    return {"conventions": _conventions(result), "budget_file": result.file,
            "models": [model_record(m) for m in result.models]}


def check_json(result: CheckResult) -> dict[str, Any]:
    """check --format json: every model's values, each limit's outcome, the baseline deltas. Usable as a baseline."""
    models = []
    for m in result.models:
        data = {"model": m.entry.model, "line": m.entry.line, **model_record(m)}
        data["limits"] = [_limit_json(r) for r in m.limits]
        if result.baseline is not None:
            check_of = {d.metric: g.metric for g in m.groups or () for d in g.deltas}
            data["baseline"] = None if m.deltas is None else [_delta_json(d, check_of[d.metric]) for d in m.deltas]
            data["baseline_checks"] = None if m.groups is None else [_group_json(g) for g in m.groups]
        models.append(data)
    summary_data = {"models": len(result.models), "limits": sum(len(m.limits) for m in result.models),
                    "passed": result.count(PASS), "failed": result.count(FAIL), "skipped": result.count(SKIP)}
    baseline = None
    if result.baseline is not None:
        baseline = {"file": result.baseline.file, "max_increase_percent": float(result.max_increase),
                    "failed": result.count_groups(FAIL), "failed_metrics": result.count_deltas(FAIL),
                    "new_models": sum(m.deltas is None for m in result.models)}
    data = {"conventions": _conventions(result), "budget_file": result.file, "passed": not result.failed,
            "summary": summary_data, "baseline": baseline}
    if result.latency_method:
        data["latency_method"] = result.latency_method
        data["warnings"] = [w.removeprefix("warning: ") for w in warning_lines(result)]
    data["models"] = models
    return data


def _limit_json(r: LimitResult) -> dict[str, Any]:
    limit = r.limit
    data: dict[str, Any] = {"key": limit.key, "metric": limit.metric, "bound": limit.bound, "line": limit.line}
    if limit.is_latency:
        data.update(device=limit.device, batch=limit.batch)
    if limit.is_predicted:
        assert limit.profile is not None
        data.update(profile=limit.profile.source, device=limit.device, batch=limit.batch)
    data.update(limit=limit.value, value=r.value, headroom_percent=_round(r.headroom), status=r.status)
    if r.reason:
        data["reason"] = r.reason
    if r.measurement is not None:
        data.update(samples=r.measurement.samples, iqr_over_median=round(r.measurement.iqr_over_median, 6),
                    noisy=r.noisy, warnings=list(r.measurement.warnings))
    return data


def _delta_json(d: Delta, check: str) -> dict[str, Any]:
    """One metric against the baseline; `check`: the headline metric of the check it belongs to."""
    return {"metric": d.metric, "baseline": d.baseline, "value": d.value, "delta": d.delta,
            "delta_percent": _round(d.percent), "status": d.status, "check": check}


def _group_json(g: BaselineGroup) -> dict[str, Any]:
    return {"metric": g.metric, "root": g.root, "metrics": [d.metric for d in g.deltas], "status": g.status}


# --- messages, JUnit, GitHub ------------------------------------------------------------------------------------------


def limit_message(m: ModelResult, r: LimitResult) -> str:
    """One line for a failed limit, exact: 'shufflenet g=3: macs 137,457,232 exceeds max_macs 130,000,000 by 5.74%'."""
    limit, label = r.limit, m.entry.label
    over = -(r.headroom or 0.0)
    if limit.is_latency:
        text = (f"{label}: latency {r.value:.2f} ms (median, {limit.device}, batch {limit.batch}) exceeds "
                f"{limit.key} {limit.value:g} ms by {signed_percent(over)}")
        if r.measurement is not None and r.noisy:
            text += (f"; timed with noise (IQR/median {100 * r.measurement.iqr_over_median:.1f}%, "
                     f">= {100 * r.measurement.noise_limit:g}%): the median may be the machine's, not the model's")
        return text
    if limit.is_predicted:
        assert limit.profile is not None
        return (f"{label}: predicted latency {r.value:.2f} ms (the fastest call, {limit.profile.describe()}) exceeds "
                f"{limit.key} {limit.value:g} ms by {signed_percent(over)}")
    verb = "exceeds" if limit.bound == "max" else "is below"
    return f"{label}: {limit.metric} {r.value:,} {verb} {limit.key} {limit.value:,} by {signed_percent(over)}"


def delta_message(m: ModelResult, d: Delta, max_increase: Fraction) -> str:
    grew = f"{d.delta:+,}" + ("" if d.percent is None else f" ({signed_percent(d.percent, '+')})")
    return (f"{m.entry.label}: {d.metric} grew {grew} over the baseline {d.baseline:,} to {d.value:,}, "
            f"more than the allowed {percent_text(max_increase)}")


def group_message(m: ModelResult, g: BaselineGroup, max_increase: Fraction) -> str:
    """The headline metric's `delta_message`, and the metrics derived from it that changed with it."""
    moved = [f"{o.metric} {_change(o)}" for o in g.others if o.delta]
    return delta_message(m, g.headline, max_increase) + (f" (with it: {', '.join(moved)})" if moved else "")


def failure_messages(result: CheckResult) -> list[tuple[int | None, str]]:
    """(line, message) for every failed check, in file order."""
    out = []
    for m in result.models:
        out += [(r.limit.line, limit_message(m, r)) for r in m.limits if r.status == FAIL]
        out += [(m.entry.line, group_message(m, g, result.max_increase)) for g in m.groups or ()
                if g.status == FAIL]
    return out


def junit_report(result: CheckResult) -> str:
    """JUnit XML: a testsuite for the budget file, a testcase per model and limit (and per baseline metric)."""
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", name=result.file)
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    for m in result.models:
        for r in m.limits:
            case = _case(suite, m, r.limit.key, r.limit.line, counts)
            if r.status == FAIL:
                ET.SubElement(case, "failure", type="budget exceeded", message=limit_message(m, r))
                counts["failures"] += 1
            elif r.status == SKIP:
                ET.SubElement(case, "skipped", message=r.reason)
                counts["skipped"] += 1
            if r.warnings:
                ET.SubElement(case, "system-err").text = "\n".join(f"warning: {w}" for w in r.warnings)
        if result.baseline is not None and m.deltas is None:
            case = _case(suite, m, "baseline", m.entry.line, counts)
            ET.SubElement(case, "skipped", message=f"not in the baseline {result.baseline.file}")
            counts["skipped"] += 1
        for g in m.groups or ():
            case = _case(suite, m, f"baseline {g.metric}", m.entry.line, counts)
            if g.status == FAIL:
                ET.SubElement(case, "failure", type="grew over baseline",
                              message=group_message(m, g, result.max_increase))
                counts["failures"] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("errors", "0")
    attrs = {"name": "shufflecalc check", **{k: str(v) for k, v in counts.items()}, "errors": "0"}
    root = ET.Element("testsuites", attrs)
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _case(suite: Any, m: ModelResult, name: str, line: int | None, counts: dict[str, int]) -> Any:
    import xml.etree.ElementTree as ET

    counts["tests"] += 1
    attrs = {"classname": m.entry.label, "name": name, "file": suite.get("name")}
    if line is not None:
        attrs["line"] = str(line)
    return ET.SubElement(suite, "testcase", attrs)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(kind: str, file: str | None, line: int | None, title: str, message: str) -> str:
    """One GitHub Actions workflow command: ``::error file=F,line=L,title=T::message``."""
    props = [f"file={_escape_property(file)}"] if file else []
    if file and line is not None:
        props.append(f"line={line}")
    props.append(f"title={_escape_property(title)}")
    return f"::{kind} {','.join(props)}::{_escape_data(message)}"


def github_report(result: CheckResult, only_failures: bool = False) -> str:
    """An ::error annotation on the budget line of every failed check, a ::warning on the line of every latency
    limit whose timing drew a warning, then the plain table and summary."""
    lines = []
    for m in result.models:
        for r in m.limits:
            if r.status == FAIL:
                lines.append(annotation("error", result.file, r.limit.line, f"budget exceeded: {r.limit.key}",
                                        limit_message(m, r)))
        for g in m.groups or ():
            if g.status == FAIL:
                lines.append(annotation("error", result.file, m.entry.line, f"grew over baseline: {g.metric}",
                                        group_message(m, g, result.max_increase)))
    for m, r, w in result.warnings:
        lines.append(annotation("warning", result.file, r.limit.line, f"latency timing: {r.limit.key}",
                                f"{m.entry.label} {_budget_name(r)}: {w}"))
    lines = list(dict.fromkeys(lines))
    return "\n".join(lines) + ("\n" if lines else "") + text_report(result, only_failures)


def github_error(exc: ShufflecalcError) -> str:
    """An invalid budget file or spec as an annotation (the one-line error goes to stderr as well)."""
    return annotation("error", exc.file, exc.line, "invalid input", str(exc)) + "\n"
