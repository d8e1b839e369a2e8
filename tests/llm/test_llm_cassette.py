"""Record from a stand-in "live" server, replay identically, and fail loudly on a miss."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llm_support import REFERENCE, StandIn, run, step_request

from harness.core._llm_types import ModelRequest
from harness.errors import ConfigError, UsageError
from harness.llm import (
    Cassette,
    Interaction,
    LiveCallsForbidden,
    RecordedResponse,
    ReplayMiss,
    canonical_from_body,
    canonical_json,
    live_calls_allowed,
    load_cassette,
    make_client,
    parse_cassette,
    price_for,
    request_hash,
    run_episode,
    save_cassette,
)

FAKE_KEY = "sk-ant-api03-FAKE-KEY-must-never-be-written-0123456789"
MODELS = ("claude-haiku-4-5", "claude-opus-4-5")


async def _session(client: Any, model: str) -> list[Any]:
    return [await run_episode(client, REFERENCE, model=model)]


def test_record_from_live_stand_in_then_replay_identically(tmp_path: Path) -> None:
    cassette = tmp_path / "session.json"
    with StandIn(REFERENCE, seed=11) as server, live_calls_allowed(True):
        live = make_client("live", api_key=FAKE_KEY, base_url=server.url, record_to=cassette)
        recorded = [run(run_episode(live, REFERENCE, model=m)) for m in MODELS]
        run(live.aclose())
    # The key really went over the wire (this SDK sends it as x-api-key or a bearer token).
    assert server.headers_seen
    assert all(FAKE_KEY in (h.get("x-api-key", "") + h.get("authorization", ""))
               for h in server.headers_seen)

    replay = make_client("replay", cassette=cassette)
    replayed = [run(run_episode(replay, REFERENCE, model=m)) for m in MODELS]
    assert replayed == recorded
    assert [r.cost_usd for r in replayed] == [r.cost_usd for r in recorded]
    assert recorded[0].cost_usd == pytest.approx(
        price_for(MODELS[0]).cost(recorded[0].usage), rel=1e-12)

    text = cassette.read_text()
    assert FAKE_KEY not in text and "FAKE-KEY" not in text
    lowered = text.lower()
    for secret in ("x-api-key", "authorization", "anthropic-organization-id", "org-secret"):
        assert secret not in lowered
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert len(data["interactions"]) == sum(r.calls for r in recorded)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_replay_miss_names_the_request_and_shows_the_difference(tmp_path: Path) -> None:
    cassette = tmp_path / "c.json"
    sim = make_client("simulated", reference=REFERENCE, seed=0, record_to=cassette)
    run(sim.complete(step_request(step="s1")))
    run(sim.complete(step_request(step="s2")))
    changed = step_request(step="s2", messages=(
        {"role": "user", "content": "[step s2] Refund order 42 in FULL please."},))
    with pytest.raises(ReplayMiss) as info:
        run(make_client("replay", cassette=cassette).complete(changed))
    miss = info.value
    assert isinstance(miss, UsageError)
    assert miss.request_hash == request_hash(changed)
    assert miss.model == "claude-haiku-4-5"
    assert "[step s2] Refund order 42 in FULL please." in miss.last_message
    assert miss.nearest_hash == request_hash(step_request(step="s2"))
    message = str(miss)
    assert request_hash(changed)[:16] in message and "claude-haiku-4-5" in message
    assert re.search(r'\n +- +"content": "\[step s2\] Refund order 42 in full\.",\n', message)
    assert re.search(r'\n +\+ +"content": "\[step s2\] Refund order 42 in FULL please\.",\n',
                     message)
    assert "tools" not in miss.diff  # only the changed neighbourhood is shown


def test_replay_serves_repeats_in_recorded_order(tmp_path: Path) -> None:
    req = step_request()
    body = {"model": req.model, "messages": list(req.messages), "max_tokens": req.max_tokens,
            "system": req.system, "tools": list(req.tools)}
    canonical = canonical_from_body(body)

    def answer(text: str, status: int = 200) -> Interaction:
        payload = ({"type": "error", "error": {"type": "overloaded_error", "message": "x"}}
                   if status != 200 else
                   {"id": "m", "type": "message", "role": "assistant", "model": req.model,
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                    "usage": {"input_tokens": 1, "output_tokens": 1}})
        return Interaction(hash=request_hash(body), request=canonical,
                           response=RecordedResponse(status=status, body=payload))

    path = tmp_path / "r.json"
    save_cassette(Cassette(interactions=[answer("", 529), answer("first"), answer("second")]), path)
    client = make_client("replay", cassette=path)
    from harness.errors import ModelError

    with pytest.raises(ModelError) as info:
        run(client.complete(req))
    assert info.value.kind == "overloaded"
    assert [run(client.complete(req)).text() for _ in range(3)] == ["first", "second", "second"]


def test_edited_or_broken_cassettes_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    run(make_client("simulated", reference=REFERENCE, record_to=path).complete(step_request()))
    data = json.loads(path.read_text())
    data["interactions"][0]["request"]["max_tokens"] = 1
    with pytest.raises(ConfigError, match=r"interactions\.0\.hash"):
        parse_cassette(json.dumps(data), origin="c.json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_cassette("{", origin="c.json")
    with pytest.raises(UsageError, match="no cassette"):
        make_client("replay", cassette=tmp_path / "missing.json")
    with pytest.raises(UsageError, match="needs a cassette"):
        make_client("replay")


def test_live_calls_are_refused_in_tests_and_need_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):
        make_client("live")
    client = make_client("live", api_key=FAKE_KEY, base_url="http://127.0.0.1:9")
    with pytest.raises(LiveCallsForbidden, match="live model calls are disabled"):
        run(client.complete(step_request()))
    with pytest.raises(UsageError, match="unknown transport"):
        make_client("carrier-pigeon")  # type: ignore[arg-type]


# -- properties ---------------------------------------------------------------------------

_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                       st.text(max_size=12))
_json = st.recursive(_json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12)


def _shuffled(value: Any, data: st.DataObject) -> Any:
    if isinstance(value, dict):
        keys = data.draw(st.permutations(list(value)))
        return {k: _shuffled(value[k], data) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, data) for v in value]
    return value


@settings(max_examples=60, deadline=None)
@given(tool_input=st.dictionaries(st.text(max_size=8), _json, max_size=4),
       text=st.text(max_size=40), data=st.data())
def test_hash_is_stable_under_key_order(tool_input: dict[str, Any], text: str,
                                        data: st.DataObject) -> None:
    messages = [{"role": "user", "content": text},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t", "name": "n", "input": tool_input}]}]
    body = {"model": "claude-haiku-4-5", "max_tokens": 100, "system": "s", "messages": messages}
    assert request_hash(_shuffled(body, data)) == request_hash(body)
    req = ModelRequest(model="claude-haiku-4-5", max_tokens=100, system="s",
                       messages=tuple(messages))
    assert request_hash(req) == request_hash(body)


@settings(max_examples=40, deadline=None)
@given(bodies=st.lists(st.tuples(st.text(max_size=20), st.integers(1, 4096), _json),
                       min_size=0, max_size=5))
def test_cassette_round_trips(tmp_path_factory: pytest.TempPathFactory,
                              bodies: list[tuple[str, int, Any]]) -> None:
    interactions = []
    for text, max_tokens, payload in bodies:
        body = {"model": "m", "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": text}]}
        interactions.append(Interaction(hash=request_hash(body), request=canonical_from_body(body),
                                        response=RecordedResponse(status=200, body=payload)))
    cassette = Cassette(interactions=interactions)
    path = tmp_path_factory.mktemp("rt") / "c.json"
    save_cassette(cassette, path)
    assert load_cassette(path) == cassette
    assert canonical_json(json.loads(path.read_text())) == canonical_json(
        json.loads(cassette.to_json()))
