"""The one time-series query layer: what charts, rules and SLOs ask, from either backend.

Questions are small expressions, each also written as PromQL (``Expr.promql()``):

- ``increase(selector, window, by)`` / ``rate(...)``: ``sum by (by) (increase(sel[window]))``;
- ``ratio(a, b)``: ``(a) / (b)``, matched on the ``by`` labels (no value where ``b`` is 0);
- ``quantile(q, histogram, window, by, where)``: ``histogram_quantile(q, sum by (le, by)
  (rate(histogram_bucket{where}[window])))``;
- ``gauge(selector, by, agg)``: ``agg by (by) (selector)``, the last value of each series;
- ``topk(k, expr)``.

Selectors are PromQL's: ``name{label="v", other=~"5.."}`` (``=``, ``!=``, ``=~``, ``!~``,
regular expressions anchored as Prometheus anchors them). A backend answers ``instant(expr,
at)`` with ``Value``s and ``range(expr, start, end, step)`` with ``Line``s (points for a
chart). ``backend()`` is Prometheus's HTTP API when PROMETHEUS_URL is set, else the embedded
history (``EmbeddedBackend``), which answers up to the last minute the worker wrote and picks
hour rollups for ranges older than the minute retention or steps of an hour or more.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode

from django.conf import settings

from helpdesk.lib import http
from helpdesk.monitoring.history.models import Point, SamplerState, Series
from helpdesk.monitoring.history.sampler import HOUR, MINUTE

logger = logging.getLogger(__name__)

Labels = tuple[tuple[str, str], ...]
LOOKBACK_SECONDS = 300  # a gauge's last value counts this long, as Prometheus's staleness


class QueryError(Exception):
    """A query could not be answered (bad selector, backend unavailable); the message is safe
    to show."""


# -- selectors ---------------------------------------------------------------------------------

_SELECTOR = re.compile(r"\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*")
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector."""

    label: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        have = labels.get(self.label, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        found = re.fullmatch(self.value, have) is not None
        return found if self.op == "=~" else not found

    def promql(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.label}{self.op}"{escaped}"'


@dataclass(frozen=True)
class Selector:
    """A metric name and label matchers."""

    name: str
    matchers: tuple[Matcher, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Parse ``name{label="v",…}``; raises QueryError when it is not one."""
        found = _SELECTOR.fullmatch(text)
        if not found:
            raise QueryError(f"not a selector: {text!r}")
        name, inner = found.group(1), (found.group(2) or "").strip()
        matchers: list[Matcher] = []
        position = 0
        while position < len(inner):
            part = _MATCHER.match(inner, position)
            if not part:
                raise QueryError(f"bad label matcher in {text!r}")
            value = re.sub(r"\\(.)", r"\1", part.group(3))
            if part.group(2) in {"=~", "!~"}:
                try:
                    re.compile(value)
                except re.error as error:
                    raise QueryError(f"bad regular expression in {text!r}: {error}") from None
            matchers.append(Matcher(part.group(1), part.group(2), value))
            position = part.end()
        return cls(name, tuple(matchers))

    def with_name(self, name: str) -> Selector:
        return Selector(name, self.matchers)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def promql(self) -> str:
        if not self.matchers:
            return self.name
        return f"{self.name}{{{','.join(m.promql() for m in self.matchers)}}}"


def duration(seconds: int) -> str:
    """Write seconds as a PromQL duration (``5m``, ``1h``, ``90s``)."""
    if seconds % HOUR == 0:
        return f"{seconds // HOUR}h"
    if seconds % MINUTE == 0:
        return f"{seconds // MINUTE}m"
    return f"{seconds}s"


def _by(labels: Sequence[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


# -- expressions -------------------------------------------------------------------------------


class Expr(Protocol):
    """A question both backends answer."""

    def promql(self) -> str:
        """Return the expression in PromQL."""


@dataclass(frozen=True)
class Increase:
    """``sum by (by) (increase(selector[window]))``, per second when ``per_second``."""

    selector: Selector
    window: int
    by: tuple[str, ...] = ()
    per_second: bool = False

    def promql(self) -> str:
        function = "rate" if self.per_second else "increase"
        inner = f"{function}({self.selector.promql()}[{duration(self.window)}])"
        return f"sum{_by(self.by)} ({inner})"


@dataclass(frozen=True)
class Ratio:
    """``(numerator) / (denominator)``, matched on labels; no value where the denominator
    is 0."""

    numerator: Expr
    denominator: Expr

    def promql(self) -> str:
        return f"({self.numerator.promql()}) / ({self.denominator.promql()})"


@dataclass(frozen=True)
class Quantile:
    """The ``q`` quantile of a histogram's observations over ``window``, per ``by`` group."""

    q: float
    histogram: str
    window: int
    by: tuple[str, ...] = ()
    where: tuple[Matcher, ...] = ()

    @property
    def buckets(self) -> Increase:
        bucket = Selector(f"{self.histogram}_bucket", self.where)
        return Increase(bucket, self.window, ("le", *self.by), per_second=True)

    def promql(self) -> str:
        return f"histogram_quantile({self.q:g}, {self.buckets.promql()})"


@dataclass(frozen=True)
class Gauge:
    """``agg by (by) (selector)``: the last value of each series, aggregated."""

    selector: Selector
    by: tuple[str, ...] = ()
    agg: str = "sum"

    def promql(self) -> str:
        return f"{self.agg}{_by(self.by)} ({self.selector.promql()})"


@dataclass(frozen=True)
class TopK:
    """The ``k`` groups of ``expr`` with the highest values (at each step)."""

    k: int
    expr: Expr

    def promql(self) -> str:
        return f"topk({self.k}, {self.expr.promql()})"


_AGGREGATIONS: dict[str, Callable[[list[float]], float]] = {
    "sum": sum,
    "max": max,
    "min": min,
    "avg": lambda values: sum(values) / len(values),
}


def _selector(selector: str | Selector) -> Selector:
    return selector if isinstance(selector, Selector) else Selector.parse(selector)


def increase(selector: str | Selector, window: int, by: Sequence[str] = ()) -> Increase:
    """Return the increase of the counters matching ``selector`` over ``window`` seconds."""
    return Increase(_selector(selector), int(window), tuple(by))


def rate(selector: str | Selector, window: int, by: Sequence[str] = ()) -> Increase:
    """Return the per-second rate of the counters matching ``selector`` over ``window``."""
    return Increase(_selector(selector), int(window), tuple(by), per_second=True)


def ratio(numerator: Expr, denominator: Expr) -> Ratio:
    """Return ``numerator / denominator`` (e.g. two rates: the error ratio)."""
    return Ratio(numerator, denominator)


def quantile(
    q: float, histogram: str, window: int, by: Sequence[str] = (), where: str = ""
) -> Quantile:
    """Return the ``q`` quantile of ``histogram`` (its name without ``_bucket``) over
    ``window``; ``where`` holds label matchers as in a selector (``status=~"2.."``)."""
    if not 0 <= q <= 1:
        raise QueryError("a quantile is between 0 and 1")
    matchers = Selector.parse(f"{histogram}{{{where}}}").matchers if where else ()
    return Quantile(q, histogram, int(window), tuple(by), matchers)


def gauge(selector: str | Selector, by: Sequence[str] = (), agg: str = "sum") -> Gauge:
    """Return the gauges matching ``selector``, aggregated with ``agg`` (sum/max/min/avg)."""
    if agg not in _AGGREGATIONS:
        raise QueryError(f"unknown aggregation {agg!r}")
    return Gauge(_selector(selector), tuple(by), agg)


def topk(k: int, expr: Expr) -> TopK:
    """Return the ``k`` highest groups of ``expr``."""
    return TopK(int(k), expr)


# -- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One group's value at one time."""

    labels: dict[str, str]
    value: float


@dataclass
class Line:
    """One group's points ``(epoch seconds, value)`` over a range."""

    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)


class Backend(Protocol):
    """Where questions are answered."""

    name: str

    def instant(self, expr: Expr, at: float | None = None) -> list[Value]:
        """Return the expression's values at ``at`` (default now)."""

    def range(self, expr: Expr, start: float, end: float, step: int) -> list[Line]:
        """Return the expression's points every ``step`` seconds from ``start`` to ``end``."""


def backend() -> Backend:
    """Return Prometheus when PROMETHEUS_URL is set, else the embedded history."""
    if settings.PROMETHEUS_URL:
        return PrometheusBackend(settings.PROMETHEUS_URL)
    return EmbeddedBackend()


def quantile_of(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Return the ``q`` quantile from cumulative (upper bound, count) buckets, interpolating
    linearly inside the bucket as Prometheus's histogram_quantile does; None when empty."""
    items = sorted(buckets)
    if not items or items[-1][1] <= 0:
        return None
    rank = q * items[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in items:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


# -- the embedded backend ----------------------------------------------------------------------

Grid = dict[Labels, dict[int, float]]


def _group(labels: dict[str, str], by: Sequence[str]) -> Labels:
    return tuple((name, labels.get(name, "")) for name in by)


class EmbeddedBackend:
    """Answer from the history tables (see the module docstring)."""

    name = "embedded"

    def __init__(self, now: float | None = None) -> None:
        self._now = now

    def _written_until(self) -> int:
        state = SamplerState.objects.filter(pk=1).values_list("checkpoint_at", flat=True).first()
        return int(state or 0)

    def instant(self, expr: Expr, at: float | None = None) -> list[Value]:
        at = (self._now or time.time()) if at is None else at
        # The minute being sampled is not written yet: answer as of the last written minute,
        # as Prometheus answers from its last scrape, unless that is stale (a stopped sampler
        # answers nothing rather than an old state).
        written = self._written_until()
        if written < at <= written + LOOKBACK_SECONDS:
            at = written
        lines = self.range(expr, at, at, MINUTE)
        return [Value(line.labels, line.points[-1][1]) for line in lines if line.points]

    def range(self, expr: Expr, start: float, end: float, step: int) -> list[Line]:
        if step <= 0 or end < start:
            raise QueryError("a range needs start <= end and a positive step")
        if (end - start) / step > 11_000:
            raise QueryError("too many points: use a longer step")
        # The last written minute bounds every answer: later times have no data yet.
        end = min(end, self._written_until())
        step = max(MINUTE, int(step) // MINUTE * MINUTE)
        first = int(start) // MINUTE * MINUTE
        times = list(range(first, int(end) + 1, step)) if end >= first else []
        grid = self._evaluate(expr, times, step)
        return [
            Line({k: v for k, v in labels if v}, [(float(t), v) for t, v in sorted(values.items())])
            for labels, values in sorted(grid.items())
            if values
        ]

    def _resolution(self, earliest: int, step: int, window: int) -> int:
        now = self._now or time.time()
        too_old = earliest < now - settings.HISTORY_MINUTE_RETENTION_HOURS * HOUR
        return HOUR if too_old or (step >= HOUR and window >= HOUR) else MINUTE

    def _series(self, selector: Selector) -> dict[int, dict[str, str]]:
        rows = Series.objects.filter(name=selector.name).values_list("id", "labels")
        return {pk: labels for pk, labels in rows if selector.matches(labels)}

    def _evaluate(self, expr: Expr, times: list[int], step: int) -> Grid:
        if not times:
            return {}
        if isinstance(expr, Increase):
            return self._increase(expr, times, step)
        if isinstance(expr, Ratio):
            top = self._evaluate(expr.numerator, times, step)
            bottom = self._evaluate(expr.denominator, times, step)
            out: Grid = {}
            for labels, values in top.items():
                under = bottom.get(labels, {})
                out[labels] = {t: v / under[t] for t, v in values.items() if under.get(t)}
            return out
        if isinstance(expr, Quantile):
            return self._quantile(expr, times, step)
        if isinstance(expr, Gauge):
            return self._gauge(expr, times, step)
        if isinstance(expr, TopK):
            inner = self._evaluate(expr.expr, times, step)
            out = {labels: {} for labels in inner}
            for t in times:
                ranked = sorted(
                    ((values[t], labels) for labels, values in inner.items() if t in values),
                    reverse=True,
                )
                for value, labels in ranked[: expr.k]:
                    out[labels][t] = value
            return out
        raise QueryError(f"unknown expression {type(expr).__name__}")

    def _increase(self, expr: Increase, times: list[int], step: int) -> Grid:
        resolution = self._resolution(times[0] - expr.window, step, expr.window)
        series = self._series(expr.selector)
        if not series:
            return {}
        groups = {pk: _group(labels, expr.by) for pk, labels in series.items()}
        # Per group, the increases in slots of ``resolution`` seconds from ``base``, then
        # their running sums: each time's window is the difference of two of them.
        base = (times[0] - expr.window) // resolution * resolution
        slots = (times[-1] - base) // resolution + 1
        dense: dict[Labels, list[float]] = {group: [0.0] * slots for group in groups.values()}
        rows = Point.objects.filter(
            series_id__in=list(series),
            step=resolution,
            start__gte=base,
            start__lt=times[-1],
        ).values_list("series_id", "start", "value")
        for pk, begin, value in rows:
            dense[groups[pk]][(begin - base) // resolution] += value
        tail = self._hour_tails(groups, times) if resolution == HOUR else {}
        out: Grid = {}
        scale = 1 / expr.window if expr.per_second else 1.0
        for group, increases in dense.items():
            running = [0.0, *itertools.accumulate(increases)]
            values: dict[int, float] = {}
            for t in times:
                # Slots wholly inside [t - window, t).
                lo = -(-(t - expr.window - base) // resolution)
                hi = (t - base) // resolution
                total = running[hi] - running[lo] if hi > lo else 0.0
                values[t] = (total + tail.get(group, {}).get(t, 0.0)) * scale
            out[group] = values
        return out

    def _hour_tails(self, groups: dict[int, Labels], times: list[int]) -> Grid:
        """Return per group and time ``t`` the minute rows of the hour ``t`` falls in.

        Hour rows count only hours that closed by ``t``; without this tail a long window
        (an SLO's 3 or 30 days) would miss up to the last hour of increases.
        """
        partial = [t for t in times if t % HOUR]
        if not partial:
            return {}
        rows = Point.objects.filter(
            series_id__in=list(groups),
            step=MINUTE,
            start__gte=partial[0] // HOUR * HOUR,
            start__lt=partial[-1],
        ).values_list("series_id", "start", "value")
        sums: dict[Labels, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for pk, begin, value in rows:
            sums[groups[pk]][begin] += value
        out: Grid = {}
        for group, per_minute in sums.items():
            starts = sorted(per_minute)
            running = [0.0, *itertools.accumulate(per_minute[begin] for begin in starts)]
            out[group] = {
                t: running[bisect.bisect_left(starts, t)]
                - running[bisect.bisect_left(starts, t // HOUR * HOUR)]
                for t in partial
            }
        return out

    def _quantile(self, expr: Quantile, times: list[int], step: int) -> Grid:
        buckets = self._increase(expr.buckets, times, step)
        by_group: dict[Labels, dict[int, list[tuple[float, float]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for labels, values in buckets.items():
            le = float(labels[0][1])
            for t, value in values.items():
                by_group[labels[1:]][t].append((le, value))
        out: Grid = {}
        for group, per_time in by_group.items():
            out[group] = {}
            for t, items in per_time.items():
                found = quantile_of(expr.q, items)
                if found is not None:
                    out[group][t] = found
        return out

    def _gauge(self, expr: Gauge, times: list[int], step: int) -> Grid:
        resolution = self._resolution(times[0] - LOOKBACK_SECONDS, step, 0)
        series = self._series(expr.selector)
        if not series:
            return {}
        lookback = max(LOOKBACK_SECONDS, resolution)
        rows = Point.objects.filter(
            series_id__in=list(series),
            step=resolution,
            start__gte=times[0] - lookback,
            start__lt=times[-1],
        ).values_list("series_id", "start", "value")
        history: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for pk, begin, value in rows:
            history[pk].append((begin, value))
        collected: dict[Labels, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        for pk, points in history.items():
            points.sort()
            starts = [begin for begin, _ in points]
            group = _group(series[pk], expr.by)
            for t in times:
                # The latest row wholly before t, if it is recent enough.
                index = bisect.bisect_left(starts, t - resolution + 1) - 1
                if index >= 0 and starts[index] >= t - lookback:
                    collected[group][t].append(points[index][1])
        aggregate = _AGGREGATIONS[expr.agg]
        return {
            group: {t: float(aggregate(values)) for t, values in per_time.items()}
            for group, per_time in collected.items()
        }


# -- Prometheus --------------------------------------------------------------------------------


class PrometheusBackend:
    """Answer from Prometheus's HTTP API (``/api/v1/query`` and ``/api/v1/query_range``)."""

    name = "prometheus"
    max_bytes = 16 * 1024 * 1024

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str]) -> list[dict[str, object]]:
        try:
            # trusted: PROMETHEUS_URL is set by the operator, typically on the inside network.
            answer = http.request(
                "GET",
                f"{self.url}{path}?{urlencode(params)}",
                timeout=self.timeout,
                trusted=True,
                max_bytes=self.max_bytes,
            )
            body = answer.json()
        except (http.HttpError, ValueError):
            raise QueryError("Prometheus did not answer") from None
        if answer.status != 200 or body.get("status") != "success":
            logger.warning("Prometheus refused a query: %s", str(body.get("error", ""))[:200])
            raise QueryError("Prometheus refused the query")
        result = body["data"]["result"]
        return result if isinstance(result, list) else []

    def instant(self, expr: Expr, at: float | None = None) -> list[Value]:
        at = time.time() if at is None else at
        result = self._get("/api/v1/query", {"query": expr.promql(), "time": f"{at:.3f}"})
        values = []
        for item in result:
            pair = item["value"]
            number = float(pair[1]) if isinstance(pair, list) else math.nan
            if math.isfinite(number):
                values.append(Value(_labels(item), number))
        return values

    def range(self, expr: Expr, start: float, end: float, step: int) -> list[Line]:
        params = {
            "query": expr.promql(),
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": str(int(step)),
        }
        lines = []
        for item in self._get("/api/v1/query_range", params):
            points = [
                (float(t), float(v))
                for t, v in item["values"]  # type: ignore[attr-defined]
                if math.isfinite(float(v))
            ]
            if points:
                lines.append(Line(_labels(item), points))
        return sorted(lines, key=lambda line: sorted(line.labels.items()))


def _labels(item: dict[str, object]) -> dict[str, str]:
    metric = item.get("metric")
    if not isinstance(metric, dict):
        return {}
    return {str(k): str(v) for k, v in metric.items() if k != "__name__"}
