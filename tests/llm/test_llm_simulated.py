"""The simulated model: answers in wire format, deterministic per seed, profiles that differ."""

from __future__ import annotations

import asyncio
import statistics

import httpx2
import pytest
from llm_support import REFERENCE, TOOLS, run, step_request

from harness.core._llm_types import ModelRequest, count_request_tokens, count_tokens
from harness.driver._clock import VirtualClock
from harness.errors import UsageError
from harness.llm import (
    DONE_MARK,
    PLAN_TOOL,
    PROFILES,
    REFLECTION_TOOL,
    VERDICT_TOOL,
    AnthropicClient,
    ReferenceSolution,
    SimulatedTransport,
    make_client,
    price_for,
    run_episode,
    simulated_answer,
)


def _raw(transport: SimulatedTransport, request: ModelRequest) -> bytes:
    """The exact response bytes the simulator sends for ``request``."""
    captured: list[bytes] = []

    class Tap(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, req: httpx2.Request) -> httpx2.Response:
            resp = await transport.handle_async_request(req)
            captured.append(await resp.aread())
            return resp

    async def go() -> None:
        async with AnthropicClient(Tap()) as client:
            await client.complete(request)

    run(go())
    return captured[0]


def test_byte_identical_per_seed_and_independent_of_call_order() -> None:
    reqs = [step_request(model=m, step=s) for m in ("claude-haiku-4-5", "claude-opus-4-5")
            for s in ("s1", "s2", "s3")]
    a = SimulatedTransport(REFERENCE, seed=7)
    b = SimulatedTransport(REFERENCE, seed=7)
    forward = [_raw(a, r) for r in reqs]
    backward = [_raw(b, r) for r in reversed(reqs)][::-1]
    assert forward == backward
    other = SimulatedTransport(REFERENCE, seed=8)
    assert [_raw(other, r) for r in reqs] != forward


def test_usage_counts_match_the_cores_reservation() -> None:
    req = step_request(model="claude-sonnet-4-6")
    body = simulated_answer(REFERENCE, req, seed=1)
    assert body["usage"]["input_tokens"] == count_request_tokens(req)
    assert body["usage"]["output_tokens"] == count_tokens(body["content"])


def test_skilled_sub_agent_makes_the_next_expected_call_and_then_summarises() -> None:
    client = make_client("simulated", reference=REFERENCE, seed=3)
    req = step_request(model="claude-opus-4-5")

    async def go() -> list[str]:
        out = []
        messages = list(req.messages)
        for _ in range(6):
            r = await client.complete(req.model_copy(update={"messages": tuple(messages)}))
            if r.stop_reason != "tool_use":
                out.append(r.text())
                break
            use = r.tool_uses()[0]
            out.append(f"{use['name']}:{use['input']}")
            messages += [{"role": "assistant", "content": list(r.content)},
                         {"role": "user", "content": [{"type": "tool_result",
                                                       "tool_use_id": use["id"], "content": "ok"}]}]
        return out

    out = run(go())
    assert out[0] == "get_order:{'order_id': '42'}"
    assert "get_customer:{'customer_id': 'c7'}" in out
    assert out[-1].startswith(DONE_MARK.format(id="s1"))


def test_failed_tool_result_is_retried_by_a_skilled_model() -> None:
    first = simulated_answer(REFERENCE, step_request(model="claude-opus-4-5"), seed=0)
    use = next(b for b in first["content"] if b["type"] == "tool_use")
    retry_req = step_request(model="claude-opus-4-5", messages=(
        step_request().messages[0],
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"],
                                      "content": "503 from orders service", "is_error": True}]},
    ))
    again = [b for b in simulated_answer(REFERENCE, retry_req, seed=0)["content"]
             if b["type"] == "tool_use"]
    assert again and (again[0]["name"], again[0]["input"]) == (use["name"], use["input"])


