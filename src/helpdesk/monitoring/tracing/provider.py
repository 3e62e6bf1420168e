"""Build and install the tracer provider (``setup.setup()`` calls it when tracing is on).

``install()`` builds the provider from the
standard variables (the resource from ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``,
the sampler from ``OTEL_TRACES_SAMPLER``/``_ARG``, parent-based ratio when unset), exports over
OTLP/HTTP through ``export.DroppingSpanProcessor``, and instruments Django, psycopg and Redis.
It must run before Django builds its middleware chain (the Django instrumentation adds its
middleware to ``settings.MIDDLEWARE``) and before the first database connection.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from django.conf import settings
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from helpdesk.monitoring.tracing.export import DroppingSpanProcessor

logger = logging.getLogger(__name__)

# Probes and scrapes are not requests anyone wants to trace (a regex searched in the full URL).
EXCLUDED_URLS = r"^https?://[^/]+/(health/|metrics$|static/|favicon\.ico$)"

# The process that set tracing up (a forked child must set up its own).
_state: dict[str, int] = {}


class NoOrphanClients(Sampler):
    """Drop a client span (a query, a cache call, an HTTP call) that has no parent span.

    Outside a request or a job (a health check's thread, a background writer, start-up) each
    such call would be a one-span trace of its own: noise in the trace search and in the
    collector's budget. Every other decision is ``inner``'s.
    """

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def should_sample(  # noqa: PLR0917 (the SDK's signature)
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Return DROP for a parentless client span, else the inner sampler's decision."""
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self.inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """Name the sampler and the one it wraps."""
        return f"NoOrphanClients{{{self.inner.get_description()}}}"


def _sampler() -> Sampler | None:
    """Return the default sampler, or None to let the SDK read OTEL_TRACES_SAMPLER."""
    if settings.TRACING_SAMPLER:
        return None
    return ParentBasedTraceIdRatio(settings.TRACING_SAMPLE_RATIO)


def install(role: str) -> bool:
    """Set tracing up in this process; return True (also when it was already).

    ``role`` (``web`` or ``worker``) becomes the ``helpdesk.process.role`` resource attribute.
    Calling it again in the same process changes nothing.
    """
    if _state.get("pid") == os.getpid():
        return True
    _state["pid"] = os.getpid()
    # The environment (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME) wins over our defaults.
    ours = Resource(
        {
            SERVICE_NAME: "helpdesk",
            "service.version": settings.HELPDESK_VERSION,
            "deployment.environment.name": settings.HELPDESK_ENV,
            "helpdesk.process.role": role,
        }
    )
    resource = Resource.create().merge(ours).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource, sampler=_sampler())
    # The configured sampler (ours, or the SDK's from OTEL_TRACES_SAMPLER) decides; orphan
    # client spans are dropped first.
    provider.sampler = NoOrphanClients(provider.sampler)
    exporter = OTLPSpanExporter(timeout=settings.TRACING_EXPORT_TIMEOUT)
    provider.add_span_processor(
        DroppingSpanProcessor(
            exporter,
            max_queue_size=settings.TRACING_QUEUE_SIZE,
            schedule_delay_millis=settings.TRACING_SCHEDULE_DELAY_MS,
        )
    )
    # A failed export is reported once per interval (export.py); the exporter's own lines
    # (a warning per retry, an error per batch) would flood the log during a collector outage.
    logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument(
        tracer_provider=provider, excluded_urls=EXCLUDED_URLS, is_sql_commentor_enabled=False
    )
    PsycopgInstrumentor().instrument(tracer_provider=provider, enable_commenter=False)
    RedisInstrumentor().instrument(tracer_provider=provider)
    logger.info(
        "tracing on: exporting spans over OTLP/HTTP",
        extra={"event.action": "tracing_started", "labels": {"role": role}},
    )
    return True
