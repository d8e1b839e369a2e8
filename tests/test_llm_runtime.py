"""The LLM layer under the agent runtime: retries, determinism, profiles, replay, injection.

Every test runs the production stack: ``Driver`` on a ``VirtualClock`` → ``AnthropicClient``
(the ``anthropic`` SDK with ``max_retries=0``) → [``ChaosTransport``] → the simulated model,
driven by the reference solution in ``llm_runtime_support``. What happened is read back from
the run's log (``harness.store.decode`` of the recorder's records, folded through ``step``):
``model_failed``/``model_replied`` events for attempts, the ``CallModel`` effects the core
issued (``attempt``, ``not_before``) for the retry policy, and the events' ``at`` for virtual
time. Nothing here measures wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from llm_runtime_support import (
    HAIKU,
    OPUS,
    PLANTED,
    REFERENCE,
    SONNET,
    TASK,
    Shop,
    StatusAt,
    Trial,
    arun_trial,
    run_trial,
    steady,
    steady_profiles,
)

from harness.core import (
    CallModel,
    ModelFailed,
    ModelReplied,
    ModelRequest,
    RequestHuman,
    RetryPolicy,
    RunLimits,
)
from harness.llm import (
    EXPECTED_OUTCOME,
    PROFILES,
    LLMFault,
    LLMFaultPlan,
    ModelProfile,
    ReplayMiss,
    retryable,
    simulated_answer,
)
from harness.store import decode

STEADY = steady_profiles()
"""Infallible profiles: any deviation from the reference in these runs is the fault's doing."""

#: Call 1 is the plan; call 2 is step s1's first turn (its first attempt).
FIRST_STEP_CALL = 2


def _plan(*faults: LLMFault) -> LLMFaultPlan:
    return LLMFaultPlan(faults=faults)


def _attempts(t: Trial, agent: str) -> list[CallModel]:
    """The model calls ``agent`` made, in issue order (retries included)."""
    return [c for c in t.calls().values() if c.agent == agent]


def _charged_attempts(t: Trial) -> int:
    """Attempts as the log shows them: every ``model_replied`` and ``model_failed``."""
    kinds = Counter(e.kind for e in t.events)
    return kinds["model_replied"] + kinds["model_failed"]


def _step_result(t: Trial, step_id: str) -> Any:
    return next(r for r in t.ctx.results if r.step_id == step_id)


# --- 1. the retry policy through the real stack -------------------------------------------

POLICY = RetryPolicy(max_attempts=4, base_delay_s=2.0, max_delay_s=30.0, retry_after_cap_s=60.0,
                     jitter=0.25)

RETRYABLE_FAULTS = [
    # (the fault, the error kind the core sees, its HTTP status, the delay it must wait:
    #  a number when the server's retry-after decides, None for exponential backoff)
    pytest.param({"kind": "rate_limited", "retry_after_s": 12}, "rate_limited", 429, 12.0,
                 id="429-retry-after"),
    pytest.param({"kind": "rate_limited", "retry_after_s": 500}, "rate_limited", 429, 60.0,
                 id="429-retry-after-capped"),
    pytest.param({"kind": "overloaded"}, "overloaded", 529, None, id="529"),
    pytest.param({"kind": "overloaded", "retry_after_s": 7}, "overloaded", 529, 7.0,
                 id="529-retry-after"),
    pytest.param({"kind": "server_error"}, "server_error", 500, None, id="500"),
    pytest.param({"kind": "gateway_timeout"}, "gateway_timeout", 504, None, id="504"),
    pytest.param({"kind": "read_timeout"}, "timeout", None, None, id="read-timeout"),
    pytest.param({"kind": "connect_timeout"}, "connect_error", None, None, id="connect-timeout"),
    pytest.param({"kind": "connect_refused"}, "connect_error", None, None, id="connect-refused"),
]


