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

from django.conf import settings
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio, Sampler

from helpdesk.monitoring.tracing.export import DroppingSpanProcessor

logger = logging.getLogger(__name__)

# Probes and scrapes are not requests anyone wants to trace (a regex searched in the full URL).
EXCLUDED_URLS = r"^https?://[^/]+/(health/|metrics$|static/|favicon\.ico$)"

# The process that set tracing up (a forked child must set up its own).
_state: dict[str, int] = {}


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
