"""Records of the event log: append-only, one row per record, read back in order.

The ``Recorder`` seam that stores them is in ``harness.protocols``, with the others.

A record is either an event the core consumed (``kind`` is the event's kind) or a
``tool_intent`` written just before a side-effecting tool runs. Payloads are JSON
text; this layer never interprets them, so it cannot be what corrupts a run.
"""

from __future__ import annotations

from typing import NamedTuple

SCHEMA_VERSION = 1
INTENT = "tool_intent"


class Record(NamedTuple):
    seq: int
    kind: str
    payload: str
