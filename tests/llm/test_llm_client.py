"""The one client: request building, reply conversion, and every failure's ModelError kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from llm_support import step_request

from harness.core._llm_types import MODEL_ERROR_KINDS, ModelRequest
from harness.errors import ModelError, UsageError
from harness.llm import RETRYABLE, AnthropicClient, request_hash, retryable
from harness.llm._wire import error_body, message_body

Handler = Callable[[httpx2.Request], httpx2.Response]

OK = message_body(msg_id="msg_1", model="claude-haiku-4-5",
                  content=[{"type": "text", "text": "hello"}], stop_reason="end_turn",
                  input_tokens=11, output_tokens=2)


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(status, json=body, headers=headers or {})


def _call(handler: Handler, request: ModelRequest | None = None) -> Any:
    import asyncio

    seen: list[httpx2.Request] = []

    def wrapped(req: httpx2.Request) -> httpx2.Response:
        seen.append(req)
        return handler(req)

    async def go() -> Any:
        async with AnthropicClient(httpx2.MockTransport(wrapped)) as client:
            return await client.complete(request or step_request(), timeout_s=30)

    try:
        return asyncio.run(go())
    finally:
        _call.seen = seen  # type: ignore[attr-defined]


def _error(handler: Handler) -> ModelError:
    with pytest.raises(ModelError) as info:
        _call(handler)
    return info.value


def test_request_body_carries_the_canonical_request_and_hashes_the_same() -> None:
    req = step_request(temperature=0.5, tool_choice={"type": "auto"})
    _call(lambda r: _json(200, OK), req)
    sent = _call.seen[0]  # type: ignore[attr-defined]
    body = json.loads(sent.content)
    assert body["model"] == req.model and body["system"] == req.system
    assert body["tools"] == list(req.tools) and body["tool_choice"] == {"type": "auto"}
    assert body["max_tokens"] == 512 and body["temperature"] == 0.5
    assert request_hash(body) == request_hash(req)
    assert sent.headers["x-stainless-retry-count"] == "0"


def test_reply_becomes_a_model_response_with_cache_usage_split() -> None:
    body = {**OK, "content": [{"type": "text", "text": "hi"},
                              {"type": "tool_use", "id": "toolu_1", "name": "refund",
                               "input": {"order_id": "42"}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 5, "output_tokens": 7, "cache_creation_input_tokens": 300,
                      "cache_read_input_tokens": 40,
                      "cache_creation": {"ephemeral_5m_input_tokens": 100,
                                         "ephemeral_1h_input_tokens": 200}}}
    r = _call(lambda req: _json(200, body))
    assert r.stop_reason == "tool_use" and r.text() == "hi"
    assert r.tool_uses() == [{"type": "tool_use", "id": "toolu_1", "name": "refund",
                              "input": {"order_id": "42"}}]
    u = r.usage
    assert (u.input_tokens, u.output_tokens, u.cache_creation_input_tokens,
            u.cache_creation_1h_input_tokens, u.cache_read_input_tokens) == (5, 7, 300, 200, 40)


@pytest.mark.parametrize(("status", "etype", "kind"), [
    (400, "invalid_request_error", "bad_request"),
    (401, "authentication_error", "auth"),
    (403, "permission_error", "auth"),
    (404, "not_found_error", "bad_request"),
    (413, "request_too_large", "bad_request"),
    (422, "invalid_request_error", "bad_request"),
    (402, "billing_error", "spend_limit"),
    (408, "timeout_error", "timeout"),
    (500, "api_error", "server_error"),
    (502, "api_error", "server_error"),
    (503, "api_error", "server_error"),
    (504, "timeout_error", "gateway_timeout"),
    (529, "overloaded_error", "overloaded"),
])
def test_status_codes_map_to_kinds(status: int, etype: str, kind: str) -> None:
    err = _error(lambda r: _json(status, error_body(etype, "nope")))
    assert err.kind == kind and err.status == status
    assert kind in MODEL_ERROR_KINDS


def test_429_carries_retry_after() -> None:
    err = _error(lambda r: _json(429, error_body("rate_limit_error", "slow down"),
                                 {"retry-after": "7"}))
    assert (err.kind, err.retry_after_s, err.status) == ("rate_limited", 7.0, 429)
    err = _error(lambda r: _json(429, error_body("rate_limit_error", "x"),
                                 {"retry-after-ms": "1500", "retry-after": "9"}))
    assert err.retry_after_s == 1.5
    err = _error(lambda r: _json(429, error_body("rate_limit_error", "x"), {
        "retry-after": "Wed, 21 Oct 2026 07:28:30 GMT", "date": "Wed, 21 Oct 2026 07:28:00 GMT"}))
    assert err.retry_after_s == 30.0
    err = _error(lambda r: _json(429, error_body("rate_limit_error", "x")))
    assert err.kind == "rate_limited" and err.retry_after_s is None


@pytest.mark.parametrize("body", [
    error_body("rate_limit_error", "You have reached your specified API usage limits."),
    error_body("rate_limit_error", "Your credit balance is too low."),
    error_body("rate_limit_error", "limit", error_code="enforced_spend_limit_reached"),
    error_body("rate_limit_error", "limit", error_code="contract_spend_limit_reached"),
])
def test_spend_limit_429_is_its_own_kind_and_not_retried(body: dict[str, Any]) -> None:
    err = _error(lambda r: _json(429, body, {"retry-after": "60"}))
    assert err.kind == "spend_limit" and not retryable(err.kind)


def test_sdk_does_not_retry_on_its_own() -> None:
    calls = []

    def handler(r: httpx2.Request) -> httpx2.Response:
        calls.append(r)
        return _json(529, error_body("overloaded_error", "Overloaded"),
                     {"x-should-retry": "true"})

    assert _error(handler).kind == "overloaded"
    assert len(calls) == 1


@pytest.mark.parametrize(("exc", "kind"), [
    (httpx2.ReadTimeout, "timeout"),
    (httpx2.WriteTimeout, "timeout"),
    (httpx2.PoolTimeout, "timeout"),
    (httpx2.ConnectTimeout, "connect_error"),
    (httpx2.ConnectError, "connect_error"),
    (httpx2.RemoteProtocolError, "connect_error"),
])
def test_transport_exceptions_map_to_kinds(exc: type[Exception], kind: str) -> None:
    def handler(r: httpx2.Request) -> httpx2.Response:
        raise exc("boom", request=r)  # type: ignore[call-arg]

    err = _error(handler)
    assert err.kind == kind and err.status is None


@pytest.mark.parametrize("body", [
    b"<html>502 bad gateway</html>",
    b'{"id": "msg_1", "type": "message", "content": [',
])
def test_unparseable_reply_is_malformed(body: bytes) -> None:
    err = _error(lambda r: httpx2.Response(200, content=body,
                                           headers={"content-type": "application/json"}))
    assert err.kind == "malformed_reply"


@pytest.mark.parametrize("tool_input", ['{"order_id": "4', ["a"], None, 3])
def test_tool_use_input_not_an_object_is_malformed(tool_input: object) -> None:
    body = {**OK, "stop_reason": "tool_use",
            "content": [{"type": "tool_use", "id": "t", "name": "refund", "input": tool_input}]}
    err = _error(lambda r: _json(200, body))
    assert err.kind == "malformed_reply" and "refund" in str(err)


def test_reply_without_stop_reason_or_with_bad_usage_is_malformed() -> None:
    assert _error(lambda r: _json(200, {**OK, "stop_reason": None})).kind == "malformed_reply"
    bad_usage = {**OK, "usage": {"input_tokens": -3, "output_tokens": 1}}
    assert _error(lambda r: _json(200, bad_usage)).kind == "malformed_reply"


def test_harness_errors_from_a_transport_pass_through_unwrapped() -> None:
    def handler(r: httpx2.Request) -> httpx2.Response:
        raise UsageError("a caller mistake")

    with pytest.raises(UsageError, match="a caller mistake"):
        _call(handler)


def test_retry_table_covers_every_kind() -> None:
    assert set(RETRYABLE) == set(MODEL_ERROR_KINDS)
    retried = {k for k in MODEL_ERROR_KINDS if retryable(k)}
    assert retried == {"rate_limited", "overloaded", "server_error", "gateway_timeout",
                       "timeout", "connect_error"}
    with pytest.raises(UsageError):
        retryable("nonsense")


def test_anthropic_is_imported_in_one_module_only() -> None:
    from pathlib import Path

    import harness

    root = Path(harness.__file__).parent
    importers = sorted(
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if "import anthropic" in p.read_text() or "from anthropic" in p.read_text()
    )
    assert importers == ["llm/_anthropic.py"]


@pytest.mark.parametrize("body", [
    [OK],
    error_body("api_error", "an error envelope under a 200"),
    {**OK, "content": ["hello"]},
    {**OK, "content": [{"text": "a block without a type"}]},
    {**OK, "content": [{"type": "text"}]},
    {**OK, "content": [{"type": "tool_use", "id": "t", "input": {}}]},
    {**OK, "content": [{"type": "tool_use", "id": 7, "name": "refund", "input": {}}]},
    {**OK, "usage": {"input_tokens": 1}},
    {**OK, "id": None},
])
def test_reply_that_does_not_fit_the_schema_is_malformed(body: object) -> None:
    err = _error(lambda r: _json(200, body))
    assert err.kind == "malformed_reply" and err.status == 200


@pytest.mark.parametrize(("body", "billed"), [
    # the reply arrived and was billed; only its content is unusable
    ({**OK, "content": [{"type": "tool_use", "id": "t", "name": "refund", "input": "42"}]}, 11),
    ({**OK, "content": [{"type": "text"}]}, 11),
    ({**OK, "stop_reason": None}, 11),
    ({**OK, "content": "not a list"}, 11),
    # nothing readable says what it cost
    ({**OK, "usage": {"input_tokens": 1}}, None),
    ([OK], None),
])
def test_a_malformed_reply_carries_what_it_was_billed(body: object, billed: int | None) -> None:
    err = _error(lambda r: _json(200, body))
    assert err.kind == "malformed_reply"
    if billed is None:
        assert err.usage is None
    else:
        assert (err.usage.input_tokens, err.usage.output_tokens) == (billed, 2)


def test_reply_blocks_are_kept_as_sent_including_kinds_the_core_does_not_read() -> None:
    thinking = {"type": "thinking", "thinking": "hmm", "signature": "sig"}
    text = {"type": "text", "text": "hi", "citations": None}
    body = {**OK, "content": [thinking, text], "extra_field_from_a_newer_api": 1}
    r = _call(lambda req: _json(200, body))
    assert r.content == (thinking, text)
    assert [list(b) for b in r.content] == [["type", "thinking", "signature"],
                                            ["type", "text", "citations"]]


def test_to_model_response_reads_a_body_a_dict_or_an_sdk_message_alike() -> None:
    import anthropic

    from harness.llm import to_model_response

    raw = json.dumps(OK).encode()
    message = anthropic.types.Message.model_validate(OK)
    assert to_model_response(raw) == to_model_response(OK) == to_model_response(message)
    with pytest.raises(ModelError, match="stop_reason"):
        to_model_response({**OK, "stop_reason": None})


@pytest.mark.parametrize(("timeout_s", "read"), [(30.0, 30.0), (600.0, 600.0), (None, 600.0),
                                                 (2.0, 2.0)])
def test_each_call_is_sent_with_its_own_timeout_or_the_default(timeout_s: float | None,
                                                                read: float) -> None:
    import asyncio

    seen: list[httpx2.Request] = []

    def handler(r: httpx2.Request) -> httpx2.Response:
        seen.append(r)
        return _json(200, OK)

    async def go() -> None:
        async with AnthropicClient(httpx2.MockTransport(handler), shared=True) as client:
            await client.complete(step_request(), timeout_s=timeout_s)

    asyncio.run(go())
    sent = seen[0].extensions["timeout"]
    assert sent["read"] == read and sent["connect"] == min(5.0, read)
