"""Tools: the schema comes from the pydantic input model, bad input and raising tools become
error results, and side-effecting tools get an idempotency key the ledger honours."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import Script, arun, make_config, model, plan_step, run_agent
from pydantic import BaseModel, Field

from fakes.ledger import Ledger, ledger_tools
from fakes.scripted import Call
from harness.core import RunTool
from harness.driver import VirtualClock
from harness.errors import ToolError, UsageError
from harness.tools import ToolContext, ToolRegistry, tool


class Refund(BaseModel):
    order_id: str = Field(description="The order to refund.")
    amount: float = Field(gt=0)
    reason: str = "customer request"


class Receipt(BaseModel):
    order_id: str
    refunded: float


class Empty(BaseModel):
    pass


class Wait(BaseModel):
    seconds: float


class Note(BaseModel):
    text: str


class Query(BaseModel):
    query: str


@tool(side_effecting=True, affects_production=True)
def refund(args: Refund, ctx: ToolContext) -> Receipt:
    """Refund an order."""
    return Receipt(order_id=args.order_id, refunded=args.amount)


def call(name: str, input: dict[str, Any], *, key: str | None = None,
         timeout_s: float | None = None, effect_id: str = "s1#3") -> RunTool:
    return RunTool(effect_id=effect_id, agent="s1", call_id="c1", tool=name, input=input,
                   idempotency_key=key, timeout_s=timeout_s)


def run_tool(registry: ToolRegistry, eff: RunTool, clock: Any = None) -> tuple[Any, bool, str | None]:
    return arun(registry.run(eff, run_id="r1", clock=clock or VirtualClock()))


def test_the_schema_comes_from_the_input_model() -> None:
    info = refund.info()
    expected = Refund.model_json_schema()
    expected.pop("title")
    assert info.input_schema == expected
    assert info.input_schema["required"] == ["order_id", "amount"]
    assert info.input_schema["properties"]["amount"]["exclusiveMinimum"] == 0
    assert info.name == "refund" and info.description == "Refund an order."
    assert info.side_effecting and info.affects_production
    assert info.api_schema() == {"name": "refund", "description": "Refund an order.",
                                 "input_schema": expected}


@pytest.mark.parametrize(("bad", "where"), [
    ({"amount": 5}, "order_id"),
    ({"order_id": "42", "amount": -1}, "amount"),
    ({"order_id": "42", "amount": "lots"}, "amount"),
])
def test_invalid_input_is_an_error_result_not_an_exception(bad: dict[str, Any], where: str) -> None:
    out, is_error, kind = run_tool(ToolRegistry([refund]), call("refund", bad))
    assert is_error and kind == "invalid_input"
    assert out["error"].startswith("invalid input: " + where)


def test_valid_input_runs_and_a_model_result_becomes_json() -> None:
    out, is_error, kind = run_tool(ToolRegistry([refund]),
                                   call("refund", {"order_id": "42", "amount": 9.5}))
    assert (out, is_error, kind) == ({"order_id": "42", "refunded": 9.5}, False, None)


def test_a_raising_tool_is_an_error_result() -> None:
    @tool()
    def crashes(args: Empty, ctx: ToolContext) -> None:
        raise KeyError("no such row")

    @tool()
    def refuses(args: Empty, ctx: ToolContext) -> None:
        raise ToolError("refuses", "rate limited by the backend", kind="timeout")

    registry = ToolRegistry([crashes, refuses])
    out, is_error, kind = run_tool(registry, call("crashes", {}))
    assert is_error and kind == "tool_error" and "KeyError" in out["error"]
    out, is_error, kind = run_tool(registry, call("refuses", {}))
    assert is_error and kind == "timeout" and "rate limited" in out["error"]
    out, is_error, kind = run_tool(registry, call("nothing", {}))
    assert is_error and kind == "unknown_tool"


def test_an_async_tool_that_outlives_its_timeout_is_an_error_result() -> None:
    @tool()
    async def sleepy(args: Wait, ctx: ToolContext) -> str:
        await ctx.clock.sleep(args.seconds)
        return "woke"

    registry = ToolRegistry([sleepy])
    assert run_tool(registry, call("sleepy", {"seconds": 1}, timeout_s=5)) == ("woke", False, None)
    out, is_error, kind = run_tool(registry, call("sleepy", {"seconds": 9}, timeout_s=5))
    assert is_error and kind == "timeout" and "timed out" in out["error"]


def test_declaring_tools_wrongly_is_a_usage_error() -> None:
    def untyped(args, ctx):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(UsageError):
        tool()(untyped)
    with pytest.raises(UsageError):
        ToolRegistry([refund, refund])
    with pytest.raises(UsageError):
        ToolRegistry([refund]).get("missing")


def test_bad_input_from_the_model_reaches_the_model_as_an_error() -> None:
    script = Script(plans=[[plan_step("s1", "research")]],
                    steps={"s1": [[Call("lookup", {"query": 3})], "retried"]})
    ran = run_agent(make_config(), model(script))
    assert ran.result.outcome == "done"
    block = script.of("act", "s1")[1].messages[-1]["content"][0]
    assert block["is_error"] and "invalid input: query" in block["content"]
    [returned] = [e for e in ran.events if e.kind == "tool_returned"]
    assert returned.is_error and returned.error_kind == "invalid_input"


def test_side_effecting_tools_get_a_key_from_run_and_effect() -> None:
    ledger = Ledger()
    seen: list[tuple[str, str | None]] = []

    @tool(name="record", side_effecting=True)
    def record(args: Note, ctx: ToolContext) -> dict[str, Any]:
        seen.append(("record", ctx.idempotency_key))
        return ledger.execute("record", args.model_dump(), ctx.idempotency_key)

    @tool(name="lookup")
    def lookup(args: Query, ctx: ToolContext) -> str:
        seen.append(("lookup", ctx.idempotency_key))
        return "facts"

    script = Script(plans=[[plan_step("s1", "code"), plan_step("s2", "research")]],
                    steps={"s1": [[Call("record", {"text": "a"})], [Call("record", {"text": "b"})]],
                           "s2": [[Call("lookup", {"query": "q"})]]})
    ran = run_agent(make_config(), model(script), tools=ToolRegistry([record, lookup]),
                    run_id="run-key")
    issued = [e for e in ran.effects() if isinstance(e, RunTool) and e.tool == "record"]
    keys = [k for name, k in seen if name == "record"]
    assert keys == [f"run-key:{e.effect_id}" for e in issued]
    assert len(set(keys)) == 2 and len(ledger.executions()) == 2
    assert [k for name, k in seen if name == "lookup"] == [None]
    # the intent logged before each call carries the same key
    assert sorted(i["idempotency_key"] for i in ran.intents.values()) == sorted(keys)


def test_the_ledger_honours_idempotency_keys() -> None:
    ledger = Ledger()
    registry = ToolRegistry(ledger_tools(ledger))
    eff = call("record", {"text": "pay 10"}, key="r1:s1#3")
    first, _, _ = run_tool(registry, eff)
    again, _, _ = run_tool(registry, eff)
    assert again == first, "asked again with the same key, the world answers the same"
    assert ledger.executions() == [("record", '{"text": "pay 10"}')] and ledger.replays == 1
    other, _, _ = run_tool(registry, call("record", {"text": "pay 10"}, key="r1:s1#4"))
    assert other["receipt"] != first["receipt"] and len(ledger.executions()) == 2


def test_tools_run_concurrently_are_each_run_once() -> None:
    ledger = Ledger()
    registry = ToolRegistry(ledger_tools(ledger))

    async def both() -> None:
        clock = VirtualClock()
        await asyncio.gather(*(registry.run(call("record", {"text": str(i)}, key=f"k{i % 2}"),
                                            run_id="r", clock=clock) for i in range(4)))

    arun(both())
    assert len(ledger.executions()) == 2
