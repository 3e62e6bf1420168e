"""Hand finished spans to the collector without ever making a request wait for it.

``DroppingSpanProcessor`` puts sampled spans into the SDK's ``BatchSpanProcessor`` (a worker
thread exports them in batches), keeping count of the spans handed over and not yet exported.
When that count reaches the queue's size the span is dropped and counted instead: the batch
processor's own queue would also drop, but silently. A batch the exporter could not deliver
(collector down, refusing, or not answering within the exporter's timeout) is counted too,
and reported once per interval as the ``trace collector`` being unavailable
(``helpdesk.lib.outages``): the exporter's own lines are silenced (``provider``), or a
collector outage would write several lines a second per process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from helpdesk.lib import outages
from helpdesk.monitoring.tracing.metrics import DROP_REASONS, SPANS_DROPPED

logger = logging.getLogger(__name__)

# The SDK's default batch size; a smaller queue gets batches of its own size.
MAX_BATCH = 512


class ExportFailed(Exception):
    """The collector did not take a batch (down, refusing it, or too slow to answer)."""


class _CountingExporter(SpanExporter):
    """Tell the processor how many spans left the queue, and whether they were delivered."""

    def __init__(self, exporter: SpanExporter, processor: DroppingSpanProcessor) -> None:
        self.exporter = exporter
        self.processor = processor

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = SpanExportResult.FAILURE
        try:
            result = self.exporter.export(spans)
        finally:
            delivered = result is SpanExportResult.SUCCESS
            self.processor.exported(len(spans), delivered=delivered)
            if not delivered:
                outages.report("trace collector", ExportFailed(), source="span export")
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class DroppingSpanProcessor(SpanProcessor):
    """Export sampled spans in batches through a queue of at most ``max_queue_size`` spans.

    ``on_end`` never blocks: a span that does not fit is dropped and counted
    (``reason="queue_full"``); spans the exporter failed to deliver are counted as
    ``export_failed``. ``schedule_delay_millis`` is how long a partial batch waits.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        max_queue_size: int = 2048,
        schedule_delay_millis: float = 5000,
    ) -> None:
        self.max_queue_size = max_queue_size
        self._pending = 0
        self._lock = threading.Lock()
        for reason in DROP_REASONS:  # the series exist (at 0) before the first drop
            SPANS_DROPPED.labels(reason)
        self._batch = BatchSpanProcessor(
            _CountingExporter(exporter, self),
            max_queue_size=max_queue_size,
            max_export_batch_size=min(MAX_BATCH, max_queue_size),
            schedule_delay_millis=schedule_delay_millis,
        )

    @property
    def pending(self) -> int:
        """Return the number of spans queued or being exported."""
        return self._pending

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Do nothing: spans are only handed over when they end."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue ``span`` for export if it is sampled and fits; count it as dropped if not."""
        if span.context is None or not span.context.trace_flags.sampled:
            return
        with self._lock:
            if self._pending >= self.max_queue_size:
                full = True
            else:
                full = False
                self._pending += 1
        if full:
            SPANS_DROPPED.labels("queue_full").inc()
            return
        self._batch.on_end(span)

    def exported(self, count: int, delivered: bool) -> None:
        """Take ``count`` spans off the queue; count them as dropped unless ``delivered``."""
        with self._lock:
            self._pending = max(0, self._pending - count)
        if not delivered:
            SPANS_DROPPED.labels("export_failed").inc(count)

    def shutdown(self) -> None:
        """Export what is queued (bounded by the exporter's timeout) and stop the thread."""
        self._batch.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued now; return whether it finished within ``timeout_millis``."""
        return self._batch.force_flush(timeout_millis)
