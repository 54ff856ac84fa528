"""Parameter sweeps: comma lists of values per parameter, their cartesian product, one row per configuration.

A sweep never stops at an invalid configuration (a value outside a parameter's choices, channels that do not divide
into g groups, ...): the row carries the reason, the `ShufflecalcError` message, instead of numbers. Counts follow the
conventions of `cost.CONVENTIONS` (batch 1, exact integers), and of the other counters asked for (`peers`, sweep's
--convention NAME: a column and JSON key each, named by the convention). Pure: no torch, no printing.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from shufflecalc.analysis.cost import ALL_METRICS, CONVENTION_NAMES, HEADERS, METRICS, analyze
from shufflecalc.errors import ShufflecalcError
from shufflecalc.lists import comma_list
from shufflecalc.spec.load import Spec, format_value

METRIC_HEADERS: dict[str, str] = {
    **HEADERS,
    "macs_without_classifier": "MACs without FC",
    "params_without_classifier": "params without FC",
}
# A sweep must finish in well under a minute: the slowest built-in spec analyzes ~700 configurations per second cold.
MAX_CONFIGURATIONS = 20_000
MAX_LAYER_EVALUATIONS = 5_000_000  # configurations x layers per configuration, over the whole sweep
_RANGE = re.compile(r"^\s*([^:]+):([^:]+):([^:]+)\s*$")


def parse_values(text: str, option: str) -> list[str]:
    """A comma list of values; an item ``START:STOP:STEP`` is an inclusive numeric range (``160:224:32``)."""
    values: list[str] = []
    for item in comma_list(text, option):
        match = _RANGE.match(item)
        values.extend(_range(match.groups(), option) if match else [item])
    return list(dict.fromkeys(values))


def _range(parts: tuple[str, ...], option: str) -> list[str]:
    """An inclusive range of finite decimal numbers; at most MAX_CONFIGURATIONS values."""
    text = f"{option} {':'.join(p.strip() for p in parts)}"
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise ShufflecalcError(f"{text}: a range is START:STOP:STEP with numbers") from None
    if not all(d.is_finite() for d in (start, stop, step)):
        raise ShufflecalcError(f"{text}: a range needs finite numbers (not inf or nan)")
    try:
        if step <= 0 or stop < start:
            raise ShufflecalcError(f"{text}: a range needs STEP > 0 and STOP >= START")
        steps = (stop - start) / step
        if steps >= MAX_CONFIGURATIONS:
            raise ShufflecalcError(f"{text}: more than {MAX_CONFIGURATIONS:,} values is too many")
        return [_number_text(start + i * step) for i in range(int(steps) + 1)]
    except ArithmeticError:  # a decimal.Overflow or Underflow from exponents beyond the decimal context
        raise ShufflecalcError(f"{text}: a number is out of range") from None


def _number_text(d: Decimal) -> str:
    return str(int(d)) if d == d.to_integral_value() else format(d.normalize(), "f")


# --- planning and evaluating ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One configuration to analyze: a spec and the swept values that apply to it (raw text or values)."""

    spec: Spec
    values: Mapping[str, Any]
    conventions: tuple[str, ...] = ()  # the other counters' conventions to count too (peers names)


@dataclass(frozen=True)
class Row:
    """One configuration's result: metrics when valid, else the reason it is invalid."""

    model: str
    spec: str
    values: Mapping[str, Any]  # the swept parameters, typed when the configuration is valid
    config: Mapping[str, Any] | None  # every parameter (None when invalid)
    metrics: Mapping[str, int] | None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None

    def get(self, key: str) -> Any:
        if key == "model":
            return self.model
        if key == "error":
            return self.error
        if key in ALL_METRICS or key in CONVENTION_NAMES:
            return None if self.metrics is None else self.metrics.get(key)
        return self.values.get(key)


def plan(specs: Sequence[Spec], axes: Sequence[Mapping[str, Sequence[Any]]],
         conventions: Sequence[str] = ()) -> list[Point]:
    """The cartesian product of each spec's axes (parameter -> values), spec by spec, first axis outermost;
    `conventions`: the other counters' conventions each point counts too."""
    points: list[Point] = []
    for spec, spec_axes in zip(specs, axes, strict=False):
        names = list(spec_axes)
        combos = 1
        for name in names:
            combos *= len(spec_axes[name])
        if len(points) + combos > MAX_CONFIGURATIONS:
            raise ShufflecalcError(f"the sweep has more than {MAX_CONFIGURATIONS:,} configurations")
        for combo in itertools.product(*(spec_axes[n] for n in names)):
            points.append(Point(spec, dict(zip(names, combo, strict=False)), tuple(conventions)))
    return points


def evaluate(point: Point) -> Row:
    """Analyze one configuration: every metric of `cost.ALL_METRICS` and the point's conventions; a
    `ShufflecalcError` becomes the row's reason."""
    return _evaluate(point)[0]


