"""Events to log rows and back. Versioned JSON through pydantic; never pickle.

A row that will not decode stops the resume with an error naming the run and
the record: silently skipping it would rebuild a different run.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from harness.core import EVENT_TYPES, Event, RunStarted, event_adapter
from harness.errors import LogDecodeError
from harness.store._recorder import INTENT, Record


def encode(event: Event) -> str:
    # ``event.model_dump_json()`` with every option at its default, minus the wrapper's
    # argument passing (a third of its cost on a small event)
    return event.__pydantic_serializer__.to_json(event).decode()  # type: ignore[no-any-return]


def encode_intent(effect_id: str, tool: str, idempotency_key: str | None) -> str:
    return json.dumps({"effect_id": effect_id, "tool": tool, "idempotency_key": idempotency_key},
                      sort_keys=True)


def decode(run_id: str, records: list[Record]) -> tuple[list[Event], dict[str, dict[str, Any]]]:
    """Return the run's events in order, and its tool intents keyed by effect id."""
    events: list[Event] = []
    intents: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.kind == INTENT:
            try:
                intent = json.loads(rec.payload)
                intents[str(intent["effect_id"])] = intent
            except (ValueError, KeyError, TypeError) as err:
                raise LogDecodeError(run_id, rec.seq, f"bad tool intent: {err}") from None
            continue
        if rec.kind not in EVENT_TYPES:
            raise LogDecodeError(run_id, rec.seq, f"unknown record kind {rec.kind!r}")
        try:
            ev = event_adapter.validate_json(rec.payload)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise LogDecodeError(run_id, rec.seq, f"{rec.kind}: {where}: {first['msg']}") from None
        if ev.kind != rec.kind:
            raise LogDecodeError(run_id, rec.seq, f"row says {rec.kind!r}, payload is {ev.kind!r}")
        events.append(ev)
    if events and not isinstance(events[0], RunStarted):
        raise LogDecodeError(run_id, records[0].seq, "the log does not begin with run_started")
    return events, intents