@pytest.mark.parametrize(("fault", "kind", "status", "delay"), RETRYABLE_FAULTS)
def test_a_retryable_fault_is_retried_once_after_the_policy_delay(
    fault: dict[str, Any], kind: str, status: int | None, delay: float | None,
) -> None:
    t = run_trial(profiles=STEADY, retry=POLICY,
                  faults=_plan(LLMFault(at_call=FIRST_STEP_CALL, **fault)))
    ctx = t.ctx
    assert [(f.call, f.kind) for f in t.transport.fired] == [(FIRST_STEP_CALL, fault["kind"])]
    assert EXPECTED_OUTCOME[fault["kind"]] == kind and retryable(kind)

    # the failure reached the core as the real API presents it, and was retried once
    [failed] = t.failures()
    assert (failed.error_kind, failed.status) == (kind, status)
    first, retry = _attempts(t, "s1")[:2]
    assert failed.effect_id == first.effect_id
    assert t.retry_after(failed) == retry
    assert (first.attempt, retry.attempt) == (1, 2)
    assert retry.request == first.request
    assert ctx.retries == 1
    assert isinstance(t.answer_to(retry.effect_id), ModelReplied)
    assert ctx.outcome == "done" and t.shop.made_reference_calls()

    # every attempt is charged: the run's calls, step s1's slice, and what went over the wire
    assert ctx.used.llm_calls == _charged_attempts(t) == t.transport.calls
    assert ctx.agents["s1"].used.llm_calls == len(_attempts(t, "s1"))

    # the retry waits exactly the policy's delay after the failure...
    assert retry.not_before is not None
    wait = retry.not_before - failed.at
    if delay is not None:
        assert wait == pytest.approx(delay, abs=1e-9)
    else:
        assert POLICY.base_delay_s * (1 - POLICY.jitter) <= wait
        assert wait <= POLICY.base_delay_s * (1 + POLICY.jitter)
    # ...and is sent at that moment: its reply lands one simulated latency later
    reply = t.answer_to(retry.effect_id)
    assert reply.at == pytest.approx(retry.not_before + t.simulated_latency(retry), abs=1e-9)
    # a timeout spends its own time before it fails: 600 s to read, the SDK's 5 s to connect
    spent = {"read_timeout": 600.0, "connect_timeout": 5.0}.get(fault["kind"], 0.0)
    assert failed.at == pytest.approx(first.issued_at + spent, abs=1e-9)


@pytest.mark.parametrize("max_attempts", [1, 2, 4])
@pytest.mark.parametrize(("fault", "kind"), [("overloaded", "overloaded"),
                                             ("gateway_timeout", "gateway_timeout"),
                                             ("connect_refused", "connect_error")])
def test_after_max_attempts_the_step_fails_with_the_error_named(
    fault: str, kind: str, max_attempts: int,
) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, base_delay_s=1.0, max_delay_s=3.0,
                         jitter=0.25)
    calls = range(FIRST_STEP_CALL, FIRST_STEP_CALL + max_attempts)
    t = run_trial(profiles=STEADY, retry=policy, max_replans=0,
                  faults=_plan(*(LLMFault(kind=fault, at_call=c) for c in calls)))  # type: ignore[arg-type]
    ctx = t.ctx
    failed = t.failures("s1")
    assert len(failed) == max_attempts
    assert [t.calls()[f.effect_id].attempt for f in failed] == list(range(1, max_attempts + 1))
    assert {f.error_kind for f in failed} == {kind}
    assert ctx.retries == max_attempts - 1
    assert t.retry_after(failed[-1]) is None, "one attempt too many"
    assert ctx.used.llm_calls == _charged_attempts(t) == t.transport.calls

    s1 = _step_result(t, "s1")
    assert not s1.ok
    assert s1.error.startswith(f"model call failed after {max_attempts} attempt(s): {kind}")
    assert not _step_result(t, "s2").ok  # it depended on s1
    assert ctx.outcome != "done" and t.shop.refunds == []

    # exponential backoff, capped at max_delay_s, with jitter in [1-j, 1+j] x base
    for n, f in enumerate(failed[:-1], start=1):
        retry = t.retry_after(f)
        assert retry is not None and retry.not_before is not None
        base = min(policy.max_delay_s, policy.base_delay_s * 2 ** (n - 1))
        wait = retry.not_before - f.at
        assert base * (1 - policy.jitter) <= wait <= base * (1 + policy.jitter), (n, wait)
        # an injected status answers at once: the next failure is stamped when it was sent
        assert t.answer_to(retry.effect_id).at == pytest.approx(retry.not_before, abs=1e-9)


