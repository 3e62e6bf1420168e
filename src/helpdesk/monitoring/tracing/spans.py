"""Spans the product starts itself, and the trace ids it shares with logs, errors and metrics.

The request span comes from the Django instrumentation, database and cache spans from the
psycopg and Redis instrumentations. ``helpdesk.lib.http`` makes a client span per outgoing
request. Here: ``job_span()`` (a background job as the root of its own trace) and
``bind_ids()``, which puts a sampled span's ids into the request context as the ECS fields
``trace.id``, ``span.id`` and ``transaction.id`` (logging maps them onto every line; error
events and the request-duration exemplar read them from there). Without the SDK set up, the
OpenTelemetry API hands out non-recording spans and nothing is bound.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from helpdesk.lib import request_context

logger = logging.getLogger(__name__)

_tracer = trace.get_tracer(__name__)


def bind_ids(span: Span) -> None:
    """Bind ``span``'s trace id and its id (as span and transaction id) if it is sampled."""
    context = span.get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return
    span_id = trace.format_span_id(context.span_id)
    request_context.bind(
        **{
            "trace.id": trace.format_trace_id(context.trace_id),
            "span.id": span_id,
            "transaction.id": span_id,
        }
    )


def traceparent(span: Span) -> str | None:
    """Return ``span``'s W3C traceparent (``00-<trace>-<span>-01``), None unless sampled."""
    context = span.get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    trace_id = trace.format_trace_id(context.trace_id)
    return f"00-{trace_id}-{trace.format_span_id(context.span_id)}-01"


@contextmanager
def job_span(name: str) -> Iterator[Span]:
    """Run a background job as the root span of a new trace named ``job <name>``.

    Call it inside the job's ``job_context``: the ids are bound there for the job's log lines.
    An exception marks the span as failed and propagates.
    """
    with _tracer.start_as_current_span(
        f"job {name}", context=Context(), kind=SpanKind.INTERNAL, attributes={"helpdesk.job": name}
    ) as span:
        bind_ids(span)
        yield span


def mark_failed(span: Span, error: BaseException) -> None:
    """Mark ``span`` failed with the error's class (its message may hold data, so not that)."""
    span.set_attribute("error.type", type(error).__name__)
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
