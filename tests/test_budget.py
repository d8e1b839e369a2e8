"""Budgets through the real driver on a virtual clock: one test per limit, then retries,
parallel reservations and sub-agent slices.

Every run here would go on forever without its budget (a step that keeps calling tools),
so each limit is what ends it: cleanly, as a recorded outcome, never as an exception out of
``Driver.run``, and never by passing the limit.
"""

from __future__ import annotations

import pytest
from helpers import (
    PRICES,
    Script,
    Slow,
    make_config,
    make_roles,
    model,
    plan_step,
    purpose_of,
    run_agent,
)
from pydantic import BaseModel

from fakes.scripted import Call, FailingModel
from harness.core import RetryPolicy, RunLimits, count_request_tokens
from harness.driver import VirtualClock
from harness.errors import ModelError
from harness.tools import ToolContext, ToolRegistry, tool

DIMENSIONS = ("llm_calls", "tool_calls", "tokens_in", "tokens_out", "cost_usd")
ROLES = make_roles(research={"max_turns": 500}, code={"max_turns": 500})


def forever(turn: int) -> list[Call]:
    """A step that never stops: one more lookup every turn."""
    return [Call("lookup", {"query": f"page {turn}"})]


def looping(**kw: object) -> Script:
    return Script(plans=[[plan_step("s1", "research")]], steps={"s1": forever}, **kw)  # type: ignore[arg-type]


def limited(**limits: float) -> object:
    return make_config(limits=RunLimits(**limits), roles=ROLES)  # type: ignore[arg-type]


def assert_within(used: object, limits: RunLimits) -> None:
    for name in DIMENSIONS:
        limit = getattr(limits, name)
        if limit is not None:
            assert getattr(used, name) <= limit + 1e-12, f"{name} overshot"


def test_llm_calls() -> None:
    script = looping()
    fm = model(script)
    ran = run_agent(limited(llm_calls=7), fm)
    assert ran.result.outcome == "budget_exhausted"
    assert ran.ctx.exhausted_limit == "llm_calls"
    assert ran.ctx.used.llm_calls == fm.calls == 7
    assert_within(ran.ctx.used, ran.ctx.config.limits)  # type: ignore[union-attr]


def test_tool_calls() -> None:
    ran = run_agent(limited(tool_calls=3), model(looping()))
    assert ran.result.outcome == "budget_exhausted"
    assert ran.ctx.exhausted_limit == "tool_calls"
    tools_run = [e for e in ran.effects() if e.kind == "run_tool"]
    assert ran.ctx.used.tool_calls == len(tools_run) == 3


def test_tokens_in() -> None:
    script = looping()
    ran = run_agent(limited(tokens_in=3000), model(script))
    assert ran.result.outcome == "budget_exhausted"
    assert ran.ctx.exhausted_limit == "tokens_in"
    sent = sum(count_request_tokens(r) for r in script.requests)
    assert ran.ctx.used.tokens_in == sent <= 3000
    # the refused request is the one that would have passed the limit
    assert sent + count_request_tokens(script.requests[-1]) > 3000


def test_tokens_out_clamps_max_tokens_to_what_is_left() -> None:
    script = looping(burn=True)  # every reply uses all the tokens it may
    ran = run_agent(limited(tokens_out=700), model(script))
    assert ran.result.outcome == "budget_exhausted"
    assert ran.ctx.exhausted_limit == "tokens_out"
    spent = 0
    for req in script.requests:
        wanted = 512 if purpose_of(req) == "plan" else 256
        assert req.max_tokens == min(wanted, 700 - spent), "max_tokens is clamped to what is left"
        spent += req.max_tokens
    assert [r.max_tokens for r in script.requests] == [512, 188]
    assert ran.ctx.used.tokens_out == spent == 700


def test_wall_time() -> None:
    clock = VirtualClock()
    script = looping()
    starts: list[float] = []

    def latency(_req: object) -> float:
        starts.append(clock.now())
        return 4.0

    ran = run_agent(limited(wall_time_s=10), Slow(model(script), clock, latency), clock=clock)
    assert ran.result.outcome == "budget_exhausted"
    assert ran.ctx.exhausted_limit == "wall_time_s"
    assert ran.ctx.elapsed_s <= 10
    assert all(t < 10 for t in starts), "no call starts once the time is up"
    # the third call had 2 s left: it was cut off at the limit, not allowed to run 4 s
    failed = [e for e in ran.events if e.kind == "model_failed"]
    assert [(e.error_kind, e.at) for e in failed] == [("timeout", 10.0)]


class Query(BaseModel):
    query: str


@tool(name="lookup")
async def slow_lookup(args: Query, ctx: ToolContext) -> str:
    await ctx.clock.sleep(30)
    return "slow facts"


def test_wall_time_cuts_a_slow_tool_at_the_limit() -> None:
    """A tool that would take 30 s with 10 s left ends, on the virtual clock as on a real
    one, at the limit with a timeout (it used to end at 30 s, past the limit)."""
    script = Script(plans=[[plan_step("s1", "research")]],
                    steps={"s1": [[Call("lookup", {"query": "x"})], "found"]})
    ran = run_agent(limited(wall_time_s=10), model(script), tools=ToolRegistry([slow_lookup]))
    [returned] = [e for e in ran.events if e.kind == "tool_returned"]
    assert returned.is_error and returned.error_kind == "timeout" and returned.at == 10.0
    assert ran.result.outcome == "budget_exhausted"
    assert ran.ctx.exhausted_limit == "wall_time_s"
    assert ran.ctx.elapsed_s <= 10