def _evaluate(point: Point) -> tuple[Row, int]:
    """The row, and the number of layers the configuration has (0 when invalid)."""
    spec = point.spec
    try:
        a = analyze(spec, point.values)
    except ShufflecalcError as exc:
        return Row(spec.name, spec.source, dict(point.values), None, None, str(exc)), 0
    typed = {name: a.config[name] for name in point.values}
    metrics = a.metrics()
    if point.conventions:
        from shufflecalc.analysis.peers import totals

        metrics.update(totals(a.graph, point.conventions))
    return Row(spec.name, spec.source, typed, dict(a.config), metrics), len(a.graph.layers)


def run(points: Sequence[Point]) -> Iterator[Row]:
    """Evaluate points one by one (a generator, so that the caller can show progress).

    The size of the work is checked up front, per spec, from its first valid configuration: a sweep whose
    configurations times layers exceed `MAX_LAYER_EVALUATIONS` is refused before it runs for minutes."""
    per_spec = Counter(id(p.spec) for p in points)
    sized: set[int] = set()
    for point in points:
        row, layers = _evaluate(point)
        key = id(point.spec)
        if layers and key not in sized:
            sized.add(key)
            work = layers * per_spec[key]
            if work > MAX_LAYER_EVALUATIONS:
                raise ShufflecalcError(
                    f"the sweep is too large: {per_spec[key]:,} configurations of {point.spec.name} x {layers:,} "
                    f"layers each is more than {MAX_LAYER_EVALUATIONS:,} layer evaluations; sweep fewer values"
                )
        yield row


# --- the result -----------------------------------------------------------------------------------------------------


def known_columns(params: Sequence[str], conventions: Sequence[str] = ()) -> list[str]:
    """Every column key a sweep over `params` (counting `conventions` too) can show."""
    return ["model", *params, *ALL_METRICS, *conventions, "error"]


def parse_columns(text: str | None, params: Sequence[str], conventions: Sequence[str] = ()) -> list[str] | None:
    """Parse ``--columns`` (a comma list of column keys); None means the default columns."""
    if text is None:
        return None
    known = known_columns(params, conventions)
    chosen = [c.strip() for c in text.split(",") if c.strip()]
    for c in chosen:
        if c not in known:
            raise ShufflecalcError(f"--columns: unknown column '{c}' (columns: {', '.join(known)})")
    if not chosen:
        raise ShufflecalcError("--columns: no column given")
    return list(dict.fromkeys(chosen))


def check_sort(key: str | None, params: Sequence[str], conventions: Sequence[str] = ()) -> None:
    """Validate ``--sort KEY`` or ``--sort -KEY`` before any work."""
    if key:
        name = key[1:] if key.startswith("-") else key
        known = known_columns(params, conventions)
        if name not in known:
            raise ShufflecalcError(f"--sort: unknown column '{name}' (columns: {', '.join(known)})")


@dataclass
class Sweep:
    """The rows of a sweep and the swept parameter names, in option order."""

    params: list[str]
    rows: list[Row]
    invalid: int = 0  # invalid configurations, including those dropped by skip_invalid
    total: int = 0
    models: list[str] = field(default_factory=list)
    first_error: str | None = None
    conventions: list[str] = field(default_factory=list)  # the other counters' conventions counted (--convention)

    def default_columns(self) -> list[str]:
        error = ["error"] if any(not r.valid for r in self.rows) else []
        return ["model", *self.params, *METRICS, *self.conventions, *error]


def collect(params: Sequence[str], rows: Iterable[Row], skip_invalid: bool = False,
            conventions: Sequence[str] = ()) -> Sweep:
    """Gather evaluated rows; `skip_invalid` drops the invalid ones (they are still counted)."""
    sweep = Sweep(list(params), [], conventions=list(conventions))
    for row in rows:
        sweep.total += 1
        if row.model not in sweep.models:
            sweep.models.append(row.model)
        if not row.valid:
            sweep.invalid += 1
            sweep.first_error = sweep.first_error or row.error
            if skip_invalid:
                continue
        sweep.rows.append(row)
    return sweep


def sort_rows(sweep: Sweep, key: str | None) -> None:
    """Sort in place by a column key (``macs``, ``g``, ``model``...); ``-key`` sorts descending. Invalid
    configurations and rows without the column (a parameter a model does not declare) go last, in their order."""
    if not key:
        return
    check_sort(key, sweep.params, sweep.conventions)
    descending = key.startswith("-")
    name = key[1:] if descending else key

    def value(row: Row) -> tuple:
        v = row.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (0, v, "")
        return (1, 0, format_value(v))

    def has(row: Row) -> bool:
        return row.valid and row.get(name) is not None

    present = sorted((r for r in sweep.rows if has(r)), key=value, reverse=descending)
    sweep.rows = present + [r for r in sweep.rows if not has(r)]


__all__ = ["ALL_METRICS", "METRIC_HEADERS", "Point", "Row", "Sweep", "check_sort", "collect", "evaluate",
           "known_columns", "parse_columns", "parse_values", "plan", "run",
           "sort_rows"]
