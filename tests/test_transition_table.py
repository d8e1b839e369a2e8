"""The transition table, pinned from outside: written out here by hand, not read from
``TRANSITIONS``, so a widened (or narrowed) table fails a test.

Three things are held:

- the table is exactly ``DESIGN`` below (every (state, event) pair the design allows,
  with every state the run may be in afterwards);
- every pair the design does not allow raises ``IllegalTransition`` when fed to the
  machine, and any event after ``done``/``failed`` raises ``TerminalRun``;
- where the target is computed (from the run's ``phase``, its budgets, its pending
  approvals), a scripted walk pins which target each case reaches, and together the
  walks reach every target of every allowed pair: none is there "just in case".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers import QUIET, Stepper, make_config, make_roles, plan_step, text, tool_use

import harness.core._machine as machine_module
from harness.core import (
    TRANSITIONS,
    EscalationRules,
    HumanDecided,
    Machine,
    ModelFailed,
    ModelReplied,
    ModelResponse,
    RunLimits,
    RunStarted,
    SideEffectUnknown,
    State,
    ToolReturned,
    Usage,
    mermaid,
    step,
)
from harness.errors import IllegalTransition, RuntimeFault, TerminalRun

# the states, short, so the table below reads as a table (Z: idle, the run's zero state)
Z, P, E, A, R, D, F = ("idle", "planning", "executing", "awaiting_human", "reflecting", "done",
                       "failed")

#: What the design allows, by hand (README "States"; a run ends in done or failed only):
DESIGN: dict[str, dict[str, set[str]]] = {
    Z: {
        # plan mode plans first; direct mode starts its only step; a budget too small for
        # the first call ends the run at once
        "run_started": {P, E, F},
    },
    P: {
        # a valid plan executes; an invalid one is asked for again (or, the last attempt,
        # fails the run); a plan whose every step is refused at once reflects; the reply
        # can cross the budget alert, which asks a person
        "model_replied": {P, E, R, A, F},
        # retried, escalated (budget alert), or a failed planning call fails the run
        "model_failed": {P, A, F},
    },
    E: {
        # direct mode: the only step's final reply can finish the run (no verifier)
        "model_replied": {E, R, A, D, F},
        # a failed call or a tool result never finishes a run as done: only a reply can
        "model_failed": {E, R, A, F},
        "tool_returned": {E, R, A, F},
        # a person decides; or, with no wall time left to ask one, the run ends
        "side_effect_unknown": {A, F},
    },
    A: {
        # other sub-agents keep working while one waits for a person; their work can only
        # keep the run waiting, or end it (budget); never finish it while a person waits
        "model_replied": {A, F},
        "model_failed": {A, F},
        "tool_returned": {A, F},
        "side_effect_unknown": {A, F},
        # the decision returns the run to its phase, or moves it on
        "human_decided": {A, P, E, R, D, F},
    },
    R: {
        # done, replan (plan mode: planning; direct mode: executing again), escalate,
        # fail; starting verification or asking again keeps the run in reflection
        "model_replied": {R, P, E, A, D, F},
        # a failed verification call counts as a failed verdict (replan); a failed
        # reflection call is retried or fails the run; never done
        "model_failed": {R, P, E, A, F},
    },
    D: {},
    F: {},
}

EVENT_KINDS = ("run_started", "model_replied", "model_failed", "tool_returned",
               "human_decided", "side_effect_unknown")


def _triples(table: dict[str, dict[str, set[str]]]) -> set[tuple[str, str, str]]:
    return {(s, k, t) for s, by in table.items() for k, ts in by.items() for t in ts}


def test_the_table_is_the_design() -> None:
    actual = {s.value: {k: {t.value for t in ts} for k, ts in by.items()}
              for s, by in TRANSITIONS.items()}
    assert actual == DESIGN


def test_the_diagram_draws_the_design() -> None:
    edges: dict[tuple[str, str], set[str]] = {}
    for (src, kind, target) in _triples(DESIGN):
        edges.setdefault((src, target), set()).add(kind)
    body = [f"    {a} --> {b}: {', '.join(sorted(kinds))}" for (a, b), kinds in sorted(edges.items())]
    assert mermaid().splitlines() == ["stateDiagram-v2", "    [*] --> idle", *body,
                                      "    done --> [*]", "    failed --> [*]"]
    assert "    executing --> done: model_replied" in body
    assert "    planning --> failed: model_failed, model_replied" in body


# --- the walks: each computed target pinned to a case that reaches it ----------------------

PROD = QUIET.model_copy(update={"production_actions": True})
ONE_FAILURE = QUIET.model_copy(update={"max_failures": 1})
DIRECT = {"mode": "direct"}


def _alert_at(fraction: float) -> EscalationRules:
    return QUIET.model_copy(update={"budget_fraction": fraction})


def plain() -> Stepper:
    s = Stepper(make_config())
    s.plan([plan_step("s1", "research")])
    s.reply(s.one("call_model", "s1"), [text("found")])
    s.reflect("done")
    s.verdict("pass")
    return s


def direct_without_verifier() -> Stepper:
    s = Stepper(make_config(verification=False, orchestrator=DIRECT))
    s.reply(s.one("call_model", "main"), [text("the answer")])
    return s


def no_budget_for_the_first_call() -> Stepper:
    return Stepper(make_config(limits=RunLimits(llm_calls=0)))


def invalid_plans() -> Stepper:
    s = Stepper(make_config(orchestrator={"max_plan_attempts": 2}))
    s.plan([])
    s.plan([{"id": "s1", "role": "nobody", "instruction": "x"}])
    return s


def every_step_refused() -> Stepper:
    roles = make_roles(research={"limits": RunLimits(llm_calls=0)})
    s = Stepper(make_config(roles=roles))
    s.plan([plan_step("s1", "research")])  # its slice has no call: straight to reflection
    return s


def every_step_refused_then_reflection_fails() -> Stepper:
    s = every_step_refused()
    s.reflect("fail", reason="nothing could run")
    return s


def budget_alert_on_the_plan_then_run_out() -> Stepper:
    s = Stepper(make_config(limits=RunLimits(llm_calls=2), escalation=_alert_at(0.5)))
    s.plan([plan_step("s1", "research")])  # 1 of 2 calls: the alert holds the step back
    s.decide(s.one("request_human"), "approve")
    s.reply(s.one("call_model", "s1"), [text("found")])  # reflecting needs a third call
    return s


def planning_call_retried_then_fails() -> Stepper:
    s = Stepper(make_config())
    s.fail(s.one("call_model"), "overloaded")
    s.fail(s.one("call_model"), "invalid_request")
    return s


def budget_alert_on_a_failed_plan_call_then_denied() -> Stepper:
    s = Stepper(make_config(limits=RunLimits(llm_calls=2), escalation=_alert_at(0.5)))
    s.fail(s.one("call_model"), "overloaded")  # counted: 1 of 2, the retry is held back
    s.decide(s.one("request_human"), "deny")
    return s


def tools_and_parallel_steps_then_replan() -> Stepper:
    s = Stepper(make_config())
    s.plan([plan_step("s1", "research"), plan_step("s2", "communication")])
    s.reply(s.one("call_model", "s1"), [tool_use("lookup", {"query": "q"}, "l1")], "tool_use")
    s.tool(s.one("run_tool", "s1"), {"found": "x"})
    s.reply(s.one("call_model", "s2"), [text("written")])  # s1 still running
    s.reply(s.one("call_model", "s1"), [text("found")])
    s.reflect("replan", reason="try again")
    return s


def production_action_approved() -> Stepper:
    s = Stepper(make_config(escalation=PROD))
    s.plan([plan_step("s1", "code")])
    s.reply(s.one("call_model", "s1"), [tool_use("deploy", {"text": "v2"}, "d1")], "tool_use")
    s.decide(s.one("request_human"), "approve")
    s.tool(s.one("run_tool", "s1"), {"ok": True})
    return s


def run_out_after_a_tool() -> Stepper:
    s = Stepper(make_config(limits=RunLimits(llm_calls=2)))
    s.plan([plan_step("s1", "research")])
    s.reply(s.one("call_model", "s1"), [tool_use("lookup", {"query": "q"}, "l1")], "tool_use")
    s.tool(s.one("run_tool", "s1"), {"found": "x"})  # the step's next call would be a third
    return s


def step_call_retried_then_failed_then_reflection_calls_fail() -> Stepper:
    s = Stepper(make_config())
    s.plan([plan_step("s1", "research")])
    s.fail(s.one("call_model", "s1"), "overloaded")
    s.fail(s.one("call_model", "s1"), "invalid_request")  # the only step failed: reflect
    s.fail(s.one("call_model", "orchestrator"), "overloaded")
    s.fail(s.one("call_model", "orchestrator"), "invalid_request")
    return s


def direct_step_call_fails() -> Stepper:
    s = Stepper(make_config(verification=False, orchestrator=DIRECT))
    s.fail(s.one("call_model", "main"), "invalid_request")
    return s


def failed_step_call_escalates_then_reflects() -> Stepper:
    s = Stepper(make_config(escalation=ONE_FAILURE))
    s.plan([plan_step("s1", "research")])
    s.fail(s.one("call_model", "s1"), "invalid_request")  # reflection held back
    s.decide(s.one("request_human"), "approve")
    return s


def turn_limit_after_a_tool() -> Stepper:
    s = Stepper(make_config(roles=make_roles(research={"max_turns": 1})))
    s.plan([plan_step("s1", "research")])
    s.reply(s.one("call_model", "s1"), [tool_use("lookup", {"query": "q"}, "l1")], "tool_use")
    s.tool(s.one("run_tool", "s1"), {"found": "x"})
    return s


def tool_error_escalates_then_denied() -> Stepper:
    s = Stepper(make_config(escalation=ONE_FAILURE))
    s.plan([plan_step("s1", "research")])
    s.reply(s.one("call_model", "s1"), [tool_use("broken", {}, "b1")], "tool_use")
    s.tool(s.one("run_tool", "s1"), {"error": "down"}, is_error=True)
    s.decide(s.one("request_human"), "deny")
    return s


def side_effect_unknown(late: bool) -> Stepper:
    s = Stepper(make_config(limits=RunLimits(wall_time_s=10)))
    s.plan([plan_step("s1", "code")])
    s.reply(s.one("call_model", "s1"), [tool_use("fragile", {"text": "hi"}, "f1")], "tool_use")
    at = 20.0 if late else s.at()
    s.send(SideEffectUnknown(effect_id=s.one("run_tool", "s1").effect_id, at=at))
    return s


def _one_waits_one_works(limits: RunLimits | None = None, second_role: str = "research"
                         ) -> Stepper:
    """s1 waits for a person to approve ``deploy`` while s2 goes on working."""
    s = Stepper(make_config(escalation=PROD, limits=limits))
    s.plan([plan_step("s1", "code"), plan_step("s2", second_role)])
    s.reply(s.one("call_model", "s1"), [tool_use("deploy", {"text": "v2"}, "d1")], "tool_use")
    return s


def others_work_while_one_waits() -> Stepper:
    s = _one_waits_one_works()
    s.reply(s.one("call_model", "s2"), [tool_use("lookup", {"query": "q"}, "l1")], "tool_use")
    s.tool(s.one("run_tool", "s2"), {"found": "x"})
    s.fail(s.one("call_model", "s2"), "overloaded")
    s.reply(s.one("call_model", "s2"), [text("found")])
    s.decide(s.one("request_human", "s1"), "approve")
    return s


def run_out_by_a_reply_while_one_waits() -> Stepper:
    s = _one_waits_one_works(RunLimits(llm_calls=3))
    s.reply(s.one("call_model", "s2"), [tool_use("nope", {}, "n1")], "tool_use")
    return s


def run_out_by_a_failed_call_while_one_waits() -> Stepper:
    s = _one_waits_one_works(RunLimits(llm_calls=3))
    s.fail(s.one("call_model", "s2"), "overloaded")
    return s


def run_out_after_a_tool_while_one_waits() -> Stepper:
    s = _one_waits_one_works(RunLimits(llm_calls=3))
    s.reply(s.one("call_model", "s2"), [tool_use("lookup", {"query": "q"}, "l1")], "tool_use")
    s.tool(s.one("run_tool", "s2"), {"found": "x"})
    return s


def side_effect_unknown_while_one_waits(late: bool) -> Stepper:
    s = _one_waits_one_works(RunLimits(wall_time_s=10), second_role="code")
    s.reply(s.one("call_model", "s2"), [tool_use("fragile", {"text": "hi"}, "f1")], "tool_use")
    at = 20.0 if late else s.at()
    s.send(SideEffectUnknown(effect_id=s.one("run_tool", "s2").effect_id, at=at))
    if not late:
        s.decide(s.one("request_human", "s1"), "approve")  # s2's question still open
    return s


def the_agent_asks_for_help_and_gets_a_new_plan() -> Stepper:
    s = Stepper(make_config())
    s.plan([plan_step("s1", "research")])
    s.reply(s.one("call_model", "s1"), [text("found")])
    s.reflect("escalate", reason="stuck")
    s.decide(s.one("request_human"), "approve")
    return s


def low_confidence_answer_given_by_a_person() -> Stepper:
    s = Stepper(make_config(escalation=QUIET.model_copy(update={"min_confidence": 0.7})))
    s.plan([plan_step("s1", "research")])
    s.reply(s.one("call_model", "s1"), [text("found")])
    s.reflect("done", confidence=0.4)
    s.decide(s.one("request_human"), "edit", {"answer": "42"})
    return s


def direct_verification(fail_call: bool) -> Stepper:
    s = Stepper(make_config(orchestrator=DIRECT))
    s.reply(s.one("call_model", "main"), [text("the answer")])  # verified next
    verify = s.one("call_model", "verify-1")
    if fail_call:
        s.fail(verify, "invalid_request")  # unverified: the task runs again
    else:
        s.verdict("fail")
    return s


def verification_call_fails(escalation: EscalationRules) -> Stepper:
    s = Stepper(make_config(escalation=escalation))
    s.plan([plan_step("s1", "research")])
    s.reply(s.one("call_model", "s1"), [text("found")])
    s.reflect("done")
    s.fail(s.one("call_model", "verify-1"), "invalid_request")
    return s


#: Each walk with the state after each of its events, in order.
WALKS: dict[str, tuple[Callable[[], Stepper], list[str]]] = {
    "plain": (plain, [P, E, R, R, D]),
    "direct_without_verifier": (direct_without_verifier, [E, D]),
    "no_budget_for_the_first_call": (no_budget_for_the_first_call, [F]),
    "invalid_plans": (invalid_plans, [P, P, F]),
    "every_step_refused": (every_step_refused_then_reflection_fails, [P, R, F]),
    "budget_alert_on_the_plan": (budget_alert_on_the_plan_then_run_out, [P, A, E, F]),
    "planning_call_retried_then_fails": (planning_call_retried_then_fails, [P, P, F]),
    "budget_alert_on_a_failed_plan_call": (budget_alert_on_a_failed_plan_call_then_denied,
                                           [P, A, F]),
    "tools_and_parallel_steps": (tools_and_parallel_steps_then_replan, [P, E, E, E, E, R, P]),
    "production_action_approved": (production_action_approved, [P, E, A, E, E]),
    "run_out_after_a_tool": (run_out_after_a_tool, [P, E, E, F]),
    "step_and_reflection_calls_fail": (step_call_retried_then_failed_then_reflection_calls_fail,
                                       [P, E, E, R, R, F]),
    "direct_step_call_fails": (direct_step_call_fails, [E, F]),
    "failed_step_call_escalates": (failed_step_call_escalates_then_reflects, [P, E, A, R]),
    "turn_limit_after_a_tool": (turn_limit_after_a_tool, [P, E, E, R]),
    "tool_error_escalates": (tool_error_escalates_then_denied, [P, E, E, A, F]),
    "side_effect_unknown": (lambda: side_effect_unknown(late=False), [P, E, E, A]),
    "side_effect_unknown_too_late": (lambda: side_effect_unknown(late=True), [P, E, E, F]),
    "others_work_while_one_waits": (others_work_while_one_waits, [P, E, A, A, A, A, A, E]),
    "run_out_by_a_reply_while_one_waits": (run_out_by_a_reply_while_one_waits, [P, E, A, F]),
    "run_out_by_a_failed_call_while_one_waits": (run_out_by_a_failed_call_while_one_waits,
                                                 [P, E, A, F]),
    "run_out_after_a_tool_while_one_waits": (run_out_after_a_tool_while_one_waits,
                                             [P, E, A, A, F]),
    "side_effect_unknown_while_one_waits": (
        lambda: side_effect_unknown_while_one_waits(late=False), [P, E, A, A, A, A]),
    "side_effect_unknown_while_one_waits_too_late": (
        lambda: side_effect_unknown_while_one_waits(late=True), [P, E, A, A, F]),
    "the_agent_asks_for_help": (the_agent_asks_for_help_and_gets_a_new_plan, [P, E, R, A, P]),
    "low_confidence_answer_given_by_a_person": (low_confidence_answer_given_by_a_person,
                                                [P, E, R, A, D]),
    "direct_verdict_fails": (lambda: direct_verification(fail_call=False), [E, R, E]),
    "direct_verification_call_fails": (lambda: direct_verification(fail_call=True), [E, R, E]),
    "verification_call_fails": (lambda: verification_call_fails(QUIET), [P, E, R, R, P]),
    "verification_call_fails_and_escalates": (
        lambda: verification_call_fails(ONE_FAILURE), [P, E, R, R, A]),
}


def _walk_triples(s: Stepper) -> set[tuple[str, str, str]]:
    before = [Z, *s.states[:-1]]
    return {(b, ev.kind, a) for b, ev, a in zip(before, s.log, s.states, strict=True)}


@pytest.mark.parametrize("name", sorted(WALKS))
def test_each_case_reaches_its_pinned_target(name: str) -> None:
    walk, path = WALKS[name]
    assert walk().states == path


def test_the_walks_reach_every_target_the_design_allows_and_no_other() -> None:
    reached: set[tuple[str, str, str]] = set()
    for walk, _ in WALKS.values():
        reached |= _walk_triples(walk())
    assert reached == _triples(DESIGN)


# --- illegal pairs ---------------------------------------------------------------------------


def _event(kind: str, effect_id: str) -> Any:
    """An event of ``kind``, well formed, answering ``effect_id``."""
    response = ModelResponse(id="m", model="claude-haiku-4-5", content=(text("x"),),
                             stop_reason="end_turn", usage=Usage(input_tokens=1, output_tokens=1))
    return {
        "run_started": lambda: RunStarted(run_id="again", task="t", config=make_config()),
        "model_replied": lambda: ModelReplied(effect_id=effect_id, response=response),
        "model_failed": lambda: ModelFailed(effect_id=effect_id, error_kind="overloaded"),
        "tool_returned": lambda: ToolReturned(effect_id=effect_id, output="x"),
        "human_decided": lambda: HumanDecided(effect_id=effect_id, decision="approve"),
        "side_effect_unknown": lambda: SideEffectUnknown(effect_id=effect_id),
    }[kind]()


#: A walk that leaves the run in each state, to feed the pairs the design forbids.
IN_STATE: dict[str, Callable[[], Stepper]] = {
    P: lambda: Stepper(make_config()),
    E: lambda: Stepper(make_config(orchestrator=DIRECT)),
    A: lambda: side_effect_unknown(late=False),
    R: every_step_refused,
    D: plain,
    F: direct_step_call_fails,
}


ILLEGAL = [(s, k) for s in (Z, P, E, A, R) for k in EVENT_KINDS if k not in DESIGN[s]]


@pytest.mark.parametrize(("state", "kind"), ILLEGAL)
def test_every_pair_the_design_forbids_is_an_illegal_transition(state: str, kind: str) -> None:
    if state == Z:
        ctx = Machine().context()
        pending = ["ghost#0"]
    else:
        ctx = IN_STATE[state]().ctx
        pending = sorted(ctx.pending) or ["ghost#0"]
    assert ctx.state == state
    # answering a real pending effect or a made-up one: the pair alone decides
    for effect_id in {pending[0], "ghost#0"}:
        with pytest.raises(IllegalTransition) as err:
            step(ctx, _event(kind, effect_id))
        assert (err.value.state, err.value.event_kind, err.value.target) == (state, kind, None)


def test_the_forbidden_pairs_are_what_the_design_leaves_out() -> None:
    assert len(ILLEGAL) == 5 * 6 - sum(len(DESIGN[s]) for s in (Z, P, E, A, R))
    assert (Z, "model_replied") in ILLEGAL and (P, "tool_returned") in ILLEGAL
    assert (R, "human_decided") in ILLEGAL and (E, "human_decided") in ILLEGAL


@pytest.mark.parametrize("state", [D, F])
@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_every_event_after_the_end_is_refused(state: str, kind: str) -> None:
    ctx = IN_STATE[state]().ctx
    assert ctx.state == state
    with pytest.raises(TerminalRun):
        step(ctx, _event(kind, "orchestrator#0"))


# --- the machine checks where a handler took the run, not only the pair ---------------------


def test_a_handler_moving_the_run_outside_the_allowed_targets_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Were a handler (or a table entry) wrong, the post-check names where it went."""
    m = Machine()
    # direct mode goes to executing; pretend the table allowed planning only
    monkeypatch.setattr(machine_module, "allowed",
                        lambda state, kind: frozenset({State.PLANNING}))
    with pytest.raises(IllegalTransition) as err:
        m.feed(RunStarted(run_id="r", task="t", config=make_config(orchestrator=DIRECT)))
    assert (err.value.state, err.value.event_kind, err.value.target) == (Z, "run_started", E)
    monkeypatch.undo()
    with pytest.raises(RuntimeFault, match="half-applied"):
        m.feed(RunStarted(run_id="r", task="t", config=make_config()))


def test_an_allowed_move_counts_as_a_transition_and_staying_does_not() -> None:
    s = invalid_plans()
    assert s.states == [P, P, F]
    assert s.ctx.transitions == 2  # idle -> planning, planning -> failed
