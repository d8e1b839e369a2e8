"""What the core says to a model and hears back, in the Messages API's own shape.

The core builds requests and reads replies as plain data so that any transport
(the real SDK, a cassette, the simulator, a scripted fake) can stand behind it.
Content blocks stay dicts in the Messages API format (``{"type": "text", ...}``,
``{"type": "tool_use", ...}``, ``{"type": "tool_result", ...}``): translating them
into classes of our own would only add a second schema to keep in step.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Block = dict[str, Any]
Message = dict[str, Any]

#: How the core groups model-call failures. The transport maps each HTTP status or
#: exception to one of these; the retry table in ``_budget`` says which are retried.
MODEL_ERROR_KINDS = (
    "rate_limited",  # 429 with or without retry-after
    "spend_limit",  # 429 whose body says the spend/credit limit was reached: never retried
    "overloaded",  # 529
    "server_error",  # 500 and other 5xx
    "gateway_timeout",  # 504
    "timeout",  # read timeout on our side
    "connect_error",  # connect timeout / refused
    "bad_request",  # 400 and other 4xx
    "auth",  # 401 / 403
    "malformed_reply",  # the reply could not be parsed (e.g. tool_use input not an object)
)


MAX_TOKENS = 10**12
"""The most tokens one count may hold (a call's usage, a limit, ``max_tokens``): far past
any model, and small enough that tokens times any price stays a finite float."""
MAX_TOKEN_PRICE = 1e9
"""USD per million tokens: bounds a price so that a cost is always a finite float."""


class Frozen(BaseModel):
    # infinity and NaN are never a count, price or time: they would only surface later as
    # an OverflowError (``int(inf)``) or as comparisons that are always false (NaN)
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Usage(Frozen):
    input_tokens: int = Field(0, ge=0, le=MAX_TOKENS)
    output_tokens: int = Field(0, ge=0, le=MAX_TOKENS)
    cache_creation_input_tokens: int = Field(0, ge=0, le=MAX_TOKENS)
    """All cache writes; of these, ``cache_creation_1h_input_tokens`` used the 1 h TTL."""
    cache_creation_1h_input_tokens: int = Field(0, ge=0, le=MAX_TOKENS)
    cache_read_input_tokens: int = Field(0, ge=0, le=MAX_TOKENS)

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens


class ModelPrice(Frozen):
    """USD per million tokens for one model. Loaded from the dated price table."""

    model: str
    input: float = Field(ge=0, le=MAX_TOKEN_PRICE)
    output: float = Field(ge=0, le=MAX_TOKEN_PRICE)
    cache_write_5m: float = Field(ge=0, le=MAX_TOKEN_PRICE)
    cache_write_1h: float = Field(ge=0, le=MAX_TOKEN_PRICE)
    cache_read: float = Field(ge=0, le=MAX_TOKEN_PRICE)

    def cost(self, usage: Usage) -> float:
        """Exact cost of a finished call. Cache writes split by TTL; reads at the read rate."""
        write_1h = usage.cache_creation_1h_input_tokens
        write_5m = usage.cache_creation_input_tokens - write_1h
        micro = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + write_5m * self.cache_write_5m
            + write_1h * self.cache_write_1h
            + usage.cache_read_input_tokens * self.cache_read
        )
        return micro / 1_000_000

    def worst_case_cost(self, input_tokens: int, max_tokens: int) -> float:
        """An upper bound for a call not yet made: every input token as the dearest kind."""
        dearest_in = max(self.input, self.cache_write_5m, self.cache_write_1h)
        return (input_tokens * dearest_in + max_tokens * self.output) / 1_000_000

    def max_output_tokens_for(self, usd: float, input_tokens: int) -> int:
        """How many output tokens ``usd`` still buys after paying for the input: none if
        the input alone costs more (free output included), and at most ``_UNLIMITED_OUT``
        (what a free output rate buys), so a tiny rate cannot make the quotient too large
        for an ``int`` (``floor(inf)`` raises)."""
        dearest_in = max(self.input, self.cache_write_5m, self.cache_write_1h)
        left = usd * 1_000_000 - input_tokens * dearest_in
        if left < 0:  # the input alone costs more than is left, whatever output costs
            return 0
        if self.output == 0:
            return _UNLIMITED_OUT
        quotient = left / self.output
        if not quotient < _UNLIMITED_OUT:  # inf and NaN included
            return _UNLIMITED_OUT
        return math.floor(quotient)


_UNLIMITED_OUT = 2**31


class ModelRequest(Frozen):
    """One Messages API call. Everything that changes the answer is in here, so a
    stable hash of it identifies the call (cassettes match on that)."""

    model: str
    system: str = ""
    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: dict[str, Any] | None = None
    max_tokens: int = Field(ge=1, le=MAX_TOKENS)
    temperature: float | None = None


class ModelResponse(Frozen):
    """One Messages API reply, as the core needs it."""

    id: str = ""
    model: str
    content: tuple[Block, ...]
    stop_reason: str
    usage: Usage = Usage()

    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")

    def tool_uses(self) -> list[Block]:
        return [b for b in self.content if b.get("type") == "tool_use"]


def count_tokens(value: Any) -> int:
    """A deterministic token count for budgeting before a call.

    One token per four UTF-8 bytes of the JSON-ish text, plus a small fixed cost per
    message, is close to what Claude's tokenizer reports for English and JSON. The
    simulated transport reports usage with this same function, so offline runs
    reserve exactly what they later settle; live runs settle to the API's count.
    """
    return _count(value)


def _count(value: Any) -> int:
    # exact types first, with plain loops: this runs on every message a run appends
    t = type(value)
    if t is str:
        return ((len(value) if value.isascii() else len(value.encode())) + 3) // 4
    if t is dict:
        n = 3
        for v in value.values():
            if type(v) is str:
                n += ((len(v) if v.isascii() else len(v.encode())) + 3) // 4
            else:
                n += _count(v)
        return n
    if t is list or t is tuple:
        n = 0
        for v in value:
            n += _count(v)
        return n
    if t is int:
        return (len(str(value)) + 3) // 4
    return _count_any(value)


def _count_any(value: Any) -> int:
    if isinstance(value, str):
        return (len(value.encode()) + 3) // 4
    if isinstance(value, dict):
        return 3 + sum(_count(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_count(v) for v in value)
    if value is None or isinstance(value, bool):
        return 1
    return (len(str(value)) + 3) // 4


def count_request_tokens(request: ModelRequest) -> int:
    return (
        _count(request.system) + _count(request.messages) + _count(request.tools)
        + (_count(request.tool_choice) if request.tool_choice else 0)
    )
