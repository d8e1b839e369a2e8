"""Budgets: usage that adds up, reservations held by effects in flight, and the checks.

The rule that keeps a limit from ever being passed: before an effect is emitted,
its worst case is *reserved* (one call, the counted input plus ``max_tokens``, the
dearest price for both); ``max_tokens`` is clamped to what the limits leave; when
the effect answers, the reservation is released and the actual usage *settled*.
Parallel effects therefore cannot jointly overshoot, and a retry is one more
reserved call like any other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from harness.core._config import RunLimits
from harness.core._fast import from_dict
from harness.core._llm_types import ModelPrice
from harness.errors import LimitExceeded

_EPS = 1e-12


class RunUsage(BaseModel):
    """Counters; also used for reservations, which have the same shape."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    llm_calls: int = 0
    tool_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    def plus(self, other: RunUsage) -> RunUsage:
        a, b = self.__dict__, other.__dict__
        # ``from_dict`` inlined: budgets add up several times per event
        new = _new(RunUsage)
        _set(new, "__dict__", {
            "llm_calls": a["llm_calls"] + b["llm_calls"],
            "tool_calls": a["tool_calls"] + b["tool_calls"],
            "tokens_in": a["tokens_in"] + b["tokens_in"],
            "tokens_out": a["tokens_out"] + b["tokens_out"],
            "cost_usd": a["cost_usd"] + b["cost_usd"],
        })
        _set(new, "__pydantic_fields_set__", _USAGE_FIELDS)
        _set(new, "__pydantic_extra__", None)
        _set(new, "__pydantic_private__", None)
        return new

    def minus(self, other: RunUsage) -> RunUsage:
        a, b = self.__dict__, other.__dict__
        new = _new(RunUsage)
        _set(new, "__dict__", {
            "llm_calls": a["llm_calls"] - b["llm_calls"],
            "tool_calls": a["tool_calls"] - b["tool_calls"],
            "tokens_in": a["tokens_in"] - b["tokens_in"],
            "tokens_out": a["tokens_out"] - b["tokens_out"],
            "cost_usd": max(0.0, a["cost_usd"] - b["cost_usd"]),
        })
        _set(new, "__pydantic_fields_set__", _USAGE_FIELDS)
        _set(new, "__pydantic_extra__", None)
        _set(new, "__pydantic_private__", None)
        return new


_USAGE_FIELDS = set(RunUsage.model_fields)
_new = object.__new__
_set = object.__setattr__


ZERO = RunUsage()

#: Counted dimensions, in the order reports list them.
DIMENSIONS = ("llm_calls", "tool_calls", "tokens_in", "tokens_out", "cost_usd")


def _over(limit: float | None, value: float) -> bool:
    return limit is not None and value > limit + _EPS


def check_before_model_call(
    limits: RunLimits,
    used: RunUsage,
    reserved: RunUsage,
    *,
    input_tokens: int,
    want_max_tokens: int,
    price: ModelPrice | None,
    elapsed_s: float,
    scope: str = "",
) -> tuple[int, float | None]:
    """Return ``(max_tokens, timeout_s)`` for a call that fits, or raise ``LimitExceeded``.

    ``max_tokens`` is clamped to the tokens and dollars left; a call that could not
    produce even a short reply is refused rather than sent to be truncated.
    """
    # what is spent plus what is held (``used.plus(reserved)``), read field by field
    u, r, lim = used.__dict__, reserved.__dict__, limits.__dict__
    timeout = _check_wall(limits, elapsed_s, scope)
    if lim["llm_calls"] is not None:
        calls = u["llm_calls"] + r["llm_calls"] + 1
        if _over(lim["llm_calls"], calls):
            raise LimitExceeded(scope + "llm_calls", calls, lim["llm_calls"] or 0)
    if lim["tokens_in"] is not None:
        tokens_in = u["tokens_in"] + r["tokens_in"] + input_tokens
        if _over(lim["tokens_in"], tokens_in):
            raise LimitExceeded(scope + "tokens_in", tokens_in, lim["tokens_in"] or 0)
    max_tokens = want_max_tokens
    if lim["tokens_out"] is not None:
        max_tokens = min(max_tokens, lim["tokens_out"] - (u["tokens_out"] + r["tokens_out"]))
    floor = min(want_max_tokens, 16)
    if max_tokens < floor:
        held_out = u["tokens_out"] + r["tokens_out"]
        raise LimitExceeded(scope + "tokens_out", held_out + floor, lim["tokens_out"] or 0)
    if lim["cost_usd"] is not None and price is not None:
        held_cost = u["cost_usd"] + r["cost_usd"]
        left = lim["cost_usd"] - held_cost
        max_tokens = min(max_tokens, price.max_output_tokens_for(left, input_tokens))
        if max_tokens < floor:
            need = held_cost + price.worst_case_cost(input_tokens, floor)
            raise LimitExceeded(scope + "cost_usd", need, lim["cost_usd"])
    return max_tokens, timeout


def check_before_tool_call(
    limits: RunLimits, used: RunUsage, reserved: RunUsage, *, elapsed_s: float, scope: str = ""
) -> float | None:
    """Return the call's timeout (what is left of wall time), or raise ``LimitExceeded``."""
    timeout = _check_wall(limits, elapsed_s, scope)
    if limits.tool_calls is None:
        return timeout
    held = used.tool_calls + reserved.tool_calls + 1
    if _over(limits.tool_calls, held):
        raise LimitExceeded(scope + "tool_calls", held, limits.tool_calls or 0)
    return timeout


def _check_wall(limits: RunLimits, elapsed_s: float, scope: str) -> float | None:
    if limits.wall_time_s is None:
        return None
    left = limits.wall_time_s - elapsed_s
    if left <= 0:
        raise LimitExceeded(scope + "wall_time_s", elapsed_s, limits.wall_time_s)
    return left


def model_reservation(input_tokens: int, max_tokens: int, price: ModelPrice | None) -> RunUsage:
    return from_dict(RunUsage, {
        "llm_calls": 1,
        "tool_calls": 0,
        "tokens_in": input_tokens,
        "tokens_out": max_tokens,
        "cost_usd": price.worst_case_cost(input_tokens, max_tokens) if price else 0.0,
    })


TOOL_RESERVATION = RunUsage(tool_calls=1)


def fractions_used(limits: RunLimits, used: RunUsage, elapsed_s: float) -> dict[str, float]:
    """How much of each set limit is spent (0..1+), for the budget escalation rule."""
    out: dict[str, float] = {}
    for name in DIMENSIONS:
        limit = getattr(limits, name)
        if limit:
            out[name] = getattr(used, name) / limit
    if limits.wall_time_s:
        out["wall_time_s"] = elapsed_s / limits.wall_time_s
    return out


def summary(limits: RunLimits, used: RunUsage, elapsed_s: float) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in DIMENSIONS:
        limit = getattr(limits, name)
        value = getattr(used, name)
        shown = f"{value:.4f}" if name == "cost_usd" else str(value)
        out[name] = f"{shown}/{limit:g}" if limit is not None else shown
    if limits.wall_time_s is not None:
        out["wall_time_s"] = f"{elapsed_s:.1f}/{limits.wall_time_s:g}"
    return out
