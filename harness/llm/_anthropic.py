"""The one model client: the official ``anthropic`` SDK over a pluggable transport.

This is the only module that imports ``anthropic``. Every backend (live network,
cassette replay, the simulator, chaos wrappers) is an ``httpx2`` transport under
the same ``AsyncAnthropic``, so every run exercises the SDK's real request
building, headers, timeouts and error classes; this module then translates the
SDK's exceptions into ``ModelError`` kinds at the boundary, and nothing above it
ever sees ``anthropic.*``.

A successful reply's body is read through ``messages.with_raw_response`` and
parsed here, straight into the core's ``ModelResponse``, rather than by the SDK:
the SDK builds its ``Message`` without validating it (``construct``), which costs
about a third of a call's time in the SDK, and the core wants plain dicts back
anyway. Parsing it ourselves validates more than the SDK's path did (the shape of
every field the core reads), so a malformed reply is still a ``malformed_reply``.
Error statuses never reach that parser: the SDK raises its status errors under
``with_raw_response`` exactly as under ``create``.

The SDK runs with ``max_retries=0``: retries belong to the runtime, which counts
each attempt against the budget and spends back-off on the injected clock.
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from contextvars import ContextVar
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, Self

import anthropic
import httpx2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.core._llm_types import ModelRequest, ModelResponse, Usage
from harness.errors import HarnessError, ModelError

#: A placeholder key for offline transports: the SDK insists on credentials, and an
#: explicit value stops it from reading the real one out of the environment.
OFFLINE_API_KEY = "sk-ant-offline-not-a-key"
DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_TIMEOUT_S = 600.0
#: The SDK's own default for establishing a connection. A bare float timeout would set
#: the connect timeout to the whole 600 s, so a dead host would hold a call for ten minutes.
DEFAULT_CONNECT_TIMEOUT_S = 5.0

#: 429 error codes (``error.details.error_code``) that mean money, not load.
_SPEND_CODES = frozenset({
    "contract_spend_limit_reached",
    "enforced_spend_limit_reached",
    "linked_organization_spend_limit_reached",
    "linked_organization_billing_unavailable",
})
_SPEND_WORDS = re.compile(r"spend|credit|billing|usage limit|balance", re.IGNORECASE)


#: The transport a shared SDK client sends the current call through (see ``_Routed``).
_ROUTE: ContextVar[httpx2.AsyncBaseTransport | None] = ContextVar("harness_llm_route",
                                                                 default=None)


class _Routed(httpx2.AsyncBaseTransport):
    """The transport under a shared SDK client: hands each request to the transport of the
    ``AnthropicClient`` whose ``complete`` is running in the current task."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        transport = _ROUTE.get()
        if transport is None:
            raise RuntimeError("a shared SDK client was called outside AnthropicClient.complete")
        return await transport.handle_async_request(request)


_SharedKey = tuple[str, str, float]
#: Shared SDK clients per event loop: an entry goes when its loop does.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                   dict[_SharedKey, anthropic.AsyncAnthropic]] = (
    weakref.WeakKeyDictionary())


def _shared_sdk(key: _SharedKey) -> anthropic.AsyncAnthropic:
    """The event loop's SDK client for ``key`` (api key, base URL, default timeout)."""
    per_loop = _SHARED.setdefault(asyncio.get_running_loop(), {})
    sdk = per_loop.get(key)
    if sdk is None:
        api_key, base_url, timeout_s = key
        sdk = per_loop[key] = _make_sdk(httpx2.AsyncClient(transport=_Routed()), api_key,
                                        base_url, timeout_s, open_telemetry=False)
    return sdk


def _make_sdk(http: httpx2.AsyncClient, api_key: str, base_url: str, timeout_s: float, *,
              open_telemetry: Literal[False] | None = None) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        timeout=_timeout(timeout_s),
        http_client=http,
        # ``None``: the SDK's default (its own spans, under the global tracer provider)
        open_telemetry=open_telemetry,
    )


