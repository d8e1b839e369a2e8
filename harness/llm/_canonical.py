"""The canonical form of a Messages request, and the stable hash cassettes match on.

Only what changes the answer is kept (model, system, messages, tools, tool choice,
max tokens, temperature); headers, SDK version and idempotency keys are dropped so
a recorded answer still matches after an SDK upgrade. Absent and empty are the
same thing (no system prompt == ``""``, no tools == ``[]``), so a request built by
the core and the same request read back off the wire hash identically.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from harness.core._llm_types import ModelRequest

CANONICAL_KEYS = ("model", "system", "messages", "tools", "tool_choice", "max_tokens", "temperature")


def canonical_from_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical request behind a Messages API JSON body."""
    return {
        "model": body.get("model"),
        "system": body.get("system") or "",
        "messages": list(body.get("messages") or ()),
        "tools": list(body.get("tools") or ()),
        "tool_choice": body.get("tool_choice"),
        "max_tokens": body.get("max_tokens"),
        "temperature": body.get("temperature"),
    }


def canonical_from_request(request: ModelRequest) -> dict[str, Any]:
    """The canonical form of a core request; equal to ``canonical_from_body`` of its wire body."""
    return {
        "model": request.model,
        "system": request.system,
        "messages": list(request.messages),
        "tools": list(request.tools),
        "tool_choice": request.tool_choice,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }


dumps_canonical: Callable[[Any], str] = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
"""Key-order-free, whitespace-free JSON of any value (one encoder, built once)."""


def canonical_json(canonical: Mapping[str, Any]) -> str:
    """Key-order-free, whitespace-free JSON: the bytes the hash is taken over."""
    return dumps_canonical(canonical)


def hash_json(text: str) -> str:
    """The hash of a canonical request already written as ``canonical_json``."""
    return hashlib.sha256(text.encode()).hexdigest()


def hash_canonical(canonical: Mapping[str, Any]) -> str:
    return hash_json(canonical_json(canonical))


def request_hash(request: ModelRequest | Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical request; accepts a ``ModelRequest`` or a wire body."""
    if isinstance(request, ModelRequest):
        return hash_canonical(canonical_from_request(request))
    return hash_canonical(canonical_from_body(request))


def last_message_preview(canonical: Mapping[str, Any], limit: int = 160) -> str:
    """A short readable rendering of the last message, for error messages."""
    messages = canonical.get("messages") or []
    if not messages:
        return "(no messages)"
    last = messages[-1]
    content = last.get("content") if isinstance(last, Mapping) else last
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if not isinstance(block, Mapping):
                parts.append(str(block))
            elif block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_result":
                parts.append(f"[tool_result {block.get('tool_use_id')}] {block.get('content')}")
            elif block.get("type") == "tool_use":
                parts.append(f"[tool_use {block.get('name')}] {json.dumps(block.get('input'))}")
            else:
                parts.append(f"[{block.get('type')}]")
        text = " ".join(parts)
    else:
        text = json.dumps(content)
    role = last.get("role", "?") if isinstance(last, Mapping) else "?"
    text = text.replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{role}: {text}"
