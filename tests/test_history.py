"""The embedded metrics history: rollups, hours, pruning, the series cap, restarts, and the
query layer against known inputs (on the test database: SQLite, or PostgreSQL with
DATABASE_URL)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pytest
from django.test import override_settings
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from helpdesk.monitoring.history import query as q
from helpdesk.monitoring.history.collector import HistoryCollector
from helpdesk.monitoring.history.models import Point, SamplerState, Series
from helpdesk.monitoring.history.sampler import Sampler

T0 = 1_700_000_040.0 - 1_700_000_040.0 % 3600  # the start of an hour
BOUNDS = ["0.1", "0.5", "1.0", "+Inf"]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class App:
    """A registry whose values the test moves: requests by route and status, a histogram of
    durations, and a gauge."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], float] = {}
        self.buckets: dict[str, list[float]] = {}
        self.connections = 0.0
        self.fail = False

    def hit(self, route: str, status: str = "200", n: int = 1, seconds: float = 0.05) -> None:
        self.requests[(route, status)] = self.requests.get((route, status), 0.0) + n
        counts = self.buckets.setdefault(route, [0.0] * len(BOUNDS))
        for i, bound in enumerate(BOUNDS):
            if seconds <= float(bound):
                counts[i] += n

    def __call__(self) -> Iterable[Metric]:
        if self.fail:
            raise RuntimeError("collector broke mid-sample")
        counter = CounterMetricFamily("app_requests", "Requests.", labels=["route", "status"])
        for (route, status), value in sorted(self.requests.items()):
            counter.add_metric([route, status], value)
        histogram = HistogramMetricFamily("app_duration_seconds", "Durations.", labels=["route"])
        for route, counts in sorted(self.buckets.items()):
            histogram.add_metric(
                [route], list(zip(BOUNDS, counts, strict=True)), sum_value=counts[-1] * 0.05
            )
        gauge = GaugeMetricFamily("app_connections", "Connections.", value=self.connections)
        return [counter, histogram, gauge]


@pytest.fixture
def app() -> App:
    return App()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sampler(db: None, app: App, clock: Clock) -> Sampler:
    return Sampler(app, clock=clock, owner="worker-a")


def run(sampler: Sampler, clock: Clock, app: App, seconds: float, per_sample: Any) -> None:
    """Sample every 15 s for ``seconds``, calling ``per_sample(app)`` before each."""
    end = clock.now + seconds
    while clock.now < end:
        per_sample(app)
        sampler.sample()
        clock.now += 15


def counter_total(name: str, **labels: str) -> float:
    rows = Point.objects.filter(series__name=name, step=60)
    return sum(p.value for p in rows if all(p.series.labels.get(k) == v for k, v in labels.items()))


def test_it_stores_counter_increases_per_minute(sampler: Sampler, clock: Clock, app: App) -> None:
    app.hit("/a", n=100)  # before the first sample: a baseline, not an increase
    run(sampler, clock, app, 180, lambda a: a.hit("/a", n=3))
    sampler.sample()  # closes the third minute
    minutes = Point.objects.filter(series__name="app_requests_total", step=60).order_by("start")
    # 12 samples of 3 requests; the first sample only sets the baseline.
    assert [p.value for p in minutes] == [9.0, 12.0, 12.0]
    assert [p.start for p in minutes] == [T0, T0 + 60, T0 + 120]


def test_it_counts_a_counter_reset_as_the_new_value(
    sampler: Sampler, clock: Clock, app: App
) -> None:
    app.hit("/a", n=50)
    run(sampler, clock, app, 30, lambda a: a.hit("/a", n=5))
    app.requests[("/a", "200")] = 2.0  # the web server restarted
    run(sampler, clock, app, 30, lambda a: None)
    clock.now = T0 + 60
    sampler.sample()
    assert counter_total("app_requests_total") == 5 + 2


def test_it_stores_gauges_as_last_min_max(sampler: Sampler, clock: Clock, app: App) -> None:
    values = iter([4.0, 9.0, 1.0, 3.0])

    def move(a: App) -> None:
        a.connections = next(values)

    run(sampler, clock, app, 60, move)
    sampler.sample()
    point = Point.objects.get(series__name="app_connections", step=60)
    assert (point.value, point.low, point.high) == (3.0, 1.0, 9.0)


def test_it_stores_histogram_buckets_as_counters(sampler: Sampler, clock: Clock, app: App) -> None:
    app.hit("/a")
    run(sampler, clock, app, 60, lambda a: a.hit("/a", seconds=0.3))
    sampler.sample()
    buckets = {
        p.series.labels["le"]: p.value
        for p in Point.objects.filter(series__name="app_duration_seconds_bucket", step=60)
    }
    assert buckets == {"0.5": 3.0, "1.0": 3.0, "+Inf": 3.0}  # 0.1 had no increase: no row
    assert Series.objects.get(name="app_duration_seconds_bucket", labels__le="0.1").kind == (
        "counter"
    )


