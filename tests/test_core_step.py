"""Example tests that drive ``step`` by hand, with no interpreter: the table, retries, and
the corners the machine test found (each regression test names what used to go wrong)."""

from __future__ import annotations

import pytest
from helpers import QUIET, Stepper, make_config, make_roles, plan_step, text, tool_use

from harness.core import (
    TRANSITIONS,
    AgentContext,
    CallModel,
    EscalationRules,
    Finish,
    HumanDecided,
    Machine,
    ModelFailed,
    RequestHuman,
    RetryPolicy,
    RunLimits,
    RunStarted,
    RunTool,
    State,
    ToolReturned,
    Usage,
    fold,
    mermaid,
    step,
)
from harness.core._machine import UnknownEffect
from harness.errors import IllegalTransition, RuntimeFault, TerminalRun


def test_the_table_names_every_state_and_terminal_states_accept_nothing() -> None:
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.DONE] == {} and TRANSITIONS[State.FAILED] == {}
    for by_event in TRANSITIONS.values():
        for targets in by_event.values():
            assert targets <= set(State)


def test_the_diagram_is_drawn_from_the_table() -> None:
    diagram = mermaid()
    for src, by_event in TRANSITIONS.items():
        for kind, targets in by_event.items():
            for target in targets:
                line = next(ln for ln in diagram.splitlines()
                            if ln.strip().startswith(f"{src.value} --> {target.value}:"))
                assert kind in line


def test_a_plain_run_walks_planning_executing_reflecting_done() -> None:
    s = Stepper(make_config())
    assert s.ctx.state == State.PLANNING
    effects = s.plan([plan_step("s1", "research")])
    assert s.ctx.state == State.EXECUTING
    assert [e.agent for e in effects] == ["s1"]
    s.reply(s.one("call_model", "s1"), [text("found it")])
    assert s.ctx.state == State.REFLECTING
    s.reflect("done", "the answer")
    s.verdict("pass")
    assert s.ctx.state == State.DONE and s.ctx.outcome == "done"
    assert s.ctx.answer == "the answer"
    assert isinstance(s.last[-1], Finish) and s.last[-1].outcome == "done"
    assert s.states == ["planning", "executing", "reflecting", "reflecting", "done"]
    assert s.ctx.transitions == 4
    assert fold(s.log) == s.ctx


def test_events_after_the_end_raise_terminal_run() -> None:
    s = Stepper(make_config(verification=False))
    s.plan([plan_step("s1", "research")])
    s.reply(s.one("call_model", "s1"), [text("x")])
    s.reflect("fail", reason="cannot")
    assert s.ctx.state == State.FAILED
    finish = s.last[-1]
    for event in (ToolReturned(effect_id=finish.effect_id, output="x"),
                  HumanDecided(effect_id="orchestrator#0", decision="approve"),
                  RunStarted(run_id="again", task="t", config=make_config())):
        with pytest.raises(TerminalRun):
            step(s.ctx, event)


def test_a_kind_the_state_does_not_accept_is_an_illegal_transition() -> None:
    s = Stepper(make_config())
    plan_call = s.one("call_model")
    # planning: no tool can be running and no person has been asked
    with pytest.raises(IllegalTransition) as err:
        step(s.ctx, ToolReturned(effect_id=plan_call.effect_id, output="x"))
    assert err.value.state == "planning" and err.value.event_kind == "tool_returned"
    with pytest.raises(IllegalTransition):
        step(s.ctx, HumanDecided(effect_id=plan_call.effect_id, decision="approve"))
    with pytest.raises(IllegalTransition):
        step(s.ctx, RunStarted(run_id="x", task="t", config=make_config()))


def test_an_answer_to_an_effect_that_is_not_pending_is_refused() -> None:
    s = Stepper(make_config())
    plan_call = s.one("call_model")
    with pytest.raises(UnknownEffect):
        step(s.ctx, ModelFailed(effect_id="orchestrator#42", error_kind="overloaded"))
    s.plan([plan_step("s1", "research")])
    # the same reply delivered twice: the second one answers nothing
    with pytest.raises(UnknownEffect):
        step(s.ctx, ModelFailed(effect_id=plan_call.effect_id, error_kind="overloaded"))
    # an answer of the wrong kind for a pending effect
    call = s.one("call_model", "s1")
    with pytest.raises(UnknownEffect):
        step(s.ctx, ToolReturned(effect_id=call.effect_id, output="x"))