class AnthropicClient:
    """A ``ModelClient`` on ``anthropic.AsyncAnthropic`` with the given ``httpx2`` transport.

    ``transport`` decides where requests go; ``api_key`` and ``base_url`` only
    matter for the live transport (offline transports ignore both, and the key is
    never written anywhere by the recorder).

    ``shared=True`` (what ``make_client`` picks for the offline transports) sends the
    calls through one ``AsyncAnthropic`` per event loop, shared by every client with the
    same key, URL and default timeout, instead of building one per client: a suite
    builds a client per trial, and a fresh SDK client costs a construction and, on its
    first call, a trip to a worker thread to read the platform for its headers. The
    requests, replies and errors are the SDK's all the same: only the ``httpx2``
    transport under the shared client differs, and it routes each call to this
    client's own ``transport`` (through a context variable, so concurrent trials never
    cross; the offline transports set no cookies, so the shared cookie jar stays empty).
    A shared client leaves the SDK's own OpenTelemetry spans off: they would describe
    calls to a server that does not exist, and the runtime traces every call itself
    (``chat <model>``). The live transport keeps a client of its own.
    """

    def __init__(
        self,
        transport: httpx2.AsyncBaseTransport,
        *,
        api_key: str = OFFLINE_API_KEY,
        base_url: str | None = None,
        default_timeout_s: float = DEFAULT_TIMEOUT_S,
        shared: bool = False,
    ) -> None:
        self.transport = transport
        self._default_timeout_s = default_timeout_s
        self._key: _SharedKey | None = None
        self._sdk_own: anthropic.AsyncAnthropic | None = None
        if shared:
            self._key = (api_key, base_url or DEFAULT_BASE_URL, default_timeout_s)
        else:
            self._sdk_own = _make_sdk(httpx2.AsyncClient(transport=transport), api_key,
                                      base_url or DEFAULT_BASE_URL, default_timeout_s)

    @property
    def _sdk(self) -> anthropic.AsyncAnthropic:
        if self._sdk_own is not None:
            return self._sdk_own
        assert self._key is not None
        return _shared_sdk(self._key)

    async def complete(
        self, request: ModelRequest, *, timeout_s: float | None = None
    ) -> ModelResponse:
        """Send one Messages request; raise ``ModelError`` (or the transport's ``UsageError``)."""
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
        }
        if request.system:
            kwargs["system"] = request.system
        if request.tools:
            kwargs["tools"] = list(request.tools)
        if request.tool_choice is not None:
            kwargs["tool_choice"] = request.tool_choice
        if request.temperature is not None:
            # This SDK's ``create`` no longer takes ``temperature``; the API still
            # reads it from the body, which ``extra_body`` writes verbatim.
            kwargs["extra_body"] = {"temperature": request.temperature}
        if timeout_s is not None and timeout_s != self._default_timeout_s:
            # the SDK client already carries the default: leaving it out saves building it
            kwargs["timeout"] = _timeout(timeout_s)
        token = _ROUTE.set(self.transport) if self._sdk_own is None else None
        try:
            raw = await self._sdk.messages.with_raw_response.create(**kwargs)
        except anthropic.AnthropicError as exc:
            raise translate_error(exc) from exc
        finally:
            if token is not None:
                _ROUTE.reset(token)
        return to_model_response(raw.http_response.content)

    async def aclose(self) -> None:
        """Close this client's transport (and its own SDK client; a shared one stays open)."""
        if self._sdk_own is not None:
            await self._sdk_own.close()
        await self.transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _timeout(total_s: float) -> httpx2.Timeout:
    """``total_s`` for the call, but at most the SDK's 5 s to connect."""
    return httpx2.Timeout(total_s, connect=min(DEFAULT_CONNECT_TIMEOUT_S, total_s))


class _WireSplit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ephemeral_1h_input_tokens: int | None = Field(None, ge=0)


class _WireUsage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cache_creation_input_tokens: int | None = Field(None, ge=0)
    cache_read_input_tokens: int | None = Field(None, ge=0)
    cache_creation: _WireSplit | None = None


