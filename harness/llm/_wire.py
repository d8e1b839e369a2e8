"""Bytes on the wire: building the JSON bodies and status codes the real API sends.

Every offline transport answers through these helpers, so the SDK parses (and
maps errors from) exactly the shapes it would see from api.anthropic.com.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx2

from harness.errors import UsageError

MESSAGES_PATH = "/v1/messages"
#: The simulated time an answer took; cassettes keep it so a replay spends it again.
LATENCY_HEADER = "x-harness-simulated-latency-s"

_JSON = "application/json"


def dumps(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    status: int, body: object | bytes, headers: Mapping[str, str] | None = None
) -> httpx2.Response:
    content = body if isinstance(body, bytes) else dumps(body)
    hdrs = {"content-type": _JSON}
    if headers:
        hdrs.update(headers)
    return httpx2.Response(status, content=content, headers=hdrs)


def error_body(error_type: str, message: str, *, error_code: str | None = None) -> dict[str, Any]:
    """The API's error envelope: ``{"type": "error", "error": {"type", "message"[, "details"]}}``."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error}


def message_body(
    *, msg_id: str, model: str, content: list[dict[str, Any]], stop_reason: str,
    input_tokens: int, output_tokens: int, cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
) -> dict[str, Any]:
    """A complete ``Message`` object as the Messages API returns it."""
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
        },
    }


def request_body(request: httpx2.Request) -> dict[str, Any]:
    """The JSON body of a request the SDK built (already read by the transport)."""
    return request_body_of(request.content, str(request.url))


def request_body_of(content: bytes, url: str = MESSAGES_PATH) -> dict[str, Any]:
    try:
        body = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"request to {url} has no JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise UsageError(f"request to {url} has a non-object JSON body")
    return body


def is_messages_call(request: httpx2.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith(MESSAGES_PATH)


def not_found(request: httpx2.Request) -> httpx2.Response:
    return json_response(
        404, error_body("not_found_error", f"{request.method} {request.url.path} is not served here")
    )