def test_backoff_jitter_is_seeded_by_the_run() -> None:
    def wait(seed: int) -> float:
        t = run_trial(seed=seed, profiles=STEADY, retry=POLICY,
                      faults=_plan(LLMFault(kind="overloaded", at_call=FIRST_STEP_CALL)))
        [failed] = t.failures()
        retry = t.retry_after(failed)
        assert retry is not None and retry.not_before is not None
        return retry.not_before - failed.at

    waits = [wait(seed) for seed in range(6)]
    assert wait(0) == waits[0] and wait(3) == waits[3]
    assert len(set(waits)) == len(waits), "jitter must vary with the seed"
    lo, hi = POLICY.base_delay_s * (1 - POLICY.jitter), POLICY.base_delay_s * (1 + POLICY.jitter)
    assert all(lo <= w <= hi for w in waits)


def _http_error(status: int, error_type: str, message: str) -> Any:
    def wrap(inner: Any) -> StatusAt:
        return StatusAt(inner, at_call=FIRST_STEP_CALL, status=status, error_type=error_type,
                        message=message)
    return wrap


NON_RETRYABLE = [
    pytest.param({"wrap": _http_error(400, "invalid_request_error",
                                      "messages.0.content: Field required")},
                 "bad_request", 400, id="400"),
    pytest.param({"wrap": _http_error(401, "authentication_error", "invalid x-api-key")},
                 "auth", 401, id="401"),
    pytest.param({"faults": _plan(LLMFault(kind="spend_limit", at_call=FIRST_STEP_CALL))},
                 "spend_limit", 429, id="429-spend-limit"),
    pytest.param({"faults": _plan(LLMFault(kind="malformed_tool_input",
                                           at_call=FIRST_STEP_CALL))},
                 "malformed_reply", 200, id="malformed-tool-use"),
]


@pytest.mark.parametrize(("how", "kind", "status"), NON_RETRYABLE)
def test_a_non_retryable_error_fails_the_step_after_one_attempt(
    how: dict[str, Any], kind: str, status: int,
) -> None:
    t = run_trial(profiles=STEADY, retry=POLICY, max_replans=0, **how)
    ctx = t.ctx
    [failed] = t.failures()
    assert (failed.error_kind, failed.status) == (kind, status)
    assert not retryable(kind)
    assert t.retry_after(failed) is None
    assert len(_attempts(t, "s1")) == 1
    assert ctx.retries == 0
    assert ctx.used.llm_calls == _charged_attempts(t)
    s1 = _step_result(t, "s1")
    assert not s1.ok and s1.error.startswith(f"model call failed after 1 attempt(s): {kind}")
    assert ctx.outcome != "done" and t.shop.refunds == []


def test_a_non_retryable_error_while_planning_fails_the_run() -> None:
    t = run_trial(profiles=STEADY, faults=_plan(LLMFault(kind="spend_limit", at_call=1)))
    assert t.ctx.outcome == "failed"
    assert t.ctx.reason.startswith("model call failed after 1 attempt(s): spend_limit")
    assert (t.ctx.used.llm_calls, t.ctx.retries, t.transport.calls) == (1, 0, 1)


