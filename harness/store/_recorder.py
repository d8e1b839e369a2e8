"""The storage seam for event logs: append-only, one row per record, read back in order.

A record is either an event the core consumed (``kind`` is the event's kind) or a
``tool_intent`` written just before a side-effecting tool runs. Payloads are JSON
text; this layer never interprets them, so it cannot be what corrupts a run.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

SCHEMA_VERSION = 1
INTENT = "tool_intent"


class Record(NamedTuple):
    seq: int
    kind: str
    payload: str


class Recorder(Protocol):
    def open_run(self, run_id: str, meta: dict[str, Any] | None = None) -> None:
        """Create the run if new (idempotent), so a resume can reopen it."""

    def append(self, run_id: str, seq: int, kind: str, payload: str) -> None:
        """Add one record. ``seq`` must be the next number: a gap or a repeat is refused."""

    def flush(self, run_id: str | None = None) -> None:
        """Make what was appended so far durable (one commit): every run's, or only
        ``run_id``'s. A run flushes its own records alone, so what a crash of that run
        loses never depends on when the runs sharing the recorder happened to commit."""

    def discard(self, run_id: str) -> None:
        """Drop one run's unflushed records, as if that run's process had died."""

    def abandon(self) -> None:
        """Drop what was appended but not flushed, as a killed process would, and close."""

    def read_run(self, run_id: str) -> list[Record]: ...

    def run_ids(self) -> list[str]: ...

    def close(self) -> None: ...
