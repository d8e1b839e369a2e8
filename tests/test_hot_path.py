"""The fast paths of the step loop compute exactly what their plain versions would.

Each shortcut taken for speed (token counting with exact-type dispatch, budget checks
read field by field, name lookups through a per-config index, events encoded straight
through the serializer, sub-agents updated in place within one step) is checked here
against the straightforward computation it replaces, or against the property that
makes it safe: a step never changes the context it was given.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.core import (
    AgentConfig,
    AgentContext,
    ModelPrice,
    ModelReplied,
    ModelResponse,
    OrchestratorConfig,
    RoleConfig,
    RunLimits,
    RunStarted,
    RunUsage,
    ToolInfo,
    ToolReturned,
    Usage,
    count_tokens,
    step,
)
from harness.core import _budget as budget
from harness.errors import LimitExceeded
from harness.store import encode


def _reference_count(value: Any) -> int:
    """The token counter as first written: plain recursion over ``isinstance``."""
    if isinstance(value, str):
        return (len(value.encode()) + 3) // 4
    if isinstance(value, dict):
        return 3 + sum(_reference_count(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_reference_count(v) for v in value)
    if value is None or isinstance(value, bool):
        return 1
    return (len(str(value)) + 3) // 4


class _Kind(StrEnum):
    TOOL = "tool_use"


_leaves = (st.text() | st.integers() | st.floats(allow_nan=False) | st.booleans()
           | st.none() | st.just(_Kind.TOOL) | st.binary(max_size=4))
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30,
)


@given(_values)
def test_token_count_matches_the_plain_recursion(value: Any) -> None:
    assert count_tokens(value) == _reference_count(value)


_usage = st.builds(RunUsage, llm_calls=st.integers(0, 50), tool_calls=st.integers(0, 50),
                   tokens_in=st.integers(0, 10**6), tokens_out=st.integers(0, 10**6),
                   cost_usd=st.floats(0, 10, allow_nan=False))
_limit = st.none() | st.integers(0, 10**6)
_limits = st.builds(RunLimits, llm_calls=st.none() | st.integers(0, 60),
                    tool_calls=st.none() | st.integers(0, 60), tokens_in=_limit,
                    tokens_out=_limit, wall_time_s=st.none() | st.floats(0, 100),
                    cost_usd=st.none() | st.floats(0, 20, allow_nan=False))


def _reference_model_check(limits: RunLimits, used: RunUsage, reserved: RunUsage,
                           input_tokens: int, want: int, price: ModelPrice | None,
                           elapsed: float) -> tuple[int, float | None] | str:
    """The model-call check computed over ``used.plus(reserved)``, as first written."""
    held = used.plus(reserved)
    if limits.wall_time_s is not None and limits.wall_time_s - elapsed <= 0:
        return "wall_time_s"
    timeout = None if limits.wall_time_s is None else limits.wall_time_s - elapsed
    if limits.llm_calls is not None and held.llm_calls + 1 > limits.llm_calls + 1e-12:
        return "llm_calls"
    if limits.tokens_in is not None and held.tokens_in + input_tokens > limits.tokens_in + 1e-12:
        return "tokens_in"
    max_tokens = want
    if limits.tokens_out is not None:
        max_tokens = min(max_tokens, limits.tokens_out - held.tokens_out)
    floor = min(want, 16)
    if max_tokens < floor:
        return "tokens_out"
    if limits.cost_usd is not None and price is not None:
        max_tokens = min(max_tokens,
                         price.max_output_tokens_for(limits.cost_usd - held.cost_usd, input_tokens))
        if max_tokens < floor:
            return "cost_usd"
    return max_tokens, timeout


PRICE = ModelPrice(model="m", input=3.0, output=15.0, cache_write_5m=3.75, cache_write_1h=6.0,
                   cache_read=0.3)


@given(_limits, _usage, _usage, st.integers(0, 10**5), st.integers(1, 4096),
       st.sampled_from([None, PRICE]), st.floats(0, 200))
def test_model_call_check_matches_the_sum_of_used_and_reserved(
    limits: RunLimits, used: RunUsage, reserved: RunUsage, input_tokens: int, want: int,
    price: ModelPrice | None, elapsed: float,
) -> None:
    expected = _reference_model_check(limits, used, reserved, input_tokens, want, price, elapsed)
    try:
        got: tuple[int, float | None] | str = budget.check_before_model_call(
            limits, used, reserved, input_tokens=input_tokens, want_max_tokens=want,
            price=price, elapsed_s=elapsed)
    except LimitExceeded as err:
        got = err.limit
    assert got == expected


@given(_usage, _usage)
def test_usage_arithmetic_is_field_by_field(a: RunUsage, b: RunUsage) -> None:
    total = a.plus(b)
    assert total == RunUsage(**{k: getattr(a, k) + getattr(b, k) for k in budget.DIMENSIONS})
    rest = a.minus(b)
    assert rest.model_dump() == {
        **{k: getattr(a, k) - getattr(b, k) for k in budget.DIMENSIONS[:-1]},
        "cost_usd": max(0.0, a.cost_usd - b.cost_usd),
    }
    assert RunUsage.model_validate_json(total.model_dump_json()) == total


def test_config_lookups_find_what_a_scan_finds() -> None:
    cfg = AgentConfig(
        orchestrator=OrchestratorConfig(model="m"),
        roles=(RoleConfig(name="a", model="m"), RoleConfig(name="b", model="m")),
        tools=(ToolInfo(name="t", description="first"), ToolInfo(name="t", description="second")),
        prices=(PRICE, PRICE.model_copy(update={"input": 99.0})),
        verification_role=None,
    )
    assert cfg.role("b") is cfg.roles[1]
    assert cfg.role("nope") is None
    assert cfg.tool("t") is cfg.tools[0]  # the first of a name, as a scan finds it
    assert cfg.price("m") is cfg.prices[0]
    other = cfg.model_copy(update={"roles": (RoleConfig(name="c", model="m"),)})
    assert other.role("c") is other.roles[0] and other.role("a") is None


def test_encoding_an_event_is_its_model_dump_json() -> None:
    resp = ModelResponse(id="x", model="m", content=({"type": "text", "text": "é ✓"},),
                         stop_reason="end_turn", usage=Usage(input_tokens=3, output_tokens=2))
    for ev in (ModelReplied(effect_id="s1#0", at=1.5, response=resp),
               ToolReturned(effect_id="s1#1", output={"b": [1, None], "a": "ü"}, is_error=True,
                            error_kind="tool_error")):
        assert encode(ev) == ev.model_dump_json()  # type: ignore[arg-type]


def test_a_step_never_changes_the_context_it_was_given() -> None:
    """Sub-agents are updated in place within a step: only on copies that step made."""
    cfg = AgentConfig(
        orchestrator=OrchestratorConfig(model="m"),
        roles=(RoleConfig(name="w", model="m", tools=("t",)),),
        tools=(ToolInfo(name="t"),), verification_role=None,
    )

    def reply(content: list[dict[str, Any]], stop: str) -> ModelResponse:
        return ModelResponse(model="m", content=tuple(content), stop_reason=stop,
                             usage=Usage(input_tokens=5, output_tokens=5))

    ctx, effects = step(AgentContext(), RunStarted(run_id="r", task="t", config=cfg))
    seen: list[tuple[AgentContext, str]] = [(ctx, ctx.model_dump_json())]
    plan = {"steps": [{"id": "s1", "role": "w", "instruction": "go"}]}
    script = [reply([{"type": "tool_use", "id": "p", "name": "submit_plan", "input": plan}],
                    "tool_use")]
    script += [reply([{"type": "tool_use", "id": f"c{i}", "name": "t", "input": {"i": i}},
                      {"type": "tool_use", "id": f"d{i}", "name": "t", "input": {}}], "tool_use")
               for i in range(3)]
    script.append(reply([{"type": "text", "text": "done"}], "end_turn"))
    while effects and script:
        eff = effects[0]
        if eff.kind == "call_model":
            ev: Any = ModelReplied(effect_id=eff.effect_id, response=script.pop(0))
        else:
            ev = ToolReturned(effect_id=eff.effect_id, output={"ok": eff.effect_id})
        ctx, new = step(ctx, ev)
        effects = effects[1:] + new
        seen.append((ctx, ctx.model_dump_json()))
    assert len(seen) > 8
    for old, dumped in seen:
        assert old.model_dump_json() == dumped
    assert json.loads(seen[-1][1])["agents"]["s1"]["turns"] == 4