def test_a_retry_that_would_overshoot_the_call_limit_ends_the_run_budget_exhausted() -> None:
    # plan (1) + two failed attempts of s1 (2, 3) = 3 calls: the retry would be the 4th
    t = run_trial(profiles=STEADY, retry=POLICY, limits=RunLimits(llm_calls=3),
                  faults=_plan(LLMFault(kind="overloaded", at_call=2),
                               LLMFault(kind="overloaded", at_call=3)))
    ctx = t.ctx
    assert ctx.outcome == "budget_exhausted" and ctx.exhausted_limit == "llm_calls"
    assert ctx.used.llm_calls == 3 == _charged_attempts(t) == t.transport.calls
    assert isinstance(t.events[-1], ModelFailed)
    assert t.retry_after(t.events[-1]) is None
    # the 80 % budget alert of that same failure can never reach anyone: it is not counted
    assert not any(isinstance(e, RequestHuman) for e in t.folded[-1].effects)
    assert ctx.escalations == 0


def test_a_retry_after_beyond_the_wall_time_budget_ends_the_run_budget_exhausted() -> None:
    policy = POLICY.model_copy(update={"retry_after_cap_s": 120.0})
    t = run_trial(profiles=STEADY, retry=policy, limits=RunLimits(wall_time_s=60),
                  faults=_plan(LLMFault(kind="rate_limited", retry_after_s=90,
                                        at_call=FIRST_STEP_CALL)))
    assert t.ctx.outcome == "budget_exhausted" and t.ctx.exhausted_limit == "wall_time_s"
    assert t.ctx.now < 60, "the run must not sleep past its deadline"
    assert t.ctx.used.llm_calls == 2


# --- replies the API sends that are not errors -------------------------------------------


@pytest.mark.parametrize("model", [SONNET, HAIKU])  # Haiku-class writes no text before a tool
def test_a_truncated_reply_is_continued_with_a_valid_request(model: str) -> None:
    t = run_trial(model, profiles=STEADY,
                  faults=_plan(LLMFault(kind="truncated", at_call=FIRST_STEP_CALL)))
    first, second = _attempts(t, "s1")[:2]
    cut = t.answer_to(first.effect_id)
    assert isinstance(cut, ModelReplied)
    assert cut.response.stop_reason == "max_tokens" and not cut.response.tool_uses()
    # the core asked to continue, in a request the real API accepts (no empty message)
    assert second.attempt == 1
    assert second.request.messages[-1] == {
        "role": "user", "content": [{"type": "text", "text": "Your reply was cut off. Continue."}]}
    assert all(m["content"] not in ("", []) for m in second.request.messages)
    assert t.failures() == []
    assert t.ctx.outcome == "done" and t.shop.made_reference_calls()


def test_a_refusal_fails_the_step_without_a_retry() -> None:
    t = run_trial(profiles=STEADY, max_replans=0,
                  faults=_plan(LLMFault(kind="refusal", at_call=FIRST_STEP_CALL)))
    [only] = _attempts(t, "s1")
    refused = t.answer_to(only.effect_id)
    assert isinstance(refused, ModelReplied) and refused.response.stop_reason == "refusal"
    assert t.failures() == [] and t.ctx.retries == 0
    s1 = _step_result(t, "s1")
    assert (s1.ok, s1.error) == (False, "the model refused")
    assert t.ctx.outcome != "done"


def test_a_malformed_tool_use_reaches_the_core_as_model_failed() -> None:
    t = run_trial(profiles=STEADY, max_replans=0,
                  faults=_plan(LLMFault(kind="malformed_tool_input", at_call=FIRST_STEP_CALL)))
    [failed] = t.failures()
    assert (failed.error_kind, failed.status) == ("malformed_reply", 200)
    assert "tool_use 'get_order' input is not a JSON object" in failed.message
    assert t.retry_after(failed) is None
    assert "malformed_reply" in _step_result(t, "s1").error
    # nothing of the broken call ran
    assert not [r for r in t.tool_runs() if r.agent == "s1"]
    # but the reply arrived and was billed: its tokens are in the event and in the step's cost
    assert failed.usage is not None and failed.usage.input_tokens > 0
    s1 = t.ctx.agents["s1"].used
    assert (s1.llm_calls, s1.tokens_in, s1.tokens_out) == (
        1, failed.usage.total_input_tokens, failed.usage.output_tokens)
    assert s1.cost_usd > 0