def test_cost_usd_clamps_max_tokens_to_what_the_money_buys() -> None:
    script = looping(burn=True)
    limit = 0.02
    ran = run_agent(limited(cost_usd=limit), model(script))
    assert ran.result.outcome == "budget_exhausted"
    assert ran.ctx.exhausted_limit == "cost_usd"
    prices = {p.model: p for p in PRICES}
    spent = 0.0
    clamped = False
    for req, resp in zip(script.requests, script.replies, strict=True):
        price = prices[req.model]
        affordable = price.max_output_tokens_for(limit - spent, count_request_tokens(req))
        assert req.max_tokens <= affordable
        clamped = clamped or req.max_tokens < (512 if purpose_of(req) == "plan" else 256)
        spent += price.cost(resp.usage)
    assert clamped, "some call got fewer tokens than it asked for"
    assert ran.ctx.used.cost_usd == pytest.approx(spent)
    assert spent <= limit


@pytest.mark.parametrize("dimension", [*DIMENSIONS, "wall_time_s"])
def test_a_zero_limit_ends_the_run_before_anything_is_spent(dimension: str) -> None:
    script = looping()
    fm = model(script)
    ran = run_agent(limited(**{dimension: 0}), fm)
    assert ran.result.outcome == "budget_exhausted"
    assert ran.ctx.exhausted_limit == dimension
    if dimension == "tool_calls":
        assert fm.calls == 2, "the plan and the step's first turn; its tool is refused"
    else:
        assert fm.calls == 0
    assert_within(ran.ctx.used, ran.ctx.config.limits)  # type: ignore[union-attr]


def test_retries_count_as_calls() -> None:
    script = Script(plans=[[plan_step("s1", "research")]])
    failing = FailingModel(model(script), failures={
        1: ModelError("overloaded", "busy", status=529),
        2: ModelError("rate_limited", "slow down", status=429, retry_after_s=3),
    })
    ran = run_agent(make_config(), failing)
    assert ran.result.outcome == "done"
    assert ran.ctx.retries == 2
    assert ran.ctx.used.llm_calls == failing.calls == len(script.requests) + 2


def test_retries_stop_at_the_call_limit_not_at_the_retry_policy() -> None:
    always = {n: ModelError("overloaded", "busy", status=529) for n in range(1, 50)}
    failing = FailingModel(model(looping()), failures=always)
    cfg = make_config(limits=RunLimits(llm_calls=3), retry=RetryPolicy(max_attempts=10))
    ran = run_agent(cfg, failing)
    assert ran.result.outcome == "budget_exhausted"
    assert ran.ctx.exhausted_limit == "llm_calls"
    assert failing.calls == ran.ctx.used.llm_calls == 3


def test_parallel_calls_cannot_jointly_overshoot() -> None:
    """Three steps start together; the limit leaves room for two of their calls."""
    script = Script(plans=[[plan_step(f"s{i}", "research") for i in (1, 2, 3)]],
                    steps={f"s{i}": forever for i in (1, 2, 3)})
    fm = model(script)
    ran = run_agent(limited(llm_calls=3), fm)
    assert ran.result.outcome == "budget_exhausted"
    assert fm.calls <= 3 and ran.ctx.used.llm_calls <= 3


@pytest.mark.parametrize("slice_", [{"limits": RunLimits(llm_calls=2)}, {"budget_share": 0.1}])
def test_a_sub_agent_slice_running_out_fails_only_its_step(slice_: dict[str, object]) -> None:
    roles = make_roles(research={"max_turns": 500, **slice_})
    script = Script(
        plans=[[plan_step("s1", "research"), plan_step("s2", "code"),
                plan_step("s3", "communication", depends_on=["s1"])]],
        steps={"s1": forever, "s2": ["deployed"]},
    )
    cfg = make_config(limits=RunLimits(llm_calls=20), roles=roles)
    ran = run_agent(cfg, model(script))
    assert ran.result.outcome == "done", "the run goes on without the failed step"
    results = {r.step_id: r for r in ran.ctx.results}
    assert not results["s1"].ok and "budget slice exhausted" in results["s1"].error
    assert results["s2"].ok
    assert not results["s3"].ok and "depends on failed" in results["s3"].error
    s1 = ran.ctx.agents["s1"]
    assert s1.limits is not None and s1.used.llm_calls <= (s1.limits.llm_calls or 0) == 2
    assert ran.ctx.exhausted_limit is None


def test_a_slice_refuses_a_tool_with_an_error_the_model_reads() -> None:
    roles = make_roles(research={"max_turns": 4, "limits": RunLimits(tool_calls=1)})
    script = Script(plans=[[plan_step("s1", "research")]], steps={"s1": forever})
    ran = run_agent(make_config(roles=roles), model(script))
    assert ran.result.outcome == "done"
    s1_requests = script.of("act", "s1")
    last = s1_requests[-1].messages[-1]["content"][0]
    assert last["type"] == "tool_result" and last.get("is_error")
    assert "budget" in last["content"] and "tool_calls" in last["content"]
    assert ran.ctx.agents["s1"].used.tool_calls == 1