def test_it_rolls_up_hours_and_prunes_old_rows(sampler: Sampler, clock: Clock, app: App) -> None:
    app.hit("/a")
    app.connections = 5
    with override_settings(HISTORY_MINUTE_RETENTION_HOURS=1, HISTORY_HOUR_RETENTION_DAYS=1):
        run(sampler, clock, app, 3600, lambda a: a.hit("/a", n=2))
        sampler.sample()  # the first sample of the next hour rolls the first one up
        hour = Point.objects.get(series__name="app_requests_total", step=3600)
        assert (hour.start, hour.value) == (T0, 2 * 239)
        gauge = Point.objects.get(series__name="app_connections", step=3600)
        assert (gauge.value, gauge.low, gauge.high) == (5.0, 5.0, 5.0)
        # Two hours later the first hour's minutes are past their retention; a day later the
        # hour rows and series nobody reports are too.
        clock.now = T0 + 3 * 3600
        app.requests.clear()
        app.buckets.clear()
        sampler.sample()
        assert not Point.objects.filter(step=60, start__lt=T0 + 3600).exists()
        assert Point.objects.filter(step=3600).exists()
        clock.now = T0 + 30 * 3600
        sampler.sample()
        sampler.sample()
        assert not Point.objects.filter(step=3600, start=T0).exists()
        assert not Series.objects.filter(name="app_requests_total").exists()


def test_it_caps_series_and_counts_the_overflow(
    sampler: Sampler, clock: Clock, app: App, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(10):
        app.hit(f"/r{i}")
    with override_settings(HISTORY_MAX_SERIES=8), caplog.at_level(logging.WARNING):
        run(sampler, clock, app, 60, lambda a: [a.hit(f"/r{i}") for i in range(10)])
        sampler.sample()
        assert Series.objects.count() == 8
        families = {f.name: f for f in HistoryCollector().collect()}
    dropped = families["helpdesk_history_dropped_series"].samples[0].value
    # 10 request counters, 10 * 4 buckets, 10 counts, 10 sums, 1 gauge: 71 series, 8 stored.
    assert dropped == 71 - 8
    assert families["helpdesk_history_series"].samples[0].value == 8
    assert "metrics history is full" in caplog.text


def test_it_resumes_after_a_restart_without_losing_or_doubling(
    db: None, app: App, clock: Clock
) -> None:
    first = Sampler(app, clock=clock, owner="worker-a")
    app.hit("/a")
    run(first, clock, app, 90, lambda a: a.hit("/a", n=2))
    baseline = 3  # what the first sample saw
    # The worker dies mid-minute (its unwritten half minute is lost from memory); another
    # process takes over once the lease expires and starts from the written checkpoint.
    clock.now += 60
    app.hit("/a", n=10)
    second = Sampler(app, clock=clock, owner="worker-b")
    run(second, clock, app, 60, lambda a: a.hit("/a", n=1))
    clock.now += 60
    second.sample()
    # Every request after the first sample, once: the half minute the first worker lost
    # from memory is counted in the second worker's first minute.
    assert counter_total("app_requests_total") == app.requests[("/a", "200")] - baseline
    assert SamplerState.objects.get().owner == "worker-b"


def test_it_leaves_its_state_alone_when_a_sample_fails(
    sampler: Sampler, clock: Clock, app: App
) -> None:
    app.hit("/a")
    run(sampler, clock, app, 45, lambda a: a.hit("/a"))
    app.fail = True
    with pytest.raises(RuntimeError):
        sampler.sample()
    app.fail = False
    app.hit("/a")
    clock.now = T0 + 120
    sampler.sample()
    clock.now = T0 + 180
    sampler.sample()
    # Two increases in the first minute, one in the third: the failed sample changed nothing.
    assert counter_total("app_requests_total") == 3


def test_it_lets_one_worker_sample_at_a_time(sampler: Sampler, clock: Clock, app: App) -> None:
    assert sampler.sample()["sampled"]
    other = Sampler(app, clock=clock, owner="worker-b")
    assert other.sample() == {"sampled": False, "reason": "another worker holds the lease"}


# -- the query layer ---------------------------------------------------------------------------


@pytest.fixture
def traffic(sampler: Sampler, clock: Clock, app: App) -> q.EmbeddedBackend:
    """Ten minutes of steady traffic: per 15 s, /a gets 6 fast answers and 2 errors, /b gets
    2 slow answers; connections climb by one per sample."""
    app.hit("/a")
    app.hit("/b")

    def step(a: App) -> None:
        a.hit("/a", n=6, seconds=0.05)
        a.hit("/a", "500", n=2, seconds=0.05)
        a.hit("/b", n=2, seconds=0.7)
        a.connections += 1

    run(sampler, clock, app, 600, step)
    sampler.sample()
    return q.EmbeddedBackend(now=clock.now)


def values(answer: list[q.Value]) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(v.labels.items())): round(v.value, 6) for v in answer}