class _WireMessage(BaseModel):
    """The fields of a Messages API ``Message`` the core reads; the rest are the API's own.

    ``stop_reason`` may be null on the wire (mid-stream), but never in a finished reply,
    which is checked separately to say so in the error."""

    model_config = ConfigDict(extra="ignore")

    id: str
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: _WireUsage


def to_model_response(message: object) -> ModelResponse:
    """Turn a Messages API reply (its JSON body, the decoded dict, or an SDK ``Message``)
    into the core's ``ModelResponse``; anything that does not fit is ``malformed_reply``.

    Content blocks stay the API's dicts, key for key. Beyond the schema, a reply must
    have a stop reason, and a ``tool_use`` block a string id and name and an input that
    is a JSON object: the core would otherwise run a tool on a value that is not one.
    A malformed reply whose ``usage`` still reads carries it on the error: the provider
    billed those tokens, and the run's cost must say so.
    """
    if isinstance(message, anthropic.BaseModel):
        message = message.to_dict()
    try:
        if isinstance(message, bytes | str):
            wire = _WireMessage.model_validate_json(message)
        else:
            wire = _WireMessage.model_validate(message)
    except ValidationError as exc:
        raise ModelError("malformed_reply", _validation_detail(exc, message), status=200,
                         usage=_salvage_usage(message)) from None
    try:
        usage = _usage_of(wire.usage)
    except ValidationError as exc:
        raise ModelError("malformed_reply", _validation_detail(exc, message), status=200) from None

    def bad(detail: str) -> ModelError:
        return ModelError("malformed_reply", detail[:300], status=200, usage=usage)

    for block in wire.content:
        kind = block.get("type")
        if not isinstance(kind, str):
            raise bad(f"content block has no type: {block!r}")
        if kind == "tool_use":
            tool_input = block.get("input")
            name = block.get("name")
            if not isinstance(tool_input, dict):
                raise bad(f"tool_use {name!r} input is not a JSON object: "
                          f"{str(tool_input)[:200]!r}")
            if not isinstance(name, str) or not isinstance(block.get("id"), str):
                raise bad(f"tool_use block without a string id and name: {block!r}")
        elif kind == "text" and not isinstance(block.get("text"), str):
            raise bad(f"text block without text: {block!r}")
    if not wire.stop_reason:
        raise bad("reply has no stop_reason")
    try:
        return ModelResponse(id=wire.id, model=wire.model, content=tuple(wire.content),
                             stop_reason=wire.stop_reason, usage=usage)
    except ValidationError as exc:
        raise ModelError("malformed_reply", _validation_detail(exc, message), status=200,
                         usage=usage) from None


def _usage_of(u: _WireUsage) -> Usage:
    split = u.cache_creation
    return Usage(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cache_creation_input_tokens=u.cache_creation_input_tokens or 0,
        cache_creation_1h_input_tokens=(split.ephemeral_1h_input_tokens or 0)
        if split is not None else 0,
        cache_read_input_tokens=u.cache_read_input_tokens or 0,
    )


def _salvage_usage(message: object) -> Usage | None:
    """The ``usage`` of a reply that failed the schema elsewhere, if that part reads."""
    try:
        raw = json.loads(message) if isinstance(message, bytes | str) else message
        if not isinstance(raw, dict):
            return None
        return _usage_of(_WireUsage.model_validate(raw.get("usage")))
    except ValueError:  # not JSON, or no usable usage (ValidationError is a ValueError)
        return None


def _validation_detail(exc: ValidationError, body: object) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "reply"
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    shown = body if isinstance(body, str) else repr(body)
    return f"reply does not fit the Message schema at {where}: {first['msg']}; body: {shown[:200]!r}"


def translate_error(exc: anthropic.AnthropicError) -> HarnessError:
    """Map an SDK exception to the ``ModelError`` kind the runtime's retry table knows.

    A ``HarnessError`` raised inside one of our transports (a replay miss, a live
    call while live calls are off) reaches us wrapped in ``APIConnectionError``; it
    is a caller mistake, not a network fault, so it is handed back unwrapped.
    """
    inner = _harness_cause(exc)
    if inner is not None:
        return inner
    if isinstance(exc, anthropic.APITimeoutError):
        if isinstance(exc.__cause__, httpx2.ConnectTimeout):
            return ModelError("connect_error", f"connect timeout: {exc.__cause__}")
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else "request timed out"
        return ModelError("timeout", detail)
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else exc.message
        return ModelError("connect_error", detail)
    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc)
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ModelError("malformed_reply", exc.message, status=exc.status_code)
    return ModelError("malformed_reply", f"{type(exc).__name__}: {exc}")