def test_plan_reflection_and_verdict_follow_the_conventions() -> None:
    plan = simulated_answer(REFERENCE, ModelRequest(
        model="claude-opus-4-5", messages=({"role": "user", "content": "Refund order 42"},),
        tools=(PLAN_TOOL,), tool_choice={"type": "tool", "name": "submit_plan"}, max_tokens=2048,
    ), seed=0)
    steps = plan["content"][-1]["input"]["steps"]
    assert [s["id"] for s in steps] == ["s1", "s2", "s3"]
    assert steps[1] == {"id": "s2", "role": "support", "instruction": "Refund order 42 in full.",
                        "depends_on": ["s1"]}

    def reflect(text: str, seed: int = 0) -> dict[str, object]:
        body = simulated_answer(REFERENCE, ModelRequest(
            model="claude-opus-4-5", messages=({"role": "user", "content": text},),
            tools=(REFLECTION_TOOL,), tool_choice={"type": "tool", "name": "submit_reflection"},
            max_tokens=2048), seed=seed)
        return dict(body["content"][-1]["input"])

    complete = "\n".join(DONE_MARK.format(id=s) + ": ok" for s in ("s1", "s2", "s3"))
    decisions = [reflect(complete, seed) for seed in range(20)]
    assert sum(d["decision"] == "done" for d in decisions) >= 17
    done = next(d for d in decisions if d["decision"] == "done")
    assert done["answer"] == REFERENCE.answer and 0 <= float(done["confidence"]) <= 1  # type: ignore[arg-type]
    partial = [reflect(DONE_MARK.format(id="s1"), seed) for seed in range(20)]
    assert sum(d["decision"] != "done" for d in partial) >= 17

    def verdict(answer: str, seed: int = 0) -> object:
        body = simulated_answer(REFERENCE, ModelRequest(
            model="claude-opus-4-5",
            messages=({"role": "user", "content": f"[step verify] Check: {answer}"},),
            tools=(VERDICT_TOOL,), tool_choice={"type": "tool", "name": "submit_verdict"},
            max_tokens=1024), seed=seed)
        return body["content"][-1]["input"]["verdict"]

    assert sum(verdict(REFERENCE.answer, s) == "pass" for s in range(20)) >= 18
    assert sum(verdict("I could not find the order", s) == "fail" for s in range(20)) >= 18


def test_long_answers_are_cut_at_max_tokens() -> None:
    body = simulated_answer(REFERENCE, step_request(model="claude-opus-4-1", max_tokens=5), seed=0)
    assert body["stop_reason"] == "max_tokens"
    assert body["usage"]["output_tokens"] <= 5


def test_latency_is_spent_on_the_injected_clock() -> None:
    clock = VirtualClock()
    client = make_client("simulated", reference=REFERENCE, seed=0, clock=clock)
    run(client.complete(step_request(model="claude-opus-4-1")))
    assert 0.3 < clock.now() < 30


def test_unknown_model_and_missing_reference_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="no simulated profile for model 'claude-x'"):
        run(make_client("simulated", reference=REFERENCE).complete(step_request(model="claude-x")))
    with pytest.raises(UsageError, match="reference solution"):
        make_client("simulated")


def test_profiles_cover_three_classes_with_prices() -> None:
    assert {"claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-5"} <= set(PROFILES)
    for model in PROFILES:
        price_for(model)


def test_reference_rejects_unknown_dependencies() -> None:
    with pytest.raises(ValueError, match="not an earlier step"):
        ReferenceSolution.model_validate({"answer": "a", "steps": [
            {"id": "a", "role": "r", "instruction": "i", "depends_on": ["b"]}]})


def _measure(model: str, seeds: range) -> tuple[float, float, float]:
    async def go() -> list[tuple[bool, float, int]]:
        out = []
        for seed in seeds:
            client = make_client("simulated", reference=REFERENCE, seed=seed)
            r = await run_episode(client, REFERENCE, model=model)
            out.append((r.completed, r.cost_usd, r.usage.output_tokens))
        return out

    results = asyncio.run(go())
    return (sum(c for c, _, _ in results) / len(results),
            statistics.mean(c for _, c, _ in results),
            statistics.mean(t for _, _, t in results))


def test_profiles_differ_measurably_in_completion_and_cost() -> None:
    seeds = range(60)
    haiku = _measure("claude-haiku-4-5", seeds)
    sonnet = _measure("claude-sonnet-4-6", seeds)
    opus = _measure("claude-opus-4-1", seeds)
    assert haiku[0] + 0.15 < opus[0], (haiku, opus)
    assert haiku[0] < sonnet[0] <= opus[0] + 0.1, (haiku, sonnet, opus)
    assert haiku[1] * 3 < sonnet[1] < opus[1], (haiku, sonnet, opus)
    assert haiku[2] < opus[2]
    assert _measure("claude-haiku-4-5", seeds) == haiku


def test_tools_offered_to_sub_agents_are_respected() -> None:
    body = simulated_answer(REFERENCE, step_request(model="claude-opus-4-5", tools=TOOLS[2:]),
                            seed=0)
    assert body["stop_reason"] == "end_turn" and "not available" in body["content"][0]["text"]
