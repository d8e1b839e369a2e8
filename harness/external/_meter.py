"""The client handed to an agent that brings its own loop, and the meter under it.

Such an agent never goes through our state machine, so its budget is held at the one
wire the harness owns: the HTTP transport under its ``anthropic.AsyncAnthropic``. The
meter checks a call against the limits *before* it is sent (the same checks, and the
same worst-case rule, as the runtime's: ``harness.core._budget``), clamps the request's
``max_tokens`` to what the tokens and dollars left allow, and settles the reply's usage
at the scenario's prices. A call that would pass a limit is never sent: the transport
answers it with HTTP 402 ``billing_error``, which the SDK raises as ``BudgetExhausted``
(defined beside the rest of our SDK code in ``harness.llm._anthropic``), a subclass of ``anthropic.APIStatusError``. That is the error a real account at its
spend limit gives, so the agent's ordinary handling of a non-retryable API error runs
(the SDK itself does not retry a 402), and code that wants to tell the two apart can
catch ``harness.BudgetExhausted``. Once one limit is reached every later call is
refused too: the trial has stopped, the agent is only being told so.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2

from harness.core import RunLimits
from harness.core._budget import ZERO, RunUsage, check_before_model_call, check_before_tool_call
from harness.core._llm_types import ModelPrice, Usage, count_request_tokens
from harness.errors import LimitExceeded, UsageError
from harness.external._spans import Spans, end_span
from harness.llm._anthropic import BUDGET_HEADER
from harness.llm._canonical import canonical_from_body
from harness.llm._simulated import _as_request
from harness.llm._wire import error_body, is_messages_call, json_response, request_body
from harness.protocols import Clock

BUDGET_ERROR_CODE = "harness_budget_exhausted"


class Meter:
    """What one trial's agent has used, against its limits; shared by its client and tools.

    ``exhausted`` is the first limit reached (a ``LimitExceeded``), ``None`` until then."""

    def __init__(self, limits: RunLimits, price_of: Callable[[str], ModelPrice], clock: Clock
                 ) -> None:
        self.limits = limits
        self.price_of = price_of
        self.clock = clock
        self.started = clock.now()
        self.used: RunUsage = ZERO
        self.reserved: RunUsage = ZERO
        self.exhausted: LimitExceeded | None = None
        self.usage_error: UsageError | None = None
        """A mistake in how the run was set up, seen under the agent (which may swallow it)."""

    def check_tool(self) -> None:
        """Raise ``LimitExceeded`` if one more tool call would pass a limit."""
        if self.exhausted is not None:
            raise self.exhausted
        try:
            check_before_tool_call(self.limits, self.used, self.reserved,
                                   elapsed_s=self.clock.now() - self.started)
        except LimitExceeded as err:
            self.exhausted = err
            raise

    def count_tool(self) -> None:
        """One tool call is about to run (approved, if it had to be)."""
        self.used = self.used.plus(RunUsage(tool_calls=1))


class MeteredTransport(httpx2.AsyncBaseTransport):
    """Counts, clamps or refuses each Messages call, then hands it to ``inner``."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, meter: Meter,
                 on_call: Callable[[], None] | None = None, spans: Spans | None = None) -> None:
        self.inner = inner
        self.meter = meter
        self.on_call = on_call
        self.spans = spans or Spans(None, "", "")

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        if not is_messages_call(request):
            return await self.inner.handle_async_request(request)
        m = self.meter
        if self.on_call is not None:
            self.on_call()  # a crash point: the process dies before the call leaves
        body = request_body(request)
        model = str(body.get("model"))
        want = int(body.get("max_tokens") or 1)
        input_tokens = count_request_tokens(_as_request(canonical_from_body(body)))
        try:
            price: ModelPrice | None = m.price_of(model)
        except Exception:  # a model the table does not know: no dollars to hold it to
            price = None
        if m.exhausted is not None:
            return _refusal(m.exhausted)
        try:
            max_tokens, _ = check_before_model_call(
                m.limits, m.used, m.reserved, input_tokens=input_tokens, want_max_tokens=want,
                price=price, elapsed_s=m.clock.now() - m.started)
        except LimitExceeded as err:
            m.exhausted = err
            return _refusal(err)
        out_cap = (None if m.limits.tokens_out is None else
                   m.limits.tokens_out - m.used.tokens_out - m.reserved.tokens_out)
        if max_tokens < want:
            body["max_tokens"] = max_tokens
            headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
            request = httpx2.Request(request.method, request.url, headers=headers,
                                     content=json.dumps(body).encode(),
                                     extensions=request.extensions)
        held = RunUsage(llm_calls=1, tokens_in=input_tokens, tokens_out=max_tokens,
                        cost_usd=price.worst_case_cost(input_tokens, max_tokens) if price else 0.0)
        m.reserved = m.reserved.plus(held)
        span = self.spans.chat(model, max_tokens)
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        except Exception as err:
            end_span(span, error=type(err).__name__)
            if isinstance(err, UsageError) and m.usage_error is None:
                m.usage_error = err  # a replay miss, live calls off: the run's, not the agent's
            raise
        finally:
            m.reserved = m.reserved.minus(held)
        usage = _usage(response) if response.status_code == 200 else None
        if response.status_code != 200:
            end_span(span, error=f"http_{response.status_code}")
        else:
            end_span(span, attributes=None if usage is None else {
                "gen_ai.usage.input_tokens": usage.total_input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens})
        spent = RunUsage(llm_calls=1)
        if usage is not None:
            spent = RunUsage(llm_calls=1, tokens_in=usage.total_input_tokens,
                             tokens_out=usage.output_tokens,
                             cost_usd=price.cost(usage) if price else 0.0)
        m.used = m.used.plus(spent)
        if max_tokens < want and m.exhausted is None and _cut_off(response):
            # the reply was cut at what the limits left: that limit is now reached
            if out_cap is not None and max_tokens >= out_cap:
                m.exhausted = LimitExceeded("tokens_out", m.used.tokens_out, m.limits.tokens_out or 0)
            else:
                m.exhausted = LimitExceeded("cost_usd", m.used.cost_usd, m.limits.cost_usd or 0)
        return response

    async def aclose(self) -> None:
        """Nothing: the trial's ``AnthropicClient`` owns the transports under this one and
        closes them once."""


def _usage(response: httpx2.Response) -> Usage | None:
    try:
        raw = json.loads(response.content)["usage"]
        return Usage(**{k: v for k, v in raw.items() if k in Usage.model_fields})
    except (ValueError, KeyError, TypeError):
        return None


def _cut_off(response: httpx2.Response) -> bool:
    try:
        return bool(response.status_code == 200
                    and json.loads(response.content).get("stop_reason") == "max_tokens")
    except (ValueError, AttributeError):
        return False


def _refusal(err: LimitExceeded) -> httpx2.Response:
    message = f"budget exhausted: {err}; the call was not sent"
    return json_response(402, error_body("billing_error", message, error_code=BUDGET_ERROR_CODE),
                         {BUDGET_HEADER: err.limit, "request-id": "req_harness_budget"})