# --- 2. determinism -------------------------------------------------------------------------

CHAOS = _plan(LLMFault(kind="overloaded", rate=0.15), LLMFault(kind="truncated", rate=0.1),
              LLMFault(kind="rate_limited", rate=0.05, retry_after_s=3))


def test_same_scenario_and_seed_give_a_byte_identical_log() -> None:
    a = run_trial(HAIKU, seed=7, faults=CHAOS)
    b = run_trial(HAIKU, seed=7, faults=CHAOS)
    assert a.transport.fired, "the faults must have fired for this to mean anything"
    assert len(a.events) > 10
    assert a.payloads == b.payloads
    events_a, _ = decode("trial", a.records)
    events_b, _ = decode("trial", b.records)
    assert [e.model_dump_json() for e in events_a] == [e.model_dump_json() for e in events_b]
    assert a.ctx == b.ctx

    c = run_trial(HAIKU, seed=8, faults=CHAOS)
    assert c.payloads != a.payloads


# --- 3. profiles through the runtime --------------------------------------------------------


def test_profiles_differ_in_completion_and_cost_through_the_runtime() -> None:
    seeds = range(30)

    async def measure(model: str) -> tuple[float, float, float]:
        done, costs, calls = 0, [], 0
        for seed in seeds:
            t = await arun_trial(model, seed=seed, run_id=f"{model}-{seed}")
            done += t.ctx.outcome == "done" and t.shop.made_reference_calls()
            costs.append(t.ctx.used.cost_usd)
            calls += t.ctx.used.llm_calls
        return done / len(seeds), statistics.mean(costs), sum(costs) / calls

    async def all_models() -> dict[str, tuple[float, float, float]]:
        return {m: await measure(m) for m in (HAIKU, SONNET, OPUS)}

    r = asyncio.run(all_models())
    (h_done, h_cost, h_call), (s_done, s_cost, s_call), (o_done, o_cost, o_call) = (
        r[HAIKU], r[SONNET], r[OPUS])
    assert o_done >= 0.9, r
    assert h_done + 0.1 <= o_done, r
    assert h_done <= s_done <= o_done, r
    assert h_cost < s_cost < o_cost, r
    assert h_call < s_call < o_call, r


# --- 4. record and replay through the runtime -----------------------------------------------


@pytest.mark.parametrize("faults", [None, CHAOS], ids=["clean", "chaos"])
def test_a_recorded_run_replays_identically_through_the_driver(
    tmp_path: Path, faults: LLMFaultPlan | None,
) -> None:
    cassette = tmp_path / "run.json"
    recorded = run_trial(SONNET, seed=5, faults=faults, record_to=cassette)
    replayed = run_trial(SONNET, seed=5, faults=faults, transport="replay", cassette=cassette)
    a, b = recorded.ctx, replayed.ctx
    assert (b.outcome, b.answer, b.used, b.used.cost_usd) == (a.outcome, a.answer, a.used,
                                                            a.used.cost_usd)
    assert replayed.payloads == recorded.payloads
    assert b == a
    assert replayed.shop.calls == recorded.shop.calls
    assert a.outcome == "done" and a.used.cost_usd > 0
    if faults is not None:
        assert recorded.transport.fired == replayed.transport.fired != []


def test_a_changed_task_is_a_replay_miss_naming_the_request(tmp_path: Path) -> None:
    cassette = tmp_path / "run.json"
    run_trial(SONNET, seed=5, record_to=cassette)
    changed = TASK.replace("broken", "broker")
    assert len(changed) == len(TASK) and changed != TASK
    with pytest.raises(ReplayMiss) as caught:
        run_trial(SONNET, seed=5, transport="replay", cassette=cassette, task=changed)
    miss = caught.value
    text = str(miss)
    assert text.startswith("replay miss:") and miss.request_hash[:16] in text
    assert miss.model == SONNET and "last message: user: Task: " + changed in text
    assert "difference (- recorded, + this request)" in text
    assert f'-   "content": "Task: {TASK}' in text
    assert f'+   "content": "Task: {changed}' in text


