"""The seven states of an agent run (the seed article's FSM, made explicit)."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    IDLE = "idle"
    PLANNING = "planning"
    EXECUTING = "executing"
    AWAITING_HUMAN = "awaiting_human"
    REFLECTING = "reflecting"
    DONE = "done"
    FAILED = "failed"


TERMINAL_STATES = frozenset({State.DONE, State.FAILED})
