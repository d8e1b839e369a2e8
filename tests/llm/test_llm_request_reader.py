"""The simulator's request reader agrees with reading a body the long way, whatever it remembers."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core._llm_types import count_request_tokens
from harness.llm import canonical_from_body, canonical_json
from harness.llm._request_reader import RequestReader
from harness.llm._simulated import _as_request

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
_block = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=30)),
    st.builds(lambda n, i: {"type": "tool_use", "id": "toolu_1", "name": n, "input": i},
              st.text(max_size=8), st.dictionaries(st.text(max_size=6), _json, max_size=3)),
    st.builds(lambda c, e: {"type": "tool_result", "tool_use_id": "toolu_1", "content": c,
                            "is_error": e}, st.text(max_size=30), st.booleans()),
)
_message = st.builds(lambda r, c: {"role": r, "content": c}, st.sampled_from(["user", "assistant"]),
                     st.one_of(st.text(max_size=30), st.lists(_block, max_size=3)))
_tool = st.builds(lambda n, d: {"name": n, "description": d,
                                "input_schema": {"type": "object", "properties": {"x": {"type": "integer"}}}},
                  st.text(max_size=8), st.text(max_size=20))
_body = st.fixed_dictionaries(
    {"messages": st.lists(_message, max_size=5)},
    optional={"max_tokens": st.one_of(st.integers(1, 4096), _scalars), "model": _scalars,
              "system": st.one_of(st.text(max_size=30), st.lists(_block, max_size=2), _scalars),
              "tools": st.one_of(st.lists(_tool, max_size=3), st.none(), st.just([])),
              "tool_choice": st.one_of(st.none(), st.just({"type": "auto"}),
                                       st.builds(lambda n: {"type": "tool", "name": n}, st.text(max_size=6))),
              "temperature": st.one_of(st.none(), st.floats(0, 1)), "extra": _json})


def _long_way(text: str) -> tuple[Any, ...]:
    body = json.loads(text)
    canonical = canonical_from_body(body)
    return body, canonical, canonical_json(canonical), count_request_tokens(_as_request(canonical))


def _check(reader: RequestReader, text: str) -> None:
    read = reader.read(text)
    assert read is not None, text
    assert tuple(read) == _long_way(text)
    assert json.dumps(read.body) == json.dumps(json.loads(text)), "keys in the body's own order"


@settings(max_examples=150, deadline=None)
@given(st.lists(_body, min_size=1, max_size=4), st.booleans())
def test_a_conversation_read_turn_by_turn_reads_as_the_long_way(bodies: list[dict[str, Any]],
                                                                grow: bool) -> None:
    reader = RequestReader()
    history: list[Any] = []
    for body in bodies:
        if grow:  # the way a conversation is sent: everything so far, then the new turn
            history = history + body["messages"]
            body = {**body, "messages": history}
        for text in (json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                     json.dumps(body, indent=1)):
            _check(reader, text)


def test_a_remembered_text_is_only_reused_where_it_stands_whole() -> None:
    reader = RequestReader()
    first = {"max_tokens": 10, "messages": [{"role": "user", "content": "a"}], "tools": [{"n": 1}]}
    _check(reader, json.dumps(first))
    # the same text, followed by more: a message whose text starts like the remembered one
    # is not that message
    second = {"max_tokens": 100, "messages": [{"role": "user", "content": "ab"}],
              "tools": [{"n": 1}, {"n": 2}]}
    _check(reader, json.dumps(second))
    third = {"max_tokens": 1, "messages": [{"role": "user", "content": "a"}, True, 7],
             "tools": [{"n": 1}]}
    _check(reader, json.dumps(third))


def test_bodies_it_does_not_read_are_left_to_the_long_way() -> None:
    reader = RequestReader()
    for text in ('[1, 2]', '{"messages": "hi"}', '{"tools": {"a": 1}}', '{"a": 1, "a": 2}',
                 '{"messages": [], "messages": []}', '{"messages": [1,]}', '{"a": 1} x', '{"a": 1',
                 '', '   ', '{"messages": [{"role": "user"}'):
        assert reader.read(text) is None, text
