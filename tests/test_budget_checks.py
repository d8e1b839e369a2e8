"""The budget checks as functions, at their edges: what is spent and what is held both
count, a call that fits exactly is allowed, one token less is refused, and the error
names the limit, what the call would need and the maximum.

``test_budget.py`` runs the same rules through the driver; these pin the arithmetic.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.core import ModelPrice, RunLimits, RunUsage
from harness.core._budget import (
    ZERO,
    check_before_model_call,
    check_before_tool_call,
    fractions_used,
    model_reservation,
    summary,
)
from harness.errors import LimitExceeded

#: $1 a output token and nothing for input: the dollars left are the tokens left.
DOLLAR_A_TOKEN = ModelPrice(model="m", input=0.0, output=1_000_000.0, cache_write_5m=0.0,
                            cache_write_1h=0.0, cache_read=0.0)
#: per million: input 1, cache writes up to 2 (the dearest input), output 10
PRICE = ModelPrice(model="m", input=1.0, output=10.0, cache_write_5m=1.25, cache_write_1h=2.0,
                   cache_read=0.1)


def call(limits: RunLimits, used: RunUsage = ZERO, reserved: RunUsage = ZERO, *,
         input_tokens: int = 0, want: int = 1024, price: ModelPrice | None = None,
         elapsed: float = 0.0, scope: str = "") -> tuple[int, float | None]:
    return check_before_model_call(limits, used, reserved, input_tokens=input_tokens,
                                   want_max_tokens=want, price=price, elapsed_s=elapsed,
                                   scope=scope)


def refused(fn: Any, *args: Any, **kw: Any) -> tuple[str, float, float]:
    with pytest.raises(LimitExceeded) as err:
        fn(*args, **kw)
    return err.value.limit, err.value.observed, err.value.maximum


def test_no_limits_lets_every_call_through_untouched() -> None:
    assert call(RunLimits(), RunUsage(llm_calls=10**6), input_tokens=10**6,
                price=PRICE) == (1024, None)


def test_llm_calls_count_what_is_spent_and_what_is_held() -> None:
    lim = RunLimits(llm_calls=3)
    assert call(lim, RunUsage(llm_calls=1), RunUsage(llm_calls=1)) == (1024, None)
    assert refused(call, lim, RunUsage(llm_calls=2), RunUsage(llm_calls=1)) == (
        "llm_calls", 4, 3)
    assert refused(call, RunLimits(llm_calls=0), scope="step s1 ") == (
        "step s1 llm_calls", 1, 0)


def test_tokens_in_count_what_is_spent_what_is_held_and_the_request() -> None:
    lim = RunLimits(tokens_in=100)
    used, held = RunUsage(tokens_in=30), RunUsage(tokens_in=20)
    assert call(lim, used, held, input_tokens=50) == (1024, None)
    assert refused(call, lim, used, held, input_tokens=51) == ("tokens_in", 101, 100)
    assert refused(call, RunLimits(tokens_in=0), input_tokens=1) == ("tokens_in", 1, 0)


def test_tokens_out_clamp_max_tokens_down_to_a_short_reply_and_no_further() -> None:
    lim = RunLimits(tokens_out=1000)
    assert call(lim, RunUsage(tokens_out=300), RunUsage(tokens_out=200)) == (500, None)
    # 16 tokens left: a short reply still fits; 15 do not
    assert call(lim, RunUsage(tokens_out=984)) == (16, None)
    assert refused(call, lim, RunUsage(tokens_out=900), RunUsage(tokens_out=85)) == (
        "tokens_out", 1001, 1000)
    # a call that wants fewer than 16 needs only what it wants
    assert call(lim, RunUsage(tokens_out=992), want=8) == (8, None)
    assert refused(call, lim, RunUsage(tokens_out=993), want=8) == ("tokens_out", 1001, 1000)
    assert refused(call, RunLimits(tokens_out=0)) == ("tokens_out", 16, 0)


def test_cost_clamps_max_tokens_to_what_the_money_left_buys() -> None:
    lim = RunLimits(cost_usd=1.0)
    used, held = RunUsage(cost_usd=0.3), RunUsage(cost_usd=0.2)
    # $0.50 left, 1000 input tokens at the dearest input rate: (500000 - 2000) / 10
    assert call(lim, used, held, input_tokens=1000, want=100_000, price=PRICE) == (49_800, None)
    assert call(lim, used, held, input_tokens=1000, want=1024, price=PRICE) == (1024, None)


def test_cost_allows_a_short_reply_exactly_and_refuses_one_token_less() -> None:
    used, held = RunUsage(cost_usd=2.0), RunUsage(cost_usd=1.0)
    assert call(RunLimits(cost_usd=19.0), used, held, price=DOLLAR_A_TOKEN) == (16, None)
    # $15 left buys 15 tokens: the call would need $3 held + $16
    assert refused(call, RunLimits(cost_usd=18.0), used, held, price=DOLLAR_A_TOKEN) == (
        "cost_usd", 19.0, 18.0)
    # with no price known the cost limit cannot clamp (a missing price is refused earlier)
    assert call(RunLimits(cost_usd=0.0), price=None) == (1024, None)


def test_wall_time_gives_the_call_what_is_left_as_its_timeout() -> None:
    lim = RunLimits(wall_time_s=10)
    assert call(lim, elapsed=9.5) == (1024, 0.5)
    assert refused(call, lim, elapsed=10.0, scope="step s1 ") == ("step s1 wall_time_s", 10.0,
                                                                   10)


def test_tool_calls_count_what_is_spent_and_what_is_held() -> None:
    lim = RunLimits(tool_calls=2, wall_time_s=10)
    assert check_before_tool_call(lim, RunUsage(tool_calls=1), ZERO, elapsed_s=9.5) == 0.5
    assert check_before_tool_call(RunLimits(), RunUsage(tool_calls=99), ZERO,
                                  elapsed_s=1e9) is None
    assert refused(check_before_tool_call, lim, RunUsage(tool_calls=1), RunUsage(tool_calls=1),
                   elapsed_s=1.0, scope="step s1 ") == ("step s1 tool_calls", 3, 2)
    assert refused(check_before_tool_call, RunLimits(tool_calls=0), ZERO, ZERO,
                   elapsed_s=0.0) == ("tool_calls", 1, 0)
    assert refused(check_before_tool_call, lim, ZERO, ZERO, elapsed_s=12.0,
                   scope="step s1 ") == ("step s1 wall_time_s", 12.0, 10)


def test_a_model_reservation_is_the_worst_case_of_the_call() -> None:
    assert model_reservation(1000, 500, PRICE) == RunUsage(
        llm_calls=1, tokens_in=1000, tokens_out=500, cost_usd=(1000 * 2.0 + 500 * 10.0) / 1e6)
    assert model_reservation(1000, 500, None) == RunUsage(llm_calls=1, tokens_in=1000,
                                                          tokens_out=500, cost_usd=0.0)


def test_fractions_used_cover_each_set_limit_and_wall_time() -> None:
    lim = RunLimits(llm_calls=10, tool_calls=0, cost_usd=2.0, wall_time_s=100)
    used = RunUsage(llm_calls=5, tool_calls=3, cost_usd=0.5)
    assert fractions_used(lim, used, 25.0) == {"llm_calls": 0.5, "cost_usd": 0.25,
                                               "wall_time_s": 0.25}
    assert fractions_used(RunLimits(), used, 25.0) == {}


def test_the_budget_summary_a_person_reads() -> None:
    lim = RunLimits(llm_calls=10, cost_usd=1.5, wall_time_s=60)
    used = RunUsage(llm_calls=3, tool_calls=2, tokens_in=40, cost_usd=0.12345)
    assert summary(lim, used, 12.34) == {
        "llm_calls": "3/10", "tool_calls": "2", "tokens_in": "40", "tokens_out": "0",
        "cost_usd": "0.1235/1.5", "wall_time_s": "12.3/60"}
    assert "wall_time_s" not in summary(RunLimits(), used, 12.34)
    assert summary(RunLimits(), RunUsage(cost_usd=2), 0)["cost_usd"] == "2.0000"


def test_usage_added_and_taken_away_behaves_like_usage_built_by_validation() -> None:
    a = RunUsage(llm_calls=2, tool_calls=1, tokens_in=100, tokens_out=50, cost_usd=0.5)
    b = RunUsage(llm_calls=1, tool_calls=1, tokens_in=10, tokens_out=5, cost_usd=0.25)
    for got, want in ((a.plus(b), RunUsage(llm_calls=3, tool_calls=2, tokens_in=110,
                                           tokens_out=55, cost_usd=0.75)),
                      (a.minus(b), RunUsage(llm_calls=1, tool_calls=0, tokens_in=90,
                                            tokens_out=45, cost_usd=0.25))):
        assert got == want and want == got
        assert got.model_fields_set == want.model_fields_set == set(RunUsage.model_fields)
        assert got.model_dump(exclude_unset=True) == want.model_dump()
        assert got.model_dump_json() == want.model_dump_json()
        assert got.model_copy() == want and copy.deepcopy(got) == want
        assert got.__pydantic_extra__ is None and got.__pydantic_private__ is None
    # cost never goes below zero through rounding; counts are exact either way
    assert RunUsage(cost_usd=0.1).minus(RunUsage(cost_usd=0.3)).cost_usd == 0.0
