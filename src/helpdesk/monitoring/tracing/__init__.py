"""Distributed tracing with OpenTelemetry (docs/tracing.md).

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is
set (``settings.TRACING_ENABLED``); off, no SDK is set up and nothing here runs on a request.

- ``setup.setup()`` sets tracing up once per process (gunicorn's ``post_fork``, the worker
  command; off, it does not even import the SDK): ``provider.install`` builds the provider,
  exports over OTLP/HTTP through a bounded batch queue that drops (and counts
  drops in ``helpdesk_tracing_spans_dropped_total``) rather than blocking, and instruments
  Django (one span per request, named by its route), psycopg (one span per statement, SQL
  without parameter values) and Redis (cache calls).
- ``middleware.TraceContextMiddleware`` binds the request span's ids to the request context
  (log lines, error events and the request-duration exemplar read them from there), names the
  user and organization on the span, and answers ``Server-Timing: traceparent``.
- ``spans.job_span()`` runs a background job as the root of its own trace; ``spans.client_span()``
  wraps an outgoing HTTP request.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)