def _harness_cause(exc: BaseException) -> HarnessError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, HarnessError):
            return current
        current = current.__cause__
    return None


def _status_error(exc: anthropic.APIStatusError) -> ModelError:
    status = exc.status_code
    headers = exc.response.headers
    retry_after = parse_retry_after(headers)
    message = exc.api_message or str(exc.message)
    error_type = exc.type or ""
    code = exc.error_code or ""
    detail = f"HTTP {status} {error_type or 'error'}: {message}"
    if status == 402 or code in _SPEND_CODES or error_type == "billing_error" or (
        status == 429 and _SPEND_WORDS.search(message)
    ):
        return ModelError("spend_limit", detail, status=status, retry_after_s=retry_after)
    if status == 429:
        return ModelError("rate_limited", detail, status=status, retry_after_s=retry_after)
    if status == 529:
        return ModelError("overloaded", detail, status=status, retry_after_s=retry_after)
    if status == 504:
        return ModelError("gateway_timeout", detail, status=status, retry_after_s=retry_after)
    if status == 408:
        return ModelError("timeout", detail, status=status, retry_after_s=retry_after)
    if status >= 500:
        return ModelError("server_error", detail, status=status, retry_after_s=retry_after)
    if status in (401, 403):
        return ModelError("auth", detail, status=status)
    return ModelError("bad_request", detail, status=status)


def parse_retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date).

    An HTTP date is measured against the response's own ``date`` header rather than
    our clock, so the answer does not depend on when (or in which time) we read it.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        sent = parsedate_to_datetime(headers["date"]) if "date" in headers else None
    except (TypeError, ValueError, IndexError):
        return None
    if sent is None:
        return None
    return max(0.0, (when - sent).total_seconds())


# -- the client an agent that brings its own loop is handed (see harness.external) ---------

#: The header on the harness's own refusal of a call past a limit (HTTP 402): its value
#: names the limit.
BUDGET_HEADER = "x-harness-budget-exhausted"


class BudgetExhausted(anthropic.APIStatusError):
    """A model call refused before it was sent: the trial reached one of its limits.

    An ``anthropic.APIStatusError`` (HTTP 402, ``billing_error``), as from an account at
    its spend limit; ``limit`` names the limit (``llm_calls``, ``tokens_in``, ...)."""

    limit: str

    def __init__(self, message: str, *, response: httpx2.Response, body: object | None) -> None:
        super().__init__(message, response=response, body=body)
        self.limit = response.headers.get(BUDGET_HEADER, "")


class AgentClient(anthropic.AsyncAnthropic):
    """An ``anthropic.AsyncAnthropic``; a refused call raises ``BudgetExhausted``."""

    def _make_status_error_from_response(self, response: httpx2.Response
                                         ) -> anthropic.APIStatusError:
        err = super()._make_status_error_from_response(response)
        if BUDGET_HEADER in response.headers:
            return BudgetExhausted(err.message, response=response, body=err.body)
        return err


def agent_client(over: AnthropicClient, transport: httpx2.AsyncBaseTransport) -> AgentClient:
    """The SDK client an agent gets, over ``transport`` with ``over``'s key, URL and timeout.

    ``max_retries=0``: retrying is the agent's own business, and the SDK's back-off
    would sleep on the wall clock, not the trial's."""
    own = over._sdk_own  # the live transport's client; offline ones share a keyless one
    return AgentClient(api_key=own.api_key if own is not None else OFFLINE_API_KEY,
                       base_url=str(own.base_url) if own is not None else DEFAULT_BASE_URL,
                       max_retries=0, timeout=_timeout(over._default_timeout_s),
                       http_client=httpx2.AsyncClient(transport=transport))