def test_it_answers_increase_and_rate_by_label(traffic: q.EmbeddedBackend) -> None:
    at = T0 + 600
    by_route = traffic.instant(q.increase("app_requests_total", 300, by=["route"]), at)
    assert values(by_route) == {(("route", "/a"),): 160.0, (("route", "/b"),): 40.0}
    rate = traffic.instant(q.rate('app_requests_total{route="/a"}', 300), at)
    assert values(rate) == {(): round(160 / 300, 6)}


def test_it_answers_from_the_last_written_minute_until_it_is_stale(
    traffic: q.EmbeddedBackend,
) -> None:
    written = SamplerState.objects.get(pk=1).checkpoint_at
    requests = q.increase("app_requests_total", 300, by=["route"])
    latest = values(traffic.instant(requests, written))
    assert latest
    # While the current minute is being sampled, the answer is the last written minute's.
    assert values(traffic.instant(requests, written + 59)) == latest
    # A sampler stopped for longer than the lookback answers nothing, not an old state.
    assert traffic.instant(requests, written + 301) == []


def test_it_answers_the_ratio_of_two_rates(traffic: q.EmbeddedBackend) -> None:
    errors = q.rate('app_requests_total{status=~"5.."}', 300, by=["route"])
    total = q.rate("app_requests_total", 300, by=["route"])
    # /b has no errors: no 5xx series, so no ratio (as in PromQL).
    assert values(traffic.instant(q.ratio(errors, total), T0 + 600)) == {(("route", "/a"),): 0.25}


def test_it_answers_histogram_quantiles(traffic: q.EmbeddedBackend) -> None:
    p95 = traffic.instant(q.quantile(0.95, "app_duration_seconds", 300, by=["route"]), T0 + 600)
    # /a: all in (0, 0.1] -> 0.095; /b: all in (0.5, 1.0] -> 0.5 + 0.5 * 0.95.
    assert values(p95) == {(("route", "/a"),): 0.095, (("route", "/b"),): 0.975}
    only_b = q.quantile(0.5, "app_duration_seconds", 300, where='route="/b"')
    assert values(traffic.instant(only_b, T0 + 600)) == {(): 0.75}


def test_it_answers_gauges_and_top_k(traffic: q.EmbeddedBackend) -> None:
    # The minute ending at T0 + 600 was last sampled at its fourth sample: 40 connections.
    assert values(traffic.instant(q.gauge("app_connections"), T0 + 600)) == {(): 40.0}
    top = traffic.instant(q.topk(1, q.increase("app_requests_total", 300, by=["route"])), T0 + 600)
    assert values(top) == {(("route", "/a"),): 160.0}


def test_it_answers_ranges_with_a_point_per_step(traffic: q.EmbeddedBackend) -> None:
    lines = traffic.range(q.rate("app_requests_total", 60, by=["route"]), T0 + 60, T0 + 900, 60)
    assert [line.labels for line in lines] == [{"route": "/a"}, {"route": "/b"}]
    # Nothing after the last written minute (T0 + 600); the first minute has the baseline.
    times = [t for t, _ in lines[0].points]
    assert times == [T0 + 60 * i for i in range(1, 11)]
    assert [round(v * 60) for _, v in lines[0].points] == [24] + [32] * 9


def test_it_writes_each_question_as_promql() -> None:
    errors = q.rate('http_requests_total{status=~"5.."}', 300, by=["route"])
    total = q.rate("http_requests_total", 300, by=["route"])
    assert q.ratio(errors, total).promql() == (
        '(sum by (route) (rate(http_requests_total{status=~"5.."}[5m]))) / '
        "(sum by (route) (rate(http_requests_total[5m])))"
    )
    assert q.quantile(0.99, "d", 3600, where='route="/a"').promql() == (
        'histogram_quantile(0.99, sum by (le) (rate(d_bucket{route="/a"}[1h])))'
    )
    assert q.topk(3, q.gauge("g", by=["x"], agg="max")).promql() == "topk(3, max by (x) (g))"


@pytest.mark.parametrize("selector", ["", "9name", 'a{b="c"', 'a{b~"c"}', 'a{b=~"("}', "a{b=c}"])
def test_it_refuses_bad_selectors(selector: str) -> None:
    with pytest.raises(q.QueryError):
        q.Selector.parse(selector)


def test_it_parses_escaped_matchers() -> None:
    selector = q.Selector.parse(r'a{ b = "x\"y" , c!~"1|2"}')
    assert selector.matches({"b": 'x"y', "c": "3"})
    assert not selector.matches({"b": 'x"y', "c": "2"})
    assert selector.promql() == r'a{b="x\"y",c!~"1|2"}'
