"""Escalation, one rule at a time, through the real driver with a scripted human.

Each test switches on one rule (everything else is quiet), checks what the person is
shown, that the run sits in ``awaiting_human`` until they answer (read back by folding the
log), and what each answer does to the world.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import (
    QUIET,
    Ran,
    Script,
    Stepper,
    World,
    arun,
    make_config,
    model,
    plan_step,
    run_agent,
    tool_use,
)

from fakes.human import ScriptedHuman
from fakes.scripted import Call
from harness.core import (
    ActionLog,
    EscalationRules,
    HumanRequest,
    RequestHuman,
    RunLimits,
    RunTool,
    SideEffectUnknown,
    State,
)
from harness.driver import Crash, Driver, HumanDecision, VirtualClock
from harness.store import SQLiteRecorder

LIMITS = RunLimits(llm_calls=40, tool_calls=20, tokens_in=100_000, cost_usd=1.0)


def rules(**on: Any) -> EscalationRules:
    return QUIET.model_copy(update=on)


def requests_of(ran: Ran) -> list[RequestHuman]:
    return [e for e in ran.effects() if isinstance(e, RequestHuman)]


def assert_waits_in_awaiting_human(ran: Ran) -> None:
    """From the event that asked a person until the event that answered, the run is in
    ``awaiting_human``: read back from the log alone."""
    trace = ran.trace()
    asked = {e.effect_id for e in requests_of(ran)}
    assert asked
    for eid in asked:
        start = next(i for i, (_, _, effs) in enumerate(trace)
                     if any(e.effect_id == eid for e in effs))
        end = next(i for i, (ev, _, _) in enumerate(trace)
                   if ev.kind == "human_decided" and ev.effect_id == eid)
        assert all(ctx.state == State.AWAITING_HUMAN for _, ctx, _ in trace[start:end])
        assert trace[end - 1][1].state == State.AWAITING_HUMAN


def assert_readable(req: HumanRequest, limits: RunLimits = LIMITS) -> None:
    """What a person needs in thirty seconds: what, why, which decision, the options, and
    the budget: used against limit for every limit that is set."""
    assert req.what_doing and req.why and req.decision_needed
    assert set(req.options) >= {"approve", "deny"}
    assert set(req.budget) >= {"llm_calls", "tool_calls", "tokens_in", "tokens_out", "cost_usd"}
    for name, value in req.budget.items():
        limit = getattr(limits, name)
        assert value.endswith(f"/{limit:g}") if limit is not None else "/" not in value
    shown = req.render()
    for part in (req.what_doing, req.why, req.decision_needed):
        assert part in shown


def deploy_script(then: str = "deployed") -> Script:
    return Script(plans=[[plan_step("s1", "code", "Deploy v2 to production")]],
                  steps={"s1": [[Call("deploy", {"text": "v2"})], then]})


# --- production actions -----------------------------------------------------------------


def test_production_action_approved_runs_once() -> None:
    world = World()
    human = ScriptedHuman("approve", latency_s=20)
    ran = run_agent(make_config(limits=LIMITS, escalation=rules(production_actions=True)),
                    model(deploy_script()), world=world, human=human)
    assert ran.result.outcome == "done"
    assert world.executions("deploy") == [("deploy", json.dumps({"text": "v2"}))]
    [req] = human.requests
    assert req.rule == "production_action"
    assert "s1" in req.what_doing and "Deploy v2 to production" in req.what_doing
    assert "affects production" in req.why
    assert req.proposed_action == {"tool": "deploy", "input": {"text": "v2"}}
    assert req.options == ("approve", "deny", "edit")
    assert req.default_on_timeout == "deny"
    assert_readable(req)
    assert_waits_in_awaiting_human(ran)


def test_production_action_denied_never_runs_and_the_model_reads_why() -> None:
    world = World()
    script = deploy_script(then="gave up on the deploy")
    human = ScriptedHuman(fn=lambda r: HumanDecision(decision="deny", note="freeze week"))
    ran = run_agent(make_config(limits=LIMITS, escalation=rules(production_actions=True)),
                    model(script), world=world, human=human)
    assert world.executions("deploy") == []
    assert not [e for e in ran.effects() if isinstance(e, RunTool) and e.tool == "deploy"]
    result = script.of("act", "s1")[-1].messages[-1]["content"][0]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert "denied" in result["content"] and "freeze week" in result["content"]
    assert_waits_in_awaiting_human(ran)


def test_production_action_edited_runs_with_the_edited_input() -> None:
    world = World()
    human = ScriptedHuman("edit", edited_input={"text": "v2 canary"})
    ran = run_agent(make_config(limits=LIMITS, escalation=rules(production_actions=True)),
                    model(deploy_script()), world=world, human=human)
    assert ran.result.outcome == "done"
    assert world.executions("deploy") == [("deploy", json.dumps({"text": "v2 canary"}))]


@pytest.mark.parametrize(("default", "runs"), [(None, 0), ("approve", 1)])
def test_production_action_timeout_takes_the_rules_default(default: str | None, runs: int) -> None:
    world = World()
    esc = rules(production_actions=True, timeout_s=60)
    if default is not None:
        esc = esc.model_copy(update={"on_timeout": {**esc.on_timeout, "production_action": default}})
    human = ScriptedHuman("timeout")
    ran = run_agent(make_config(limits=LIMITS, escalation=esc), model(deploy_script()),
                    world=world, human=human)
    assert len(world.executions("deploy")) == runs
    decided = [e for e in ran.events if e.kind == "human_decided"]
    assert [e.decision for e in decided] == ["timeout"]
    assert human.requests[0].default_on_timeout == (default or "deny")
    assert human.requests[0].timeout_s == 60


def test_require_approval_lists_further_tools() -> None:
    script = Script(plans=[[plan_step("s1", "code")]],
                    steps={"s1": [[Call("record", {"text": "refund 10"})], "recorded"]})
    world = World()
    human = ScriptedHuman("deny")
    run_agent(make_config(limits=LIMITS, escalation=rules(require_approval=("record",))),
              model(script), world=world, human=human)
    [req] = human.requests
    assert req.rule == "production_action" and "always needs approval" in req.why
    assert req.proposed_action == {"tool": "record", "input": {"text": "refund 10"}}
    assert world.executions("record") == []
    # the same run without the rule: no person is asked and the tool runs
    world2, human2 = World(), ScriptedHuman("deny")
    run_agent(make_config(limits=LIMITS), model(Script(plans=script.plans, steps=script.steps)),
              world=world2, human=human2)
    assert human2.requests == [] and len(world2.executions("record")) == 1


# --- low confidence ---------------------------------------------------------------------


def unsure(answer: str = "probably 42") -> Script:
    return Script(plans=[[plan_step("s1", "research")]], steps={"s1": ["found 42"]},
                  reflections=[{"decision": "done", "answer": answer, "confidence": 0.4}])


@pytest.mark.parametrize(("decision", "outcome", "answer"), [
    ("approve", "done", "probably 42"),
    ("deny", "escalated", ""),
    ("edit", "done", "exactly 42"),
])
def test_low_confidence(decision: str, outcome: str, answer: str) -> None:
    human = ScriptedHuman(decision, edited_input={"answer": "exactly 42"})
    ran = run_agent(make_config(limits=LIMITS, escalation=rules(min_confidence=0.7)),
                    model(unsure()), human=human)
    [req] = human.requests
    assert req.rule == "low_confidence"
    assert "40%" in req.why and "70%" in req.why
    assert req.proposed_action == {"answer": "probably 42"}
    assert_readable(req)
    assert ran.result.outcome == outcome and ran.result.answer == answer
    assert_waits_in_awaiting_human(ran)


def test_a_person_approving_an_answer_approves_no_tool_call() -> None:
    """The action log reads a person's decision on a request that holds no tool call (an
    answer below the confidence floor) as approving nothing, and the run goes on."""
    log = ActionLog()
    ran = run_agent(make_config(limits=LIMITS, escalation=rules(min_confidence=0.7)),
                    model(unsure()), human=ScriptedHuman("approve"), watch=log)
    assert ran.result.outcome == "done" and ran.result.answer == "probably 42"
    assert log.approved == set()


def test_confident_answers_are_not_escalated() -> None:
    script = unsure()
    script.reflections = [{"decision": "done", "answer": "42", "confidence": 0.9}]
    human = ScriptedHuman("deny")
    ran = run_agent(make_config(limits=LIMITS, escalation=rules(min_confidence=0.7)),
                    model(script), human=human)
    assert human.requests == [] and ran.result.outcome == "done"


# --- repeated failures ------------------------------------------------------------------


def failing_step(failures: int) -> Script:
    turns: list[Any] = [[Call("broken", {})] for _ in range(failures)]
    return Script(plans=[[plan_step("s1", "research")]], steps={"s1": [*turns, "gave up"]})


@pytest.mark.parametrize(("decision", "outcome"), [("approve", "done"), ("deny", "escalated")])
def test_repeated_failures_reach_the_threshold(decision: str, outcome: str) -> None:
    human = ScriptedHuman(decision)
    ran = run_agent(make_config(limits=LIMITS, escalation=rules(max_failures=3)),
                    model(failing_step(3)), human=human)
    [req] = human.requests
    assert req.rule == "repeated_failures"
    assert req.why.startswith("3 failures") and "broken" in req.why
    assert_readable(req)
    assert ran.result.outcome == outcome
    # asked right after the third failure, not before
    trace = ran.trace()
    asked_at = next(i for i, (_, _, effs) in enumerate(trace)
                    if any(isinstance(e, RequestHuman) for e in effs))
    errors = [i for i, (ev, _, _) in enumerate(trace) if ev.kind == "tool_returned"]
    assert asked_at == errors[2]
    if decision == "approve":
        assert ran.ctx.failures == 0, "a person's go-ahead resets the count"


def test_failures_under_the_threshold_are_not_escalated() -> None:
    human = ScriptedHuman("deny")
    ran = run_agent(make_config(limits=LIMITS, escalation=rules(max_failures=3)),
                    model(failing_step(2)), human=human)
    assert human.requests == [] and ran.result.outcome == "done"
    assert ran.ctx.failures == 2


# --- budget nearly spent ----------------------------------------------------------------


def test_budget_threshold_fires_once() -> None:
    script = Script(plans=[[plan_step("s1", "research")]],
                    steps={"s1": [[Call("lookup", {"query": str(i)})] for i in range(8)]})
    human = ScriptedHuman("approve")
    cfg = make_config(limits=RunLimits(llm_calls=14), escalation=rules(budget_fraction=0.5))
    ran = run_agent(cfg, model(script), human=human)
    assert ran.result.outcome == "done"
    assert ran.ctx.used.llm_calls >= 12, "the run went well past 50% and on to 85%"
    [req] = human.requests
    assert req.rule == "budget_threshold" and "llm_calls" in req.why
    assert req.default_on_timeout == "approve"
    used, limit = req.budget["llm_calls"].split("/")
    assert int(used) == 7 and limit == "14"
    assert_readable(req, RunLimits(llm_calls=14))
    assert_waits_in_awaiting_human(ran)


def test_budget_threshold_denied_stops_the_run() -> None:
    script = Script(plans=[[plan_step("s1", "research")]],
                    steps={"s1": [[Call("lookup", {"query": str(i)})] for i in range(8)]})
    ran = run_agent(make_config(limits=RunLimits(llm_calls=14),
                                escalation=rules(budget_fraction=0.5)),
                    model(script), human=ScriptedHuman("deny"))
    assert ran.result.outcome == "escalated"
    assert ran.ctx.used.llm_calls <= 8


# --- the agent asks for help ------------------------------------------------------------


@pytest.mark.parametrize(("decision", "outcome", "plans"), [
    ("approve", "done", 2), ("deny", "escalated", 1), ("edit", "done", 1),
])
def test_the_agent_can_escalate_itself(decision: str, outcome: str, plans: int) -> None:
    script = Script(plans=[[plan_step("s1", "research")]],
                    reflections=[{"decision": "escalate", "reason": "the data disagree"},
                                 {"decision": "done", "answer": "42", "confidence": 0.9}])
    human = ScriptedHuman(decision, edited_input={"answer": "43"})
    ran = run_agent(make_config(limits=LIMITS, escalation=rules()), model(script), human=human)
    [req] = human.requests
    assert req.rule == "agent_request" and req.why == "the data disagree"
    assert req.what_doing.startswith("orchestrating")
    assert_readable(req)
    assert ran.result.outcome == outcome
    assert len(script.of("plan")) == plans
    assert_waits_in_awaiting_human(ran)


# --- a side effect whose fate is unknown ---------------------------------------------------


def fragile_stepper() -> tuple[Stepper, RunTool]:
    s = Stepper(make_config(limits=LIMITS))
    s.plan([plan_step("s1", "code", "Write the note")])
    s.reply(s.one("call_model", "s1"), [tool_use("fragile", {"text": "hi"}, "f1")], "tool_use")
    return s, s.one("run_tool", "s1")


def test_side_effect_unknown_asks_and_waits() -> None:
    s, call = fragile_stepper()
    [effect] = s.send(SideEffectUnknown(effect_id=call.effect_id, at=s.at()))
    assert isinstance(effect, RequestHuman) and s.ctx.state == State.AWAITING_HUMAN
    req = effect.request
    assert req.rule == "side_effect_unknown" and "fragile" in req.why
    assert req.proposed_action == {"tool": "fragile", "input": {"text": "hi"}}
    assert s.ctx.approvals[effect.effect_id].blocking
    assert_readable(req)


def test_side_effect_unknown_approved_reissues_the_same_call() -> None:
    s, call = fragile_stepper()
    s.send(SideEffectUnknown(effect_id=call.effect_id, at=s.at()))
    [again] = s.decide(s.one("request_human"), "approve")
    assert isinstance(again, RunTool)
    assert (again.effect_id, again.input) == (call.effect_id, call.input)
    assert s.ctx.state == State.EXECUTING


def test_side_effect_unknown_reissue_respects_the_tool_budget() -> None:
    """Approving a re-run used to skip the budget check: another call had taken the freed
    reservation meanwhile, and both ran, one past the limit."""
    s = Stepper(make_config(limits=RunLimits(tool_calls=1)))
    s.plan([plan_step("s1", "code"), plan_step("s2", "research")])
    s.reply(s.one("call_model", "s1"), [tool_use("fragile", {"text": "hi"}, "f1")], "tool_use")
    fragile = s.one("run_tool", "s1")
    s.send(SideEffectUnknown(effect_id=fragile.effect_id, at=s.at()))
    s.reply(s.one("call_model", "s2"), [tool_use("lookup", {"query": "x"}, "l1")], "tool_use")
    assert len(s.ctx.deferred) == 1, "s2's lookup holds the only tool call"
    s.decide(s.one("request_human"), "approve")
    assert s.ctx.outcome == "budget_exhausted" and s.ctx.exhausted_limit == "tool_calls"
    issued = [e for e in s.effects if isinstance(e, RunTool)]
    assert s.ctx.used.tool_calls + s.ctx.reserved.tool_calls <= 1
    assert len([e for e in issued if e.effect_id == fragile.effect_id]) == 1


@pytest.mark.parametrize(("decision", "content", "is_error"), [
    ("deny", "may not have run", True),
    ("edit", '{"receipt": 7}', False),
])
def test_side_effect_unknown_denied_or_edited_answers_the_model(
        decision: str, content: str, is_error: bool) -> None:
    s, call = fragile_stepper()
    s.send(SideEffectUnknown(effect_id=call.effect_id, at=s.at()))
    [next_call] = s.decide(s.one("request_human"), decision, edited={"receipt": 7})
    block = next_call.request.messages[-1]["content"][0]
    assert block["tool_use_id"] == "f1" and content in block["content"]
    assert bool(block.get("is_error")) is is_error


@pytest.mark.parametrize(("decision", "executions"), [("approve", 2), ("deny", 1)])
def test_side_effect_unknown_after_a_crash_through_the_driver(
        tmp_path: Any, decision: str, executions: int) -> None:
    """The run dies after ``fragile`` ran but before its result was logged; the resume
    cannot tell whether it ran (it takes no key), so it asks a person."""
    db = tmp_path / "log.sqlite"
    world = World()
    script = Script(plans=[[plan_step("s1", "code")]],
                    steps={"s1": [[Call("fragile", {"text": "hi"})], "noted"]})
    cfg = make_config(limits=LIMITS)
    clock = VirtualClock()

    def crash_on_result(seq: int, kind: str) -> None:
        if kind == "tool_returned":
            raise Crash

    rec = SQLiteRecorder(db)
    drv = Driver(model=model(script), tools=world.registry, recorder=rec, clock=clock,
                 crash_hook=crash_on_result)
    with pytest.raises(Crash):
        arun(drv.run(cfg, "task", run_id="r1"))
    rec.abandon()
    assert len(world.executions("fragile")) == 1
    human = ScriptedHuman(decision)
    rec2 = SQLiteRecorder(db)
    drv2 = Driver(model=model(script), tools=world.registry, recorder=rec2, clock=clock,
                  human=human)
    result = arun(drv2.resume("r1"))
    rec2.close()
    [req] = human.requests
    assert req.rule == "side_effect_unknown"
    assert result.outcome == "done"
    assert len(world.executions("fragile")) == executions


def test_the_scripted_person_can_decide_per_rule() -> None:
    """``human.options.by_rule``: the on-call person refuses an unplanned deploy but lets a
    struggling run carry on; an option the policy does not know is refused by name."""
    import asyncio

    from harness.core import HumanRequest
    from harness.scenario._model import HumanSpec

    spec = HumanSpec(decision="approve", latency_s=5,
                     options={"by_rule": {"production_action": "deny"}})
    person = ScriptedHuman.from_spec(spec)

    def ask(rule: str) -> str:
        req = HumanRequest(rule=rule, what_doing="shipping", why="it deploys",
                           decision_needed="approve?")
        return asyncio.run(person.decide(req, VirtualClock())).decision

    assert ask("production_action") == "deny"
    assert ask("repeated_failures") == "approve"
    assert len(person.requests) == 2
    with pytest.raises(ValueError, match="by_rul"):
        ScriptedHuman.from_spec(HumanSpec(options={"by_rul": {}}))
    with pytest.raises(ValueError, match="by_rule"):
        ScriptedHuman.from_spec(HumanSpec(options={"by_rule": {"production_action": "maybe"}}))
