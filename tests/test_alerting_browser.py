"""WebVitalsPoor in the embedded evaluator: p75 per metric and route over a sliding window of
the browser histograms (from the metrics history), with a floor of measurements, like the
Prometheus rule."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from helpdesk.monitoring.alerting.browser_rules import WebVitalsSource
from helpdesk.monitoring.alerting.rules import default_rules
from helpdesk.monitoring.browser.budget import CLS_BUCKETS, VITAL_BUCKETS
from helpdesk.monitoring.history import query
from tests.metrics_history import Recorder

THRESHOLDS = {"lcp": 4.0, "inp": 0.5, "cls": 0.25, "min_samples": 20}


def histograms() -> tuple[CollectorRegistry, Histogram, Histogram]:
    registry = CollectorRegistry()
    vitals = Histogram(
        "browser_web_vital_seconds",
        "vitals",
        ["metric", "route", "device"],
        buckets=VITAL_BUCKETS,
        registry=registry,
    )
    cls = Histogram(
        "browser_web_vital_cls", "cls", ["route", "device"], buckets=CLS_BUCKETS, registry=registry
    )
    return registry, vitals, cls


@pytest.mark.django_db
def test_it_flags_routes_whose_p75_is_poor_with_enough_measurements() -> None:
    registry, vitals, cls = histograms()
    vitals.labels("LCP", "/old", "desktop").observe(9.0)  # before the window: not counted
    source = WebVitalsSource(THRESHOLDS, backend=query.EmbeddedBackend)
    record = Recorder(registry)
    assert source.observe(record.at(0)) == []  # one sample is no window yet
    for _ in range(15):
        vitals.labels("LCP", "/tickets/:id", "mobile").observe(5.0)
        vitals.labels("LCP", "/tickets/:id", "desktop").observe(4.5)
        vitals.labels("LCP", "/", "desktop").observe(1.2)
        vitals.labels("FCP", "/", "desktop").observe(9.0)  # not an alerting metric
        cls.labels("/", "mobile").observe(0.4)
        cls.labels("/", "desktop").observe(0.3)
    for _ in range(5):
        vitals.labels("INP", "/reports", "desktop").observe(2.0)  # poor, but too few
    record.at(60)
    observed = {o.instance: o for o in source.observe(record.at(120))}
    assert {name for name, o in observed.items() if o.bad} == {"LCP:/tickets/:id", "CLS:/"}
    assert observed["LCP:/tickets/:id"].labels == {"metric": "LCP", "route": "/tickets/:id"}
    assert 4.0 < (observed["LCP:/tickets/:id"].value or 0) <= 6.0
    assert "over 30 page views" in observed["LCP:/tickets/:id"].annotations["description"]
    assert not observed["LCP:/"].bad
    assert not observed["INP:/reports"].bad
    assert "FCP:/" not in observed
    assert "LCP:/old" not in observed  # its one slow load happened before the window


@pytest.mark.django_db
def test_it_forgets_measurements_older_than_the_window() -> None:
    registry, vitals, _ = histograms()
    source = WebVitalsSource(THRESHOLDS, backend=query.EmbeddedBackend, window_seconds=900)
    record = Recorder(registry)
    record.at(0)
    for _ in range(30):
        vitals.labels("INP", "/", "desktop").observe(0.8)
    record.at(60)
    assert [o.bad for o in source.observe(record.at(120))] == [True]
    for minute in range(3, 19):
        for _ in range(30):
            vitals.labels("INP", "/", "desktop").observe(0.05)
        record.at(minute * 60)
    # 15 minutes of fast interactions later, the slow minute has left the window.
    assert [o.bad for o in source.observe(record.at(19 * 60))] == [False]


def test_it_is_a_rule_of_the_embedded_evaluator() -> None:
    rule = next(r for r in default_rules() if r.name == "WebVitalsPoor")
    assert rule.for_seconds == 15 * 60
    assert rule.severity == "warning"
    assert rule.runbook_url == "docs/runbooks/WebVitalsPoor.md"
