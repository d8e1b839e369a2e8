"""The public surface: ``import harness`` gives one flat, documented ``__all__``, cheaply;
and ``@harness.tool`` makes a tool of a plain function, sync or async, with a pydantic
input model or typed parameters, that runs through the same ``ToolRegistry`` as every
bundled tool.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

import harness
from harness import protocols
from harness.core import RunTool
from harness.driver import VirtualClock
from harness.errors import UsageError


def test_all_is_flat_sorted_and_every_name_resolves() -> None:
    assert harness.__all__ == sorted(set(harness.__all__))
    for name in harness.__all__:
        obj = getattr(harness, name)
        module = getattr(obj, "__module__", "")
        assert module.startswith("harness"), (name, module)
    assert set(harness.__all__) <= set(dir(harness))
    with pytest.raises(AttributeError):
        harness.Machine  # noqa: B018  (private: not part of the surface)


def test_world_is_defined_once() -> None:
    from fakes.worlds import SupportWorld, World

    assert harness.World is protocols.World is World
    assert issubclass(SupportWorld, harness.World)


def test_importing_harness_imports_nothing_heavy() -> None:
    code = ("import sys, harness; heavy = [m for m in ('anthropic', 'harness.runner', "
            "'harness.core', 'opentelemetry') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def run(t: harness.Tool, given: dict[str, Any], key: str | None = None) -> Any:
    import asyncio

    eff = RunTool(effect_id="e1", agent="a", call_id="c1", tool=t.name, input=given,
                  idempotency_key=key)
    return asyncio.run(harness.ToolRegistry([t]).run(eff, run_id="r", clock=VirtualClock()))


def test_typed_parameters_make_the_input_model() -> None:
    @harness.tool
    def find(order_id: str, limit: int = 5) -> dict[str, Any]:
        """Find an order."""
        return {"order_id": order_id, "limit": limit}

    info = find.info()
    assert info.description == "Find an order."
    assert info.input_schema["required"] == ["order_id"]
    assert info.input_schema["properties"]["limit"]["default"] == 5
    assert info.input_schema["additionalProperties"] is False
    assert not info.side_effecting and not info.affects_production
    assert run(find, {"order_id": "A1"}) == ({"order_id": "A1", "limit": 5}, False, None)
    _, is_error, kind = run(find, {"order_id": "A1", "limt": 2})
    assert is_error and kind == "invalid_input"


def test_an_async_side_effecting_tool_gets_its_idempotency_key() -> None:
    seen: list[str | None] = []

    @harness.tool(side_effecting=True, affects_production=True)
    async def charge(amount: float = Field(gt=0), *, idempotency_key: str | None) -> str:
        seen.append(idempotency_key)
        return "charged"

    info = charge.info()
    assert info.side_effecting and info.affects_production and info.accepts_idempotency_key
    assert run(charge, {"amount": 3.5}, key="r:e1") == ("charged", False, None)
    assert seen == ["r:e1"]
    assert run(charge, {"amount": -1})[2] == "invalid_input"


def test_a_side_effecting_tool_that_cannot_take_a_key_says_so() -> None:
    @harness.tool(side_effecting=True)
    def fire(target: str) -> str:
        return target

    @harness.tool(side_effecting=True)
    def fire_ctx(target: str, ctx: harness.ToolContext) -> str | None:
        return ctx.idempotency_key

    assert not fire.info().accepts_idempotency_key  # a crash mid-call escalates, never reruns
    assert fire_ctx.info().accepts_idempotency_key
    assert run(fire_ctx, {"target": "x"}, key="k") == ("k", False, None)


class Query(BaseModel):
    text: str


def test_an_input_model_as_the_only_parameter() -> None:
    @harness.tool(name="search")
    def search(args: Query) -> list[str]:
        return [args.text]

    assert search.input_model is Query
    assert run(search, {"text": "mugs"}) == (["mugs"], False, None)


class _Thing:
    pass


@pytest.mark.parametrize("fn, says", [
    (lambda *args: None, "cannot be part of an input schema"),
    (lambda x: None, "has no type annotation"),
    (_Thing, "a tool is a function"),
])
def test_declaring_a_tool_wrongly_is_a_usage_error(fn: Any, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        harness.tool(fn)


def test_a_type_pydantic_cannot_describe_is_refused_when_declared() -> None:
    def adjust(widget: _Thing) -> None:
        return None

    with pytest.raises(UsageError, match="input model cannot be built") as err:
        harness.tool(adjust)
    assert "\n" not in str(err.value)


@harness.tool
async def echo(name: str, count: int, tags: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "count": count, "tags": tags}


@settings(max_examples=50, deadline=None)
@given(st.text(), st.integers(-(10**9), 10**9), st.none() | st.lists(st.text(), max_size=3))
def test_a_typed_tool_receives_exactly_what_the_model_sent(
        name: str, count: int, tags: list[str] | None) -> None:
    given_input: dict[str, Any] = {"name": name, "count": count}
    if tags is not None:
        given_input["tags"] = tags
    assert run(echo, given_input) == ({"name": name, "count": count, "tags": tags}, False, None)
