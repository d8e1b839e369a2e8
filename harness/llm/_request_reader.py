"""Reading a Messages request body once: its JSON, canonical hash and token count together.

The simulator needs three things from every request: the decoded body, the SHA-256
of its canonical form (``_canonical``), and its input tokens by the core's counter.
Done naively each walks the whole conversation, and a conversation is sent again in
full, one message longer, on every turn: most of a request is text the simulator
has already read. So the body is read value by value, and a message (or the tools,
or the system prompt) whose exact JSON text was read recently is taken from memory
with its decoded value, its canonical JSON and its token count. Exact text means the
same value, canonical form and count, so the memory changes nothing but the time.

The canonical JSON is assembled from the parts (key-sorted, as ``canonical_json``
writes it: the encoding of a value does not depend on what contains it), and the
token count is summed from them the way ``count_request_tokens`` sums a request.
A body that is not the plain shape read here (not an object, messages or tools that
are not arrays, a repeated key, anything malformed) is reported as ``None`` and the
caller reads it the long way, which also produces the proper error.

Decoded values are shared between requests that repeat them: callers must not
mutate them.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from harness.core._llm_types import count_tokens
from harness.llm._canonical import dumps_canonical

_decode = json.JSONDecoder().raw_decode
_WS = " \t\n\r"
#: Recently read texts kept per slot (a message position, or a top-level key).
_KEEP = 8


class Part(NamedTuple):
    raw: str
    """The value's exact JSON text in the body."""
    value: Any
    canon: str
    """``json.dumps(value, sort_keys=True, ...)`` as the canonical hash takes it."""
    tokens: int


class ReadRequest(NamedTuple):
    body: dict[str, Any]
    canonical: dict[str, Any]
    """What ``canonical_from_body(body)`` returns."""
    canonical_json: str
    """What ``canonical_json(canonical)`` returns."""
    input_tokens: int
    """What ``count_request_tokens`` says of the request."""


def _part(raw: str, value: Any) -> Part:
    return Part(raw, value, dumps_canonical(value), count_tokens(value))


def _skip(text: str, i: int) -> int:
    # callers test ``text[i] in _WS`` first: the SDK writes compact JSON, so the call is rare
    while text[i] in _WS:
        i += 1
    return i


#: Top-level values (tools, system prompt...) by key, shared by every reader: every trial
#: of a suite sends the same tools.
_KEYS: dict[str, list[Part]] = {"system": [], "tools": [], "tool_choice": []}


class RequestReader:
    """Reads bodies, remembering the last few texts seen at each message position and key.

    One reader per conversation source (a transport); a body that shares nothing with
    the ones before it is read at the cost of a plain ``json.loads`` plus a little."""

    def __init__(self) -> None:
        self._messages: list[list[Part]] = []
        self._keys = _KEYS

    def read(self, text: str) -> ReadRequest | None:
        try:
            return self._read(text)
        except (ValueError, IndexError, TypeError, RecursionError):
            return None

    def _read(self, text: str) -> ReadRequest | None:
        i = 0
        if text[i] in _WS:
            i = _skip(text, i)
        if text[i] != "{":
            return None
        i += 1
        if text[i] in _WS:
            i = _skip(text, i)
        parts: dict[str, Part] = {}
        messages: list[Part] | None = None
        body: dict[str, Any] = {}
        if text[i] != "}":
            while True:
                if text[i] != '"':
                    return None
                key, i = _decode(text, i)
                if text[i] in _WS:
                    i = _skip(text, i)
                if text[i] != ":" or key in parts or (key == "messages" and messages is not None):
                    return None
                i += 1
                if text[i] in _WS:
                    i = _skip(text, i)
                if key == "messages" and text[i] == "[":
                    messages, i = self._read_messages(text, i)
                    body[key] = [m.value for m in messages]
                else:
                    part = parts[key] = self._recall(self._keys.get(key, []), text, i)
                    body[key] = part.value
                    i += len(part.raw)
                if text[i] in _WS:
                    i = _skip(text, i)
                if text[i] == ",":
                    i += 1
                    if text[i] in _WS:
                        i = _skip(text, i)
                    continue
                if text[i] != "}":
                    return None
                break
        if text[i + 1:].strip(_WS):
            return None
        return self._assemble(body, parts, messages)

    def _read_messages(self, text: str, i: int) -> tuple[list[Part], int]:
        out: list[Part] = []
        i += 1
        if text[i] in _WS:
            i = _skip(text, i)
        if text[i] == "]":
            return out, i + 1
        slots = self._messages
        while True:
            if len(out) == len(slots):
                slots.append([])
            part = self._recall(slots[len(out)], text, i)
            out.append(part)
            i += len(part.raw)
            if text[i] in _WS:
                i = _skip(text, i)
            if text[i] == ",":
                i += 1
                if text[i] in _WS:
                    i = _skip(text, i)
                continue
            if text[i] != "]":
                raise ValueError("messages array not closed")
            return out, i + 1

    @staticmethod
    def _recall(seen: list[Part], text: str, i: int) -> Part:
        """The value starting at ``text[i]``: a remembered one if its text is there verbatim.

        Only objects, arrays and strings are recalled: they end where their text ends, so
        matching the text is matching the value (a number could continue past it)."""
        if text[i] in '{["':
            for part in seen:
                if text.startswith(part.raw, i):
                    return part
        value, end = _decode(text, i)
        part = _part(text[i:end], value)
        if text[i] in '{["':
            seen.insert(0, part)
            del seen[_KEEP:]
        return part

    @staticmethod
    def _assemble(body: dict[str, Any], parts: dict[str, Part],
                  messages: list[Part] | None) -> ReadRequest | None:
        if messages is None and "messages" in parts and parts["messages"].value:
            return None  # messages that are not an array: read the long way
        tools = parts.get("tools")
        if tools is not None and tools.value and not isinstance(tools.value, list):
            return None
        system = parts.get("system")
        tool_choice = parts.get("tool_choice")

        def canon(key: str) -> str:
            part = parts.get(key)
            return part.canon if part is not None else "null"

        system_canon, system_tokens = '""', 0
        if system is not None and system.value:
            system_canon, system_tokens = system.canon, system.tokens
        tools_canon, tools_tokens = "[]", 0
        if tools is not None and tools.value:
            tools_canon, tools_tokens = tools.canon, tools.tokens
        msgs = messages or []
        canonical_json = (
            '{"max_tokens":' + canon("max_tokens")
            + ',"messages":[' + ",".join([m.canon for m in msgs]) + "]"
            + ',"model":' + canon("model")
            + ',"system":' + system_canon
            + ',"temperature":' + canon("temperature")
            + ',"tool_choice":' + canon("tool_choice")
            + ',"tools":' + tools_canon + "}"
        )
        tokens = system_tokens + sum([m.tokens for m in msgs]) + tools_tokens
        if tool_choice is not None and tool_choice.value:
            tokens += tool_choice.tokens
        canonical = {
            "model": body.get("model"),
            "system": (system.value if system is not None else None) or "",
            "messages": body["messages"] if messages is not None else [],
            "tools": list((tools.value if tools is not None else None) or ()),
            "tool_choice": body.get("tool_choice"),
            "max_tokens": body.get("max_tokens"),
            "temperature": body.get("temperature"),
        }
        return ReadRequest(body, canonical, canonical_json, tokens)