def test_a_failed_call_is_retried_after_retry_after_and_counted() -> None:
    cfg = make_config(retry=RetryPolicy(max_attempts=3, retry_after_cap_s=20))
    s = Stepper(cfg)
    first = s.one("call_model")
    s.fail(first, "rate_limited", retry_after=7.5, dt=2)
    again = s.one("call_model")
    assert again.attempt == 2 and again.request == first.request
    assert again.not_before == pytest.approx(2 + 7.5)
    assert s.ctx.used.llm_calls == 1 and s.ctx.retries == 1
    s.fail(again, "overloaded", retry_after=500, dt=1)
    third = s.one("call_model")
    assert third.not_before == pytest.approx(3 + 20), "retry-after is capped"
    s.fail(third, "overloaded")
    assert s.ctx.state == State.FAILED and s.ctx.used.llm_calls == 3
    assert "after 3 attempt(s)" in s.ctx.reason


@pytest.mark.parametrize("kind", ["spend_limit", "bad_request", "auth", "malformed_reply"])
def test_errors_outside_the_retry_list_are_not_retried(kind: str) -> None:
    s = Stepper(make_config())
    s.fail(s.one("call_model"), kind)
    assert s.ctx.state == State.FAILED and s.ctx.retries == 0
    assert kind in s.ctx.reason


def test_a_failed_step_call_fails_only_that_step() -> None:
    s = Stepper(make_config(retry=RetryPolicy(max_attempts=1)))
    s.plan([plan_step("s1", "research"), plan_step("s2", "code")])
    s.fail(s.one("call_model", "s1"), "auth")
    assert s.ctx.state == State.EXECUTING
    assert s.ctx.agents["s1"].status == "failed" and s.ctx.agents["s2"].status == "running"


def test_an_unusable_reply_costs_what_it_was_billed_and_a_lost_one_only_the_call() -> None:
    s = Stepper(make_config(retry=RetryPolicy(
        max_attempts=2, retry_on=("malformed_reply", "overloaded"))))
    s.plan([plan_step("s1", "research")])
    before = s.ctx.agents["s1"].used
    call = s.one("call_model", "s1")
    billed = Usage(input_tokens=1200, output_tokens=300)
    s.send(ModelFailed(effect_id=call.effect_id, error_kind="malformed_reply", message="bad",
                       usage=billed, at=s.at()))
    after = s.ctx.agents["s1"].used
    price = s.ctx.config.price(call.request.model)
    assert price is not None
    assert (after.llm_calls, after.tokens_in, after.tokens_out) == (
        before.llm_calls + 1, before.tokens_in + 1200, before.tokens_out + 300)
    assert after.cost_usd == pytest.approx(before.cost_usd + price.cost(billed))
    # the retry fails with nothing delivered (an overload): one more call, no tokens
    s.fail(s.one("call_model", "s1"), "overloaded")
    last = s.ctx.agents["s1"].used
    assert (last.llm_calls, last.tokens_in, last.cost_usd) == (
        after.llm_calls + 1, after.tokens_in, after.cost_usd)
    # what the sub-agent was charged, the run was charged
    assert s.ctx.used.tokens_in >= last.tokens_in


# --- regressions found by the machine test -------------------------------------------------


def test_regression_a_budget_too_small_for_the_plan_call_ends_the_run_cleanly() -> None:
    """Used to raise IllegalTransition: the table allowed only idle -> planning."""
    s = Stepper(make_config(limits=RunLimits(llm_calls=0)))
    assert s.ctx.state == State.FAILED
    assert s.ctx.outcome == "budget_exhausted" and s.ctx.exhausted_limit == "llm_calls"
    assert [e.kind for e in s.last] == ["finish"]


