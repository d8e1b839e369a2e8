"""Every legal transition, in one table. No other code decides what is legal.

``TRANSITIONS[state][event_kind]`` is the set of states a run may be in after that
event. A missing key *is* the error: ``step`` raises ``IllegalTransition`` naming
the state and the event. Terminal states have no entries, so any event after the
end raises too. The README's diagram is drawn from this table (``harness diagram``).
"""

from __future__ import annotations

from harness.core._states import State

S = State

_WORKING = frozenset({S.EXECUTING, S.REFLECTING, S.AWAITING_HUMAN, S.FAILED})

TRANSITIONS: dict[State, dict[str, frozenset[State]]] = {
    S.IDLE: {
        # a budget too small for even the first planning call ends the run at once;
        # direct mode skips planning and starts its only step
        "run_started": frozenset({S.PLANNING, S.EXECUTING, S.FAILED}),
    },
    S.PLANNING: {
        # a valid plan starts executing; an invalid one is asked for again; a plan
        # whose every step is refused at once (budget slices) goes straight to reflection
        "model_replied": frozenset({S.PLANNING, *_WORKING}),
        "model_failed": frozenset({S.PLANNING, S.AWAITING_HUMAN, S.FAILED}),
    },
    S.EXECUTING: {
        # in direct mode (no planner, no reflection) the only step's final reply can
        # finish the run; a failed call or a tool result never finishes it as done
        "model_replied": _WORKING | {S.DONE},
        "model_failed": _WORKING,
        "tool_returned": _WORKING,
        # a person decides; or, with no wall time left to ask one, the run ends
        "side_effect_unknown": frozenset({S.AWAITING_HUMAN, S.FAILED}),
    },
    S.AWAITING_HUMAN: {
        # other sub-agents keep working while one waits for a person
        "model_replied": frozenset({S.AWAITING_HUMAN, S.FAILED}),
        "model_failed": frozenset({S.AWAITING_HUMAN, S.FAILED}),
        "tool_returned": frozenset({S.AWAITING_HUMAN, S.FAILED}),
        "side_effect_unknown": frozenset({S.AWAITING_HUMAN, S.FAILED}),
        "human_decided": frozenset(
            {S.AWAITING_HUMAN, S.PLANNING, S.EXECUTING, S.REFLECTING, S.DONE, S.FAILED}
        ),
    },
    S.REFLECTING: {
        # done, replan, escalate or fail; verification keeps the run in reflection
        "model_replied": frozenset(
            {S.REFLECTING, S.PLANNING, S.EXECUTING, S.AWAITING_HUMAN, S.DONE, S.FAILED}
        ),
        # a verification whose call failed counts as a failed verdict, which replans
        "model_failed": frozenset(
            {S.REFLECTING, S.PLANNING, S.EXECUTING, S.AWAITING_HUMAN, S.FAILED}
        ),
    },
    S.DONE: {},
    S.FAILED: {},
}


def allowed(state: State, event_kind: str) -> frozenset[State] | None:
    """The states ``event_kind`` may lead to from ``state``; ``None``: not allowed at all."""
    return TRANSITIONS[state].get(event_kind)


def mermaid() -> str:
    """The table as a Mermaid state diagram, for the docs."""
    lines = ["stateDiagram-v2", "    [*] --> idle"]
    edges: dict[tuple[str, str], list[str]] = {}
    for src, by_event in TRANSITIONS.items():
        for kind, targets in by_event.items():
            for target in sorted(targets):
                edges.setdefault((src.value, target.value), []).append(kind)
    for (a, b), kinds in sorted(edges.items()):
        lines.append(f"    {a} --> {b}: {', '.join(sorted(kinds))}")
    lines += ["    done --> [*]", "    failed --> [*]"]
    return "\n".join(lines)
