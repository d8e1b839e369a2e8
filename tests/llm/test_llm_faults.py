"""LLM faults reach the client the way the real API would present them."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llm_support import REFERENCE, run, step_request

from harness.driver._clock import VirtualClock
from harness.errors import ModelError
from harness.llm import (
    EXPECTED_OUTCOME,
    FAULT_KINDS,
    ChaosTransport,
    LLMFault,
    LLMFaultPlan,
    make_client,
    retryable,
)


def _client(*faults: LLMFault, seed: int = 0, clock: Any = None) -> Any:
    return make_client("simulated", reference=REFERENCE, seed=0, clock=clock,
                       faults=LLMFaultPlan(faults=faults), fault_seed=seed)


def _outcome(kind: str, **kw: Any) -> tuple[str, Any]:
    """Fire ``kind`` on the first call; return what the client saw."""
    client = _client(LLMFault(kind=kind, at_call=1, **kw))  # type: ignore[arg-type]
    try:
        response = run(client.complete(step_request(), timeout_s=30))
    except ModelError as exc:
        return exc.kind, exc
    return ("ok" if response.stop_reason in ("tool_use", "end_turn")
            else f"stop_reason={response.stop_reason}"), response


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_reaches_the_client_as_its_expected_outcome(kind: str) -> None:
    outcome, seen = _outcome(kind)
    assert outcome == EXPECTED_OUTCOME[kind]
    if isinstance(seen, ModelError):
        assert retryable(seen.kind) == (kind not in ("spend_limit", "malformed_tool_input"))


def test_status_codes_and_retry_after() -> None:
    _, err = _outcome("rate_limited", retry_after_s=12)
    assert (err.status, err.retry_after_s) == (429, 12.0)
    _, err = _outcome("rate_limited")
    assert err.retry_after_s == 1.0
    _, err = _outcome("overloaded", retry_after_s=3)
    assert (err.kind, err.status, err.retry_after_s) == ("overloaded", 529, 3.0)
    _, err = _outcome("spend_limit")
    assert (err.kind, err.status) == ("spend_limit", 429)
    assert _outcome("server_error")[1].status == 500
    assert _outcome("gateway_timeout")[1].status == 504


def test_rewritten_replies_keep_the_wire_shape() -> None:
    _, truncated = _outcome("truncated")
    assert truncated.stop_reason == "max_tokens" and not truncated.tool_uses()
    _, refusal = _outcome("refusal")
    assert refusal.stop_reason == "refusal" and refusal.usage.input_tokens > 0
    _, malformed = _outcome("malformed_tool_input")
    assert "input is not a JSON object" in str(malformed)


def test_timeouts_spend_the_request_timeout_on_the_clock() -> None:
    clock = VirtualClock()
    client = _client(LLMFault(kind="read_timeout", at_call=1), clock=clock)
    with pytest.raises(ModelError, match="timeout"):
        run(client.complete(step_request(), timeout_s=45))
    assert clock.now() == 45
    slow = _client(LLMFault(kind="slow", at_call=1, delay_s=100), clock=VirtualClock())
    run(slow.complete(step_request()))
    assert slow.transport.inner.clock.now() > 100


def test_scheduled_faults_fire_on_their_call_and_are_recorded() -> None:
    client = _client(LLMFault(kind="overloaded", at_call=3),
                     LLMFault(kind="rate_limited", at_call=4, retry_after_s=2))
    kinds = []
    for _ in range(5):
        try:
            run(client.complete(step_request()))
            kinds.append("ok")
        except ModelError as exc:
            kinds.append(exc.kind)
    assert kinds == ["ok", "ok", "overloaded", "rate_limited", "ok"]
    chaos = client.transport
    assert isinstance(chaos, ChaosTransport)
    assert [(f.call, f.kind, f.trigger) for f in chaos.fired] == [
        (3, "overloaded", "scheduled"), (4, "rate_limited", "scheduled")]


def _rate_run(seed: int, n: int = 40) -> list[str]:
    client = _client(LLMFault(kind="overloaded", rate=0.3),
                     LLMFault(kind="truncated", rate=0.2), seed=seed)
    out = []
    for i in range(n):
        try:
            r = run(client.complete(step_request(step=("s1", "s2", "s3")[i % 3])))
            out.append(r.stop_reason)
        except ModelError as exc:
            out.append(exc.kind)
    return out


def test_rate_drawn_faults_are_deterministic_per_seed() -> None:
    a = _rate_run(5)
    assert a == _rate_run(5)
    assert a != _rate_run(6)
    assert 4 <= a.count("overloaded") <= 22 and "max_tokens" in a


def test_plans_are_validated() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        LLMFault(kind="overloaded")
    with pytest.raises(ValueError, match="exactly one of"):
        LLMFault(kind="overloaded", at_call=1, rate=0.5)
    with pytest.raises(ValueError, match="same call"):
        LLMFaultPlan(faults=(LLMFault(kind="overloaded", at_call=2),
                             LLMFault(kind="server_error", at_call=2)))


@settings(max_examples=25, deadline=None)
@given(plan=st.lists(st.tuples(st.sampled_from(FAULT_KINDS), st.integers(1, 6)),
                     max_size=4, unique_by=lambda t: t[1]))
def test_any_schedule_fires_exactly_as_written(plan: list[tuple[str, int]]) -> None:
    faults = tuple(LLMFault(kind=k, at_call=c) for k, c in plan)  # type: ignore[arg-type]
    client = _client(*faults)
    for _ in range(6):
        with contextlib.suppress(ModelError):
            run(client.complete(step_request(), timeout_s=5))
    fired = [(f.call, f.kind) for f in client.transport.fired]
    assert fired == sorted((c, k) for k, c in plan)


def test_a_chaos_run_recorded_then_replayed_under_the_same_plan_fails_the_same_way(
    tmp_path: Any,
) -> None:
    plan = LLMFaultPlan(faults=(LLMFault(kind="overloaded", rate=0.25),
                                LLMFault(kind="refusal", at_call=2)))
    cassette = tmp_path / "chaos.json"

    def session(client: Any) -> list[str]:
        out = []
        for step in ("s1", "s2", "s3", "s1", "s2", "s3"):
            try:
                r = run(client.complete(step_request(step=step)))
                out.append(f"{r.stop_reason}:{r.usage.output_tokens}")
            except ModelError as exc:
                out.append(exc.kind)
        return out

    live = make_client("simulated", reference=REFERENCE, seed=4, faults=plan, record_to=cassette)
    first = session(live)
    replay = make_client("replay", cassette=cassette, faults=plan, fault_seed=4)
    assert session(replay) == first
    assert live.transport.fired == replay.transport.fired
    assert first[1].startswith("refusal:")


def test_live_switch_defaults_off_under_pytest() -> None:
    from harness.llm import check_live_calls_allowed, live_calls_allowed, live_calls_allowed_now

    assert not live_calls_allowed_now()
    with live_calls_allowed(True):
        check_live_calls_allowed()
    assert not live_calls_allowed_now()