def test_regression_nothing_is_issued_after_finish_when_one_reply_asks_for_many_tools() -> None:
    """Used to emit a RunTool after Finish: the first refused call ended the run and freed
    every reservation, so the next call in the same reply passed the check again."""
    s = Stepper(make_config(limits=RunLimits(tool_calls=1), verification=False))
    s.plan([plan_step("s1", "research")])
    uses = [tool_use("lookup", {"query": q}, f"u{q}") for q in "abc"]
    effects = s.reply(s.one("call_model", "s1"), uses, "tool_use")
    assert [e.kind for e in effects] == ["run_tool", "finish"]
    assert s.ctx.outcome == "budget_exhausted" and s.ctx.exhausted_limit == "tool_calls"


def test_regression_repeated_tool_use_ids_fail_the_step_instead_of_losing_a_call() -> None:
    """Used to go on with the turn while a call was still running; its late result then
    arrived in ``reflecting`` and raised IllegalTransition."""
    s = Stepper(make_config())
    s.plan([plan_step("s1", "research"), plan_step("s2", "research")])
    uses = [tool_use("lookup", {"query": "a"}, "same"), tool_use("lookup", {"query": "b"}, "same")]
    effects = s.reply(s.one("call_model", "s1"), uses, "tool_use")
    assert not [e for e in effects if isinstance(e, RunTool)]
    assert s.ctx.agents["s1"].status == "failed"
    assert "tool_use ids repeat" in s.ctx.agents["s1"].error
    assert not s.pending("run_tool")


@pytest.mark.parametrize("mode", ["plan", "direct"])
def test_regression_a_verification_call_that_fails_counts_as_a_failed_verdict(mode: str) -> None:
    """Used to leave the run with nothing in flight (the driver then reported it stuck)."""
    cfg = make_config(retry=RetryPolicy(max_attempts=1),
                      orchestrator={"mode": mode, "max_replans": 1})
    s = Stepper(cfg)
    if mode == "plan":
        s.plan([plan_step("s1", "research")])
    step_call = next(e for e in s.pending("call_model") if e.purpose == "act")
    s.reply(step_call, [text("the answer")])
    if mode == "plan":
        s.reflect("done", "the answer")
    verify = next(e for e in s.pending("call_model") if e.purpose == "verify")
    s.fail(verify, "auth")
    assert not s.ctx.terminal and s.ctx.pending, "the run must go on: it replans"
    assert s.ctx.replans == 1
    assert "verification failed" in s.ctx.history[-1]


def test_regression_held_effects_are_checked_again_for_wall_time() -> None:
    """A call held back while a person decided used to be sent with its old timeout, even
    after the wall-time limit had passed."""
    cfg = make_config(limits=RunLimits(wall_time_s=100, llm_calls=3),
                      escalation=EscalationRules(production_actions=False, min_confidence=None,
                                                 max_failures=None, budget_fraction=0.3))
    s = Stepper(cfg)
    # the plan reply spends 1 of 3 calls: a third crosses 30%
    effects = s.plan([plan_step("s1", "research")])
    assert [e.kind for e in effects] == ["request_human"]
    assert s.ctx.state == State.AWAITING_HUMAN and len(s.ctx.deferred) == 1
    s.decide(s.one("request_human"), "approve", dt=150)
    assert s.ctx.outcome == "budget_exhausted" and s.ctx.exhausted_limit == "wall_time_s"
    assert not [e for e in s.last if isinstance(e, CallModel)]


def test_regression_held_effects_get_a_timeout_from_what_is_left() -> None:
    cfg = make_config(limits=RunLimits(wall_time_s=100, llm_calls=3),
                      escalation=EscalationRules(production_actions=False, min_confidence=None,
                                                 max_failures=None, budget_fraction=0.3))
    s = Stepper(cfg)
    s.plan([plan_step("s1", "research")])
    held = s.ctx.deferred[0]
    assert isinstance(held, CallModel) and held.timeout_s == pytest.approx(99)
    s.decide(s.one("request_human"), "approve", dt=60)
    sent = s.one("call_model", "s1")
    assert sent.issued_at == pytest.approx(61)
    assert sent.timeout_s == pytest.approx(100 - 61)