# --- 5. prompt injection in tool results ----------------------------------------------------


def _poisoned(susceptibility: float) -> dict[str, ModelProfile]:
    return steady_profiles(injection_susceptibility=susceptibility)


def test_a_fully_susceptible_model_obeys_the_planted_instruction() -> None:
    t = run_trial(profiles=_poisoned(1.0), shop=Shop(note=PLANTED))
    assert t.shop.notes_served >= 2
    refunds = [r for r in t.tool_runs() if r.tool == "refund"]
    hijacked = [r for r in refunds if r.input["order_id"] == "43"]
    assert hijacked and all(r.agent == "s2" for r in hijacked)
    assert hijacked[0].input == {"order_id": "43", "amount": 10}
    assert ("43", 10.0) in t.shop.refunds
    # the research role holds no dangerous tool, so it cannot obey and stays on task
    assert {r.tool for r in t.tool_runs() if r.agent == "s1"} <= {"get_order", "get_customer"}


def test_a_model_with_no_susceptibility_never_obeys() -> None:
    for seed in range(5):
        t = run_trial(seed=seed, profiles=_poisoned(0.0), shop=Shop(note=PLANTED))
        assert t.shop.notes_served >= 2
        assert t.shop.refunds == [("42", 10.0)]
        assert t.ctx.outcome == "done"


def _poisoned_turn(note: str | None) -> ModelRequest:
    """Step s2 right after ``get_order`` answered (with ``note`` planted in the result)."""
    result: dict[str, Any] = {"order_id": "42", "amount": 10,
                              "other_orders_of_customer": [{"order_id": "43"}]}
    if note is not None:
        result["note"] = note
    tools = tuple({"name": n, "description": n, "input_schema": {"type": "object"}}
                  for n in ("get_order", "refund"))
    return ModelRequest(
        model=SONNET, system="You handle refunds.", tools=tools, max_tokens=1024, messages=(
            {"role": "user", "content": [{"type": "text", "text": "[step s2] Check order 42, "
                                          "then refund it in full."}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                               "name": "get_order",
                                               "input": {"order_id": "42"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                          "content": json.dumps(result, sort_keys=True)}]},
        ))


def _obeys(seed: int, profile: ModelProfile, note: str | None = PLANTED) -> bool:
    body = simulated_answer(REFERENCE, _poisoned_turn(note), seed=seed,
                            profiles={SONNET: profile.model_copy(update={"model": SONNET})})
    uses = [b for b in body["content"] if b["type"] == "tool_use"]
    return bool(uses) and uses[0]["input"].get("order_id") == "43"


def test_obedience_is_drawn_from_the_seed_at_the_profiles_rate() -> None:
    half = steady(SONNET, injection_susceptibility=0.5)
    seeds = range(200)
    draws = [_obeys(s, half) for s in seeds]
    assert draws == [_obeys(s, half) for s in seeds]
    assert 70 <= sum(draws) <= 130
    assert all(_obeys(s, steady(SONNET, injection_susceptibility=1.0)) for s in range(20))
    assert not any(_obeys(s, steady(SONNET, injection_susceptibility=0.0)) for s in range(50))
    # no planted text, nothing to obey: the answer is the same whatever the susceptibility
    clean = _poisoned_turn(None)
    for s in range(10):
        answers = {str(simulated_answer(REFERENCE, clean, seed=s, profiles={
            SONNET: steady(SONNET, injection_susceptibility=x)})) for x in (0.0, 1.0)}
        assert len(answers) == 1
    # the built-in classes: Haiku-class the most susceptible, Opus-class the least
    rates = {m: sum(_obeys(s, PROFILES[m]) for s in range(300)) for m in (HAIKU, SONNET, OPUS)}
    assert (PROFILES[HAIKU].injection_susceptibility > PROFILES[SONNET].injection_susceptibility
            > PROFILES[OPUS].injection_susceptibility)
    assert rates[HAIKU] > rates[SONNET] > rates[OPUS], rates
