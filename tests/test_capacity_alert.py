"""CapacityNearLimit in the embedded evaluator: the request rate against the measured
capacity, and requests in flight against the worker threads, read from the metrics history
through the query layer (the Prometheus path is tested by promtool, test_alert_rules.py)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Gauge

from helpdesk.monitoring.alerting import catalogue, sources
from helpdesk.monitoring.alerting.evaluator import DatabaseSink, Evaluator, Rule
from helpdesk.monitoring.alerting.models import Alert
from helpdesk.monitoring.history import query
from tests.metrics_history import Recorder
from tests.test_alerting_evaluator import http_histogram


def capacity() -> catalogue.AlertDef:
    return next(a for a in catalogue.all_alerts() if a.name == "CapacityNearLimit")


def test_it_builds_both_embedded_sources_from_the_catalogue_thresholds() -> None:
    values = catalogue.thresholds(capacity(), {"CapacityNearLimit": {"capacity_rps": 500}})
    rate = sources.capacity_rate(values)
    in_flight = sources.capacity_in_flight(values)
    assert rate.limit == pytest.approx(0.8 * 500)
    assert in_flight.limit == pytest.approx(0.9 * 8)
    assert {s.name for s in capacity().signals} == {"rate", "in_flight"}


@pytest.mark.django_db
def test_it_fires_on_a_request_rate_above_the_share_of_capacity() -> None:
    histogram, record, window = http_histogram()
    source = sources.RequestRateSource(window, limit=0.8 * 10)  # 80 % of 10 req/s
    record.at(0)
    for minute in range(1, 6):  # 7 req/s: under the limit
        for _ in range(7 * 60):
            histogram.labels("GET", "api/v1/tickets/", "200").observe(0.02)
        record.at(60 * minute)
    quiet = source.observe(record.now)[0]
    assert not quiet.bad and 5 < (quiet.value or 0) <= 7
    # The history answers up to the last written minute: the window lags one.
    for minute in range(6, 11):  # 9 req/s
        for _ in range(9 * 60):
            histogram.labels("GET", "api/v1/tickets/", "200").observe(0.02)
        record.at(60 * minute)
    busy = source.observe(record.now)[0]
    assert busy.bad and 8 < (busy.value or 0) <= 9
    assert "req/s" in busy.annotations["description"]


@pytest.mark.django_db
def test_it_fires_once_the_worker_threads_stay_busy_for_the_alerts_for() -> None:
    registry = CollectorRegistry()
    active = Gauge("http_server_active_requests", "In flight.", registry=registry)
    record = Recorder(registry)
    source = sources.InFlightSource(0.9 * 8, backend=query.EmbeddedBackend)
    active.set(5)
    assert not source.observe(record.at(0))[0].bad
    rule = Rule(
        "CapacityNearLimit", "warning", source, "threads busy", for_seconds=600, resolve_after=2
    )
    evaluator = Evaluator([rule], DatabaseSink(), clock=lambda: record.now)
    active.set(8)
    # Seen from 2m (the history answers up to the last written minute), pending for 10 min.
    for minute in range(1, 13):
        record.at(60 * minute)
        evaluator.evaluate()
        firing = Alert.objects.filter(name="CapacityNearLimit", status="firing").exists()
        assert firing == (minute >= 12), minute
    active.set(2)
    for minute in range(13, 17):
        record.at(60 * minute)
        evaluator.evaluate()
    assert Alert.objects.get(name="CapacityNearLimit").status == "resolved"