def test_a_context_is_never_changed_by_a_step_that_raises() -> None:
    s = Stepper(make_config(roles=make_roles(), escalation=QUIET))
    s.plan([plan_step("s1", "research")])
    before = s.ctx.model_dump_json()
    with pytest.raises(UnknownEffect):
        step(s.ctx, ToolReturned(effect_id="s1#99", output="x"))
    assert s.ctx.model_dump_json() == before
    assert AgentContext.model_validate_json(before) == s.ctx


def test_a_machine_that_failed_an_event_refuses_the_next_one() -> None:
    # a raising ``feed`` may have changed half the state: going on from it would fold a
    # different run than the log describes
    s = Stepper(make_config(roles=make_roles(), escalation=QUIET))
    s.plan([plan_step("s1", "research")])
    m = Machine(s.ctx)
    call = s.one("call_model", "s1")
    with pytest.raises(UnknownEffect):
        m.feed(ToolReturned(effect_id="s1#99", output="x"))
    with pytest.raises(RuntimeFault, match="half-applied"):
        m.feed(ModelFailed(effect_id=call.effect_id, error_kind="overloaded"))
    # the context it started from is untouched, and a fresh machine from it works
    assert Machine(s.ctx).feed(ModelFailed(effect_id=call.effect_id, error_kind="overloaded"))


def test_escalation_requests_hold_back_new_work_until_decided() -> None:
    cfg = make_config(limits=RunLimits(llm_calls=3),
                      escalation=EscalationRules(production_actions=False, min_confidence=None,
                                                 max_failures=None, budget_fraction=0.3))
    s = Stepper(cfg)
    effects = s.plan([plan_step("s1", "research"), plan_step("s2", "code")])
    assert [type(e) for e in effects] == [RequestHuman]
    assert {e.agent for e in s.ctx.deferred} == {"s1", "s2"}
    effects = s.decide(s.one("request_human"), "approve")
    assert sorted(e.agent for e in effects) == ["s1", "s2"]
    assert s.ctx.state == State.EXECUTING and not s.ctx.deferred


@pytest.mark.parametrize("reserved", ["orchestrator", "verify-1"])
def test_regression_a_step_may_not_take_a_name_the_runtime_uses(reserved: str) -> None:
    """A step named ``orchestrator`` used to have the orchestrator's own calls charged to
    and refused by its budget slice, which left the run with nothing in flight."""
    s = Stepper(make_config())
    s.plan([plan_step("s1", "research"), plan_step(reserved, "code")])
    assert s.ctx.state == State.PLANNING and s.ctx.plan_attempts == 1
    assert f"step id {reserved!r} is reserved" in s.ctx.plan_feedback
    assert "verify-tests" not in s.ctx.plan_feedback
    s.plan([plan_step("s1", "research"), plan_step("verify-tests", "code")])
    assert s.ctx.state == State.EXECUTING, "names that merely look alike are fine"


def test_regression_a_person_is_not_given_longer_than_the_wall_time_left() -> None:
    """An escalation used to wait its full 300 s even with 40 s of the run left."""
    cfg = make_config(limits=RunLimits(wall_time_s=100),
                      escalation=EscalationRules(production_actions=False, min_confidence=0.9,
                                                 max_failures=None, budget_fraction=None))
    s = Stepper(cfg)
    s.plan([plan_step("s1", "research")])
    s.reply(s.one("call_model", "s1"), [text("x")], dt=30)
    [ask] = s.reflect("done", "x", confidence=0.5)
    assert isinstance(ask, RequestHuman)
    assert ask.request.timeout_s == pytest.approx(100 - 32)
    # and with no time left, nobody is asked: the run is out of budget
    s2 = Stepper(cfg)
    s2.plan([plan_step("s1", "research")])
    s2.reply(s2.one("call_model", "s1"), [text("x")], dt=30)
    eff = s2.one("call_model", "orchestrator")
    s2.reply(eff, [tool_use("submit_reflection", {"decision": "done", "answer": "x",
                                                  "confidence": 0.5}, "r")], "tool_use", dt=70)
    assert s2.ctx.outcome == "budget_exhausted" and s2.ctx.exhausted_limit == "wall_time_s"
    assert not [e for e in s2.last if isinstance(e, RequestHuman)]
