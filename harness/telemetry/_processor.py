"""A span processor that batches like the SDK's ``BatchSpanProcessor`` but has no thread.

For an exporter that only writes a local file, the batch processor's worker thread buys
nothing: encoding a batch holds the GIL wherever it runs, so the thread only adds a
queue, a wake-up and a GIL hand-off per batch, and in a simulated suite those cost
more than the encoding itself. Here a batch is exported on the thread that ends the
span that fills it, or that ends a span after the batch has waited ``max_delay_s``.
Spans wait in memory no longer, and no more of them, than in the batch processor's
queue, so a killed run loses what it would have lost there. A network exporter
should keep the SDK's processor, whose thread keeps a slow collector off the event loop.

No thread also means a process holding one can still fork its workers (see
``harness.runner``).
"""

from __future__ import annotations

import threading
import time

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

DEFAULT_MAX_BATCH = 512
DEFAULT_MAX_DELAY_S = 5.0


class InlineBatchSpanProcessor(SpanProcessor):
    def __init__(self, exporter: SpanExporter, *, max_batch: int = DEFAULT_MAX_BATCH,
                 max_delay_s: float = DEFAULT_MAX_DELAY_S) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._exporter = exporter
        self._max_batch = max_batch
        self._max_delay_s = max_delay_s
        self._lock = threading.Lock()
        self._pending: list[ReadableSpan] = []
        self._first_at = 0.0
        self._shut = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None or not ctx.trace_flags.sampled:
            return
        with self._lock:
            if self._shut:
                return
            pending = self._pending
            pending.append(span)
            if len(pending) == 1:
                self._first_at = time.monotonic()
                if self._max_batch > 1:
                    return
            elif (len(pending) < self._max_batch
                  and time.monotonic() - self._first_at < self._max_delay_s):
                return
            self._pending = []
        self._exporter.export(pending)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            self._exporter.export(pending)
        return True

    def shutdown(self) -> None:
        with self._lock:
            if self._shut:
                return
            self._shut = True
            pending, self._pending = self._pending, []
        if pending:
            self._exporter.export(pending)
        self._exporter.shutdown()
