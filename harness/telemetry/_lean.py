"""A lean implementation of the OpenTelemetry tracing API for the run folder's spans.

A suite records about ten spans a trial and hands them to span processors; that is
all it needs from a tracer. The SDK's ``TracerProvider`` also samples each span,
cleans every attribute under a lock into a bounded mapping, keeps a lock per span
and copies each span into a fresh ``ReadableSpan`` when it ends: together a few
times the cost of the span itself, and about a sixth of a simulated trial.

``LeanTracerProvider`` implements the same API (``opentelemetry.trace``), so
``RunTracer`` and any instrumentation written against the API use it unchanged,
and its spans *are* ``ReadableSpan``s, so every SDK span processor and exporter
(the batch processor, the OTLP exporter, the in-memory exporter) takes them as
they are. What it leaves out: sampling (every span is recorded and sampled), span
limits (a span keeps every attribute and event it is given) and the SDK's own
span metrics. Attribute values are kept as the API defines them (strings,
booleans, numbers, and sequences of those, stored as tuples); anything else is
stored as its ``str``.

Span and trace ids come from the ``random`` module, as the SDK's default id
generator draws them; the harness's own seeded draws never use that generator.
"""

from __future__ import annotations

import random
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import time_ns
from types import TracebackType
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)
_SCALARS = (str, bool, int, float)


def _clean(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list | tuple):
        return tuple(v if isinstance(v, _SCALARS) else str(v) for v in value)
    return str(value)


def _cleaned(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    if not attributes:
        return {}
    return {k: v if type(v) in _SCALARS else _clean(v) for k, v in attributes.items()}


def _random_id(bits: int) -> int:
    while True:
        value = random.getrandbits(bits)
        if value:
            return value


class LeanSpan(trace_api.Span, ReadableSpan):
    """A recording span; once ended, a ``ReadableSpan`` handed to every processor."""

    def __init__(self, name: str, context: SpanContext, parent: SpanContext | None,
                 provider: LeanTracerProvider, scope: InstrumentationScope, kind: SpanKind,
                 attributes: dict[str, Any], links: Sequence[Link], start_time: int,
                 record_exception: bool = True, set_status_on_exception: bool = True) -> None:
        ReadableSpan.__init__(self, name, context=context, parent=parent,
                              resource=provider.resource, attributes=attributes,
                              events=[], links=tuple(links), kind=kind, status=_UNSET,
                              start_time=start_time, instrumentation_scope=scope)
        self._provider = provider
        self._record_exception = record_exception
        self._set_status_on_exception = set_status_on_exception

    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> None:
        # as the SDK's span: an exception leaving a ``with span:`` block is recorded on it
        if exc_val is not None and self.is_recording():
            if self._record_exception:
                self.record_exception(exc_val, escaped=True)
            if self._set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        self.end()

    def get_span_context(self) -> SpanContext:
        context = self._context
        assert context is not None
        return context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._end_time is None:
            self._attributes.update(_cleaned(attributes))  # type: ignore[union-attr]

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._end_time is None:
            self._attributes[key] = _clean(value)  # type: ignore[index]

    def add_event(self, name: str, attributes: types.Attributes = None,
                  timestamp: int | None = None) -> None:
        if self._end_time is None:
            self._events.append(  # type: ignore[attr-defined]
                Event(name, _cleaned(attributes), time_ns() if timestamp is None else timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._end_time is None and context.is_valid:
            self._links = (*self._links, Link(context, _cleaned(attributes)))

    def update_name(self, name: str) -> None:
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # as the SDK: OK is final, and UNSET never replaces anything
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(self, exception: BaseException, attributes: types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        module = type(exception).__module__
        qualname = type(exception).__qualname__
        event: dict[str, Any] = {
            "exception.type": (f"{module}.{qualname}" if module and module != "builtins"
                               else qualname),
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            event.update(attributes)
        self.add_event("exception", event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            return
        self._end_time = time_ns() if end_time is None else end_time
        for processor in self._provider._processors:
            processor.on_end(self)


class LeanTracer(trace_api.Tracer):
    def __init__(self, provider: LeanTracerProvider, scope: InstrumentationScope) -> None:
        self._provider = provider
        self._scope = scope

    def start_span(self, name: str, context: Context | None = None,
                   kind: SpanKind = SpanKind.INTERNAL, attributes: types.Attributes = None,
                   links: Sequence[Link] | None = None, start_time: int | None = None,
                   record_exception: bool = True,
                   set_status_on_exception: bool = True) -> trace_api.Span:
        parent: SpanContext | None = trace_api.get_current_span(context).get_span_context()
        if parent is not None and parent.is_valid:
            own = SpanContext(parent.trace_id, _random_id(64), False, _SAMPLED,
                              parent.trace_state)
        else:
            parent = None
            own = SpanContext(_random_id(128), _random_id(64), False, _SAMPLED)
        span = LeanSpan(name, own, parent, self._provider, self._scope, kind,
                        _cleaned(attributes), links or (),
                        time_ns() if start_time is None else start_time,
                        record_exception, set_status_on_exception)
        for processor in self._provider._processors:
            processor.on_start(span, parent_context=context)  # type: ignore[arg-type]
        return span

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None, links: Sequence[Link] | None = None,
        start_time: int | None = None, record_exception: bool = True,
        set_status_on_exception: bool = True, end_on_exit: bool = True,
    ) -> Iterator[trace_api.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace_api.use_span(span, end_on_exit=end_on_exit,
                                record_exception=record_exception,
                                set_status_on_exception=set_status_on_exception) as current:
            yield current


class LeanTracerProvider(trace_api.TracerProvider):
    def __init__(self, resource: Resource | None = None) -> None:
        self.resource = resource if resource is not None else Resource.create({})
        self._processors: tuple[SpanProcessor, ...] = ()
        self._lock = threading.Lock()

    def add_span_processor(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._processors = (*self._processors, processor)

    def get_tracer(self, instrumenting_module_name: str,
                   instrumenting_library_version: str | None = None,
                   schema_url: str | None = None,
                   attributes: types.Attributes = None) -> trace_api.Tracer:
        return LeanTracer(self, InstrumentationScope(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes))

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all([p.force_flush(timeout_millis) for p in self._processors])

    def shutdown(self) -> None:
        for processor in self._processors:
            processor.shutdown()
