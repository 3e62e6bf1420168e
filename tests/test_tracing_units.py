"""The tracing parts that need no server: the dropping export queue, the multiprocess
exemplars, the page's trace id in browser batches and error events."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from prometheus_client import CollectorRegistry, Histogram

from helpdesk.lib import outages, request_context
from helpdesk.monitoring.browser import payloads
from helpdesk.monitoring.errors import server
from helpdesk.monitoring.metrics import exemplars
from helpdesk.monitoring.tracing.export import DroppingSpanProcessor
from helpdesk.monitoring.tracing.metrics import SPANS_DROPPED

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class _Exporter(SpanExporter):
    """Holds every export until released; answers ``result``."""

    def __init__(self, result: SpanExportResult) -> None:
        self.result = result
        self.release = threading.Event()
        self.exported: list[str] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(10)
        self.exported.extend(span.name for span in spans)
        return self.result


def _sample(reason: str) -> float:
    for family in SPANS_DROPPED.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels["reason"] == reason:
                return sample.value
    return 0.0


def _provider(exporter: SpanExporter, queue: int, sampler: Any = None) -> TracerProvider:
    provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    provider.add_span_processor(
        DroppingSpanProcessor(exporter, max_queue_size=queue, schedule_delay_millis=10)
    )
    return provider


def test_it_drops_and_counts_spans_beyond_the_queue_without_waiting() -> None:
    exporter = _Exporter(SpanExportResult.SUCCESS)
    provider = _provider(exporter, queue=4)
    tracer = provider.get_tracer("test")
    before = _sample("queue_full")
    for index in range(10):
        with tracer.start_as_current_span(f"span {index}"):
            pass
    # The exporter holds its batch: the queue stays full and the rest are dropped.
    assert _sample("queue_full") - before >= 6
    exporter.release.set()
    provider.shutdown()
    assert exporter.exported  # what fit was exported
    assert len(exporter.exported) + (_sample("queue_full") - before) == 10


def test_it_counts_the_spans_of_a_failed_export(caplog: pytest.LogCaptureFixture) -> None:
    exporter = _Exporter(SpanExportResult.FAILURE)
    exporter.release.set()
    provider = _provider(exporter, queue=16)
    before = _sample("export_failed")
    outages.forget()
    for name in ("lost", "lost again"):
        with provider.get_tracer("test").start_as_current_span(name):
            pass
        provider.force_flush()
    provider.shutdown()
    assert _sample("export_failed") - before == 2
    # One line for the outage, not one per batch.
    lines = [r for r in caplog.records if "trace collector unavailable" in r.getMessage()]
    assert len(lines) == 1


def test_it_queues_nothing_when_sampling_is_off() -> None:
    exporter = _Exporter(SpanExportResult.SUCCESS)
    exporter.release.set()
    provider = _provider(exporter, queue=16, sampler=ALWAYS_OFF)
    with provider.get_tracer("test").start_as_current_span("unsampled") as span:
        assert not span.is_recording()
    provider.shutdown()
    assert exporter.exported == []


def _exemplars(path: str, route: str, value: float) -> dict[str, Any]:
    """Return le -> exemplar of a request-duration histogram observed once, as scraped."""
    registry = CollectorRegistry()
    histogram = Histogram(
        exemplars.FAMILY,
        "test",
        ["http_request_method", "http_route", "http_response_status_code"],
        buckets=(0.005, 0.25),
        registry=registry,
    )
    histogram.labels("GET", route, "200").observe(value)
    families = list(registry.collect())
    exemplars.attach(families, path)
    return {s.labels["le"]: s.exemplar for s in families[0].samples if s.exemplar}


def test_it_keeps_an_exemplar_per_bucket_for_the_scrape(tmp_path: Path) -> None:
    path = str(tmp_path)
    exemplars.record(("GET", "tests/kept/", "200"), 0.004, TRACE_ID, path)
    # Within the refresh interval the bucket keeps its exemplar.
    exemplars.record(("GET", "tests/kept/", "200"), 0.003, "f" * 32, path)
    marked = _exemplars(path, "tests/kept/", 0.004)
    assert list(marked) == ["0.005"]
    assert marked["0.005"].labels == {"trace_id": TRACE_ID}
    assert marked["0.005"].value == pytest.approx(0.004)


def test_it_replaces_an_exemplar_after_the_refresh_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path)
    monkeypatch.setattr(exemplars, "REFRESH_SECONDS", 0.0)
    exemplars.record(("GET", "tests/replaced/", "200"), 0.2, TRACE_ID, path)
    exemplars.record(("GET", "tests/replaced/", "200"), 0.2, "a" * 32, path)
    assert _exemplars(path, "tests/replaced/", 0.2)["0.25"].labels == {"trace_id": "a" * 32}


def test_it_takes_the_pages_trace_id_in_a_browser_batch() -> None:
    batch = payloads.performance({"traceId": TRACE_ID, "vitals": []}, time.time(), 300)
    assert batch.trace_id == TRACE_ID
    with pytest.raises(payloads.Invalid) as error:
        payloads.performance({"traceId": "not-a-trace"}, time.time(), 300)
    assert "traceId" in error.value.errors


def test_it_names_the_trace_in_error_events() -> None:
    with request_context.job_context("test"):
        assert "contexts" not in server.record_event(_record())
        request_context.bind(**{"trace.id": TRACE_ID, "span.id": "00f067aa0ba902b7"})
        event = server.record_event(_record())
    assert event["contexts"]["trace"] == {"trace_id": TRACE_ID, "span_id": "00f067aa0ba902b7"}


def _record() -> Any:
    import logging

    return logging.LogRecord("helpdesk.test", logging.ERROR, __file__, 1, "boom", (), None)


def test_it_sets_nothing_up_without_an_endpoint(settings: Any) -> None:
    from helpdesk.monitoring.tracing import setup

    assert settings.TRACING_ENABLED is False  # the test run sets no OTLP endpoint
    assert not any("tracing" in name for name in settings.MIDDLEWARE)
    assert setup.setup() is False


def test_it_samples_by_parent_then_ratio_unless_a_sampler_is_named(settings: Any) -> None:
    from helpdesk.monitoring.tracing import provider

    settings.TRACING_SAMPLER = ""
    settings.TRACING_SAMPLE_RATIO = 0.25
    sampler = provider._sampler()
    assert sampler is not None
    assert "ParentBased" in sampler.get_description()
    assert "0.25" in sampler.get_description()
    # A named sampler is the SDK's to read from OTEL_TRACES_SAMPLER, as the specification says.
    settings.TRACING_SAMPLER = "always_off"
    assert provider._sampler() is None


def test_it_drops_client_spans_outside_any_request_or_job() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON
    from opentelemetry.trace import SpanKind

    from helpdesk.monitoring.tracing.provider import NoOrphanClients

    exporter = _Exporter(SpanExportResult.SUCCESS)
    exporter.release.set()
    provider = _provider(exporter, queue=16, sampler=NoOrphanClients(ALWAYS_ON))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as orphan:
        assert not orphan.is_recording()
    with (
        tracer.start_as_current_span("job history"),
        tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as child,
    ):
        assert child.is_recording()
    provider.shutdown()
    assert sorted(exporter.exported) == ["SELECT", "job history"]
