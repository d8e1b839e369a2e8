"""The hierarchy: fan-out and join, a failing sub-agent that stays contained, verification
before ``done``, and plans that are invalid."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import (
    Script,
    Slow,
    Stepper,
    World,
    make_config,
    model,
    plan_step,
    purpose_of,
    respond,
    run_agent,
    text,
)

from fakes.scripted import Call, step_id_of
from harness.core import CallModel, ModelRequest, State, StepResult
from harness.driver import VirtualClock


def test_independent_steps_are_all_issued_by_the_step_that_accepts_the_plan() -> None:
    s = Stepper(make_config())
    effects = s.plan([
        plan_step("s1", "research"), plan_step("s2", "code"), plan_step("s3", "communication"),
        plan_step("s4", "research", depends_on=["s1", "s2"]),
    ])
    assert all(isinstance(e, CallModel) for e in effects)
    assert [e.agent for e in effects] == ["s1", "s2", "s3"], "fan out at once; s4 waits"
    assert s.ctx.agents["s4"].status == "waiting"
    assert {e.role for e in effects} == {"research", "code", "communication"}


def test_parallel_steps_take_the_longest_branch_not_the_sum() -> None:
    clock = VirtualClock()
    latency = {"s1": 10.0, "s2": 20.0, "s3": 30.0}
    script = Script(plans=[[plan_step(s, "research") for s in latency]])

    def slow(req: ModelRequest) -> float:
        return latency.get(step_id_of(req) or "", 1.0)

    ran = run_agent(make_config(), Slow(model(script), clock, slow), clock=clock)
    assert ran.result.outcome == "done"
    # plan 1 s, then the three steps side by side (30 s), reflection 1 s, verification 1 s
    assert ran.ctx.elapsed_s == pytest.approx(1 + 30 + 1 + 1)
    replies = [ev for ev in ran.events if ev.kind == "model_replied"]
    assert [ev.effect_id.split("#")[0] for ev in replies[1:4]] == ["s1", "s2", "s3"]
    assert [ev.at for ev in replies[1:4]] == [11.0, 21.0, 31.0]


def test_a_dependent_step_gets_its_inputs_results_in_its_first_message() -> None:
    script = Script(
        plans=[[plan_step("s1", "research", "Find the notes"), plan_step("s2", "code", "Fix it"),
                plan_step("s3", "communication", "Announce", depends_on=["s1", "s2"])]],
        steps={"s1": [[Call("lookup", {"query": "notes"})], "notes say: login bug"],
               "s2": ["patched the login bug"]},
    )
    ran = run_agent(make_config(), model(script))
    assert ran.result.outcome == "done"
    first = script.of("act", "s3")[0]
    assert len(first.messages) == 1
    body = first.messages[0]["content"][0]["text"]
    assert body.startswith("[step s3] Announce")
    assert "- s1 (research): notes say: login bug" in body
    assert "- s2 (code): patched the login bug" in body
    # s3 started only after both of its inputs had finished
    order = [step_id_of(r) for r in script.requests if purpose_of(r) == "act"]
    assert order.index("s3") > max(i for i, sid in enumerate(order) if sid in ("s1", "s2"))


SECRET = "SECRET-TOKEN-42"


def refuse(request: ModelRequest) -> Any:
    return respond(request, [], "refusal")


def test_a_failing_sub_agent_fails_its_step_and_nothing_else() -> None:
    world = World()
    script = Script(
        plans=[[plan_step("s1", "research"), plan_step("s2", "code"),
                plan_step("s3", "communication", depends_on=["s2"]),
                plan_step("s4", "research")]],
        steps={"s1": ["s1 found it"],
               "s2": [[Call("record", {"text": SECRET})], refuse],
               "s4": [[Call("lookup", {"query": "x"})], "s4 looked it up"]},
    )
    ran = run_agent(make_config(), model(script), world=world)
    assert ran.result.outcome == "done"
    ctx = ran.ctx
    assert {a.step_id: a.status for a in ctx.agents.values() if a.purpose == "act"} == {
        "s1": "done", "s2": "failed", "s3": "skipped", "s4": "done"}
    assert all(isinstance(r, StepResult) for r in ctx.results)
    results = {r.step_id: r for r in ctx.results}
    assert results["s2"].error == "the model refused"
    assert results["s3"].error == "a step it depends on failed"
    assert results["s1"].output == "s1 found it" and results["s4"].output == "s4 looked it up"
    # the sub-agent's conversation never reaches the orchestrator or the verifier
    others = [r for r in script.requests if step_id_of(r) != "s2"]
    assert others and not any(SECRET in str(r.messages) for r in others)
    reflect = script.of("reflect")[0].messages[0]["content"]
    assert "- s2 (code) FAILED: the model refused" in reflect
    assert SECRET in str(script.of("act", "s2")[-1].messages), "it was in s2's own context"


def test_a_failing_verdict_replans_and_a_passing_one_finishes() -> None:
    script = Script(plans=[[plan_step("s1", "research")]], verdicts=["fail", "pass"])
    ran = run_agent(make_config(), model(script))
    assert ran.result.outcome == "done"
    plans = script.of("plan")
    assert len(plans) == 2 and len(script.of("verify")) == 2
    assert "verification failed" in plans[1].messages[0]["content"]
    assert ran.ctx.replans == 1


def test_verification_failing_every_time_fails_the_run_at_the_replan_limit() -> None:
    script = Script(plans=[[plan_step("s1", "research")]], verdicts=["fail"])
    ran = run_agent(make_config(orchestrator={"max_replans": 1}), model(script))
    assert ran.result.outcome == "failed"
    assert "replan limit reached" in ran.ctx.reason
    assert len(script.of("plan")) == 2 and len(script.of("verify")) == 2
    assert ran.ctx.state == State.FAILED


def test_nothing_is_done_before_the_verifier_passes_it() -> None:
    s = Stepper(make_config())
    s.plan([plan_step("s1", "research")])
    s.reply(s.one("call_model", "s1"), [text("42")])
    s.reflect("done", "42")
    assert not s.ctx.terminal and s.ctx.state == State.REFLECTING
    verify = s.one("call_model", "verify-1")
    assert verify.purpose == "verify" and "Proposed answer: 42" in str(verify.request.messages)
    s.verdict("pass")
    assert s.ctx.outcome == "done" and s.ctx.answer == "42"


INVALID = {
    "unknown role": ([plan_step("s1", "astrology")], "unknown role 'astrology'"),
    "cycle": ([plan_step("a", "research", depends_on=["b"]),
               plan_step("b", "research", depends_on=["a"])], "cycle"),
    "duplicate ids": ([plan_step("s1", "research"), plan_step("s1", "code")],
                      "duplicate step ids"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_plan_is_asked_for_again(case: str) -> None:
    bad, why = INVALID[case]
    script = Script(plans=[bad, [plan_step("s1", "research")]])
    ran = run_agent(make_config(), model(script))
    assert ran.result.outcome == "done"
    second = script.of("plan")[1].messages[0]["content"]
    assert "Your last plan was rejected" in second and why in second


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_plan_fails_the_run_after_the_last_attempt(case: str) -> None:
    bad, why = INVALID[case]
    script = Script(plans=[bad])
    ran = run_agent(make_config(orchestrator={"max_plan_attempts": 3}), model(script))
    assert ran.result.outcome == "failed"
    assert len(script.of("plan")) == 3 and not script.of("act")
    assert "no valid plan after 3 attempt(s)" in ran.ctx.reason and why in ran.ctx.reason
