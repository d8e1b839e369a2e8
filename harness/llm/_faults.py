"""LLM faults, injected under the SDK exactly the way the real API presents them.

``ChaosTransport(inner, plan, seed)`` wraps any transport. A fault either answers
in the inner transport's place with the real status code, error JSON and headers
(429 with ``retry-after``, 529, 500, 504), raises the ``httpx2`` exception the SDK
turns into ``APITimeoutError`` / ``APIConnectionError``, or rewrites a good reply
into a bad one (cut off at ``max_tokens``, a refusal, tool input that is not an
object). The client above cannot tell a fault from the world, which is the point.

Faults are data: each one fires at a given call number or at a seeded rate.
Rate draws hash (seed, canonical request, how often that request was seen), so
they do not depend on the order in which parallel sub-agents call, and a retry of
the same request gets a fresh draw.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import httpx2
from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.core._llm_types import count_tokens
from harness.llm._canonical import canonical_from_body, hash_canonical
from harness.llm._wire import dumps, error_body, json_response, request_body
from harness.protocols import Clock

FaultKind = Literal[
    "rate_limited", "spend_limit", "overloaded", "server_error", "gateway_timeout",
    "connect_timeout", "connect_refused", "read_timeout",
    "truncated", "malformed_tool_input", "refusal", "slow",
]

FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]

#: The ``ModelError`` kind (or reply shape) each fault reaches the runtime as.
EXPECTED_OUTCOME: dict[str, str] = {
    "rate_limited": "rate_limited",
    "spend_limit": "spend_limit",
    "overloaded": "overloaded",
    "server_error": "server_error",
    "gateway_timeout": "gateway_timeout",
    "connect_timeout": "connect_error",
    "connect_refused": "connect_error",
    "read_timeout": "timeout",
    "truncated": "stop_reason=max_tokens",
    "malformed_tool_input": "malformed_reply",
    "refusal": "stop_reason=refusal",
    "slow": "ok",
}

_DEFAULT_RATE_LIMIT_RETRY_AFTER_S = 1.0


class LLMFault(BaseModel):
    """One fault: what goes wrong, and when (``at_call`` xor ``rate``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind
    at_call: int | None = Field(None, ge=1)
    """Fire on this call through the wrapper (1-based, counting every attempt)."""
    rate: float | None = Field(None, ge=0, le=1)
    """Fire on each call with this probability, drawn from the seed."""
    retry_after_s: float | None = Field(None, ge=0)
    """The ``retry-after`` header to send; ``rate_limited`` sends 1 s when unset."""
    delay_s: float = Field(0.0, ge=0)
    """For ``slow``: extra latency spent on the clock before the inner transport answers."""

    @model_validator(mode="after")
    def _when(self) -> LLMFault:
        if (self.at_call is None) == (self.rate is None):
            raise ValueError("give exactly one of at_call (a scheduled fault) or rate")
        return self


class LLMFaultPlan(BaseModel):
    """The LLM faults of one trial."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    faults: tuple[LLMFault, ...] = ()

    @model_validator(mode="after")
    def _one_per_call(self) -> LLMFaultPlan:
        calls = [f.at_call for f in self.faults if f.at_call is not None]
        if len(calls) != len(set(calls)):
            raise ValueError("two faults are scheduled for the same call")
        return self


class FiredFault(BaseModel):
    """A fault that actually happened, for the trial record and telemetry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call: int
    kind: str
    request_hash: str
    trigger: Literal["scheduled", "rate"]


class ChaosTransport(httpx2.AsyncBaseTransport):
    """Wraps ``inner`` and injects the faults of ``plan``; ``fired`` lists what happened.

    Timeouts spend the request's own timeout (connect or read) on ``clock`` before
    raising, so a virtual-time run shows the time a real timeout would have cost.
    """

    def __init__(
        self, inner: httpx2.AsyncBaseTransport, plan: LLMFaultPlan, seed: int = 0, *,
        clock: Clock | None = None,
    ) -> None:
        self.inner = inner
        self.plan = plan
        self.seed = seed
        self.clock = clock
        self.calls = 0
        self.fired: list[FiredFault] = []
        self._seen: dict[str, int] = {}
        self._scheduled = {f.at_call: f for f in plan.faults if f.at_call is not None}
        self._rated = [f for f in plan.faults if f.rate is not None]

    def _choose(self, digest: str) -> tuple[LLMFault, Literal["scheduled", "rate"]] | None:
        scheduled = self._scheduled.get(self.calls)
        if scheduled is not None:
            return scheduled, "scheduled"
        attempt = self._seen.get(digest, 0)
        self._seen[digest] = attempt + 1
        for i, fault in enumerate(self._rated):
            h = hashlib.sha256(f"{self.seed}:{digest}:{attempt}:{i}".encode()).digest()
            if int.from_bytes(h[:8], "big") / 2**64 < (fault.rate or 0.0):
                return fault, "rate"
        return None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        self.calls += 1
        body = request_body(request)
        digest = hash_canonical(canonical_from_body(body))
        chosen = self._choose(digest)
        if chosen is None:
            return await self.inner.handle_async_request(request)
        fault, trigger = chosen
        self.fired.append(FiredFault(call=self.calls, kind=fault.kind, request_hash=digest,
                                     trigger=trigger))
        return await self._inject(fault, request, body)

    async def _inject(
        self, fault: LLMFault, request: httpx2.Request, body: dict[str, Any]
    ) -> httpx2.Response:
        kind = fault.kind
        rid = {"request-id": f"req_chaos_{self.calls:06d}"}
        if kind == "rate_limited":
            after = fault.retry_after_s
            after = _DEFAULT_RATE_LIMIT_RETRY_AFTER_S if after is None else after
            return json_response(429, error_body(
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests "
                "per minute. Please retry after the time in the retry-after header.",
            ), {**rid, "retry-after": f"{after:g}", "x-should-retry": "true"})
        headers = dict(rid)
        if fault.retry_after_s is not None:
            headers["retry-after"] = f"{fault.retry_after_s:g}"
        if kind == "spend_limit":
            return json_response(429, error_body(
                "rate_limit_error",
                "Your organization has reached its monthly API spend limit. Raise the limit in "
                "the Console's billing settings to continue.",
                error_code="enforced_spend_limit_reached",
            ), {**headers, "x-should-retry": "false"})
        if kind == "overloaded":
            return json_response(529, error_body("overloaded_error", "Overloaded"),
                                 {**headers, "x-should-retry": "true"})
        if kind == "server_error":
            return json_response(500, error_body("api_error", "Internal server error"),
                                 {**headers, "x-should-retry": "true"})
        if kind == "gateway_timeout":
            return json_response(504, error_body("timeout_error", "Request timed out upstream"),
                                 headers)
        if kind in ("connect_timeout", "read_timeout"):
            which = "connect" if kind == "connect_timeout" else "read"
            await self._spend(_timeout_of(request, which))
            if kind == "connect_timeout":
                raise httpx2.ConnectTimeout("timed out connecting (injected)", request=request)
            raise httpx2.ReadTimeout("timed out reading the response (injected)", request=request)
        if kind == "connect_refused":
            raise httpx2.ConnectError("[Errno 111] Connection refused (injected)", request=request)
        if kind == "slow":
            await self._spend(fault.delay_s)
            return await self.inner.handle_async_request(request)
        return await self._rewrite(kind, request, body)

    async def _rewrite(
        self, kind: str, request: httpx2.Request, body: dict[str, Any]
    ) -> httpx2.Response:
        """Let the inner transport answer, then damage the reply the way ``kind`` says."""
        response = await self.inner.handle_async_request(request)
        raw = await response.aread()
        if response.status_code != 200:
            return response
        try:
            message = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return response
        content: list[dict[str, Any]] = list(message.get("content") or [])
        usage = dict(message.get("usage") or {})
        if kind == "truncated":
            text = " ".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
            cut = text[: max(0, len(text) // 2)]
            content = [{"type": "text", "text": cut}] if cut else []
            message["stop_reason"] = "max_tokens"
            usage["output_tokens"] = min(int(usage.get("output_tokens", 0)),
                                         int(body.get("max_tokens") or 1))
        elif kind == "refusal":
            content = [{"type": "text", "text": "I can't help with that request."}]
            message["stop_reason"] = "refusal"
            usage["output_tokens"] = count_tokens(content)
        elif kind == "malformed_tool_input":
            broken = '{"unterminated": "json'
            uses = [b for b in content if b.get("type") == "tool_use"]
            if uses:
                uses[0]["input"] = broken
            else:
                tools = body.get("tools") or [{}]
                name = str(tools[0].get("name", "unknown_tool"))
                content.append({"type": "tool_use", "id": f"toolu_chaos_{self.calls:06d}",
                                "name": name, "input": broken})
            message["stop_reason"] = "tool_use"
        message["content"] = content
        message["usage"] = usage
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        return httpx2.Response(200, headers=headers, content=dumps(message))

    async def _spend(self, seconds: float) -> None:
        if self.clock is not None and seconds > 0:
            await self.clock.sleep(seconds)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _timeout_of(request: httpx2.Request, which: str) -> float:
    timeouts = request.extensions.get("timeout") or {}
    value = timeouts.get(which) if isinstance(timeouts, dict) else None
    return float(value) if isinstance(value, int | float) else 0.0
