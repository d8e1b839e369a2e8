"""``harness demo``: one multi-role agent on the scripted model, fully offline.

Shows the runtime end to end: a plan fanned out to three roles in parallel and
joined, a side-effecting tool with an idempotency key, a production action that
waits for a (fake) human, verification before ``done``, a SQLite event log, and
OpenTelemetry spans, all in virtual time.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from harness._plugins import resolve
from harness._scripted import Call, ScriptedModel
from harness.core import (
    AgentConfig,
    EscalationRules,
    ModelPrice,
    OrchestratorConfig,
    PlanStep,
    RoleConfig,
    RunLimits,
)
from harness.driver import Driver, RunResult, VirtualClock
from harness.scenario._model import HumanSpec
from harness.store import SQLiteRecorder, decode
from harness.telemetry import RunTracer
from harness.tools import Tool, ToolRegistry, tool

HAIKU = "claude-haiku-4-5"
SONNET = "claude-sonnet-4-5"

# Demo-only prices (USD per million tokens); real runs read the dated price table.
DEMO_PRICES = (
    ModelPrice(model=HAIKU, input=1.0, output=5.0, cache_write_5m=1.25, cache_write_1h=2.0,
               cache_read=0.1),
    ModelPrice(model=SONNET, input=3.0, output=15.0, cache_write_5m=3.75, cache_write_1h=6.0,
               cache_read=0.3),
)


def demo_config(tools: ToolRegistry) -> AgentConfig:
    return AgentConfig(
        name="release-helper",
        orchestrator=OrchestratorConfig(model=SONNET),
        roles=(
            RoleConfig(name="research", model=HAIKU, tools=("lookup",), budget_share=0.5,
                       description="finds facts", system_prompt="You research."),
            RoleConfig(name="code", model=SONNET, tools=("record", "deploy"),
                       description="changes code and deploys", system_prompt="You code."),
            RoleConfig(name="communication", model=HAIKU, tools=("record",),
                       description="writes messages", system_prompt="You write."),
            RoleConfig(name="verification", model=SONNET, description="checks the answer"),
        ),
        tools=tools.infos(),
        limits=RunLimits(llm_calls=40, tool_calls=20, tokens_in=200_000, tokens_out=40_000,
                         wall_time_s=3600, cost_usd=1.0),
        escalation=EscalationRules(),
        prices=DEMO_PRICES,
    )


def demo_tools() -> list[Tool]:
    """A read tool, a side-effecting one and a production-affecting one, written as plain
    functions: the side-effecting ones act once per idempotency key, as a real API would."""
    done: dict[str, dict[str, Any]] = {}

    def act(action: str, text: str, key: str | None) -> dict[str, Any]:
        if key is not None and key in done:
            return done[key]
        receipt = {"ok": True, "action": action, "text": text, "receipt": len(done) + 1}
        if key is not None:
            done[key] = receipt
        return receipt

    @tool(description="Look something up (no side effects).")
    def lookup(query: str) -> dict[str, Any]:
        return {"query": query, "found": f"facts about {query}"}

    @tool(description="Write a note to the ledger.", side_effecting=True)
    def record(text: str, idempotency_key: str | None) -> dict[str, Any]:
        return act("record", text, idempotency_key)

    @tool(description="Deploy to production.", side_effecting=True, affects_production=True)
    def deploy(text: str, idempotency_key: str | None) -> dict[str, Any]:
        return act("deploy", text, idempotency_key)

    return [lookup, record, deploy]


def demo_model(clock: VirtualClock) -> Any:
    return ScriptedModel(
        plan=[
            PlanStep(id="s1", role="research", instruction="Find the release notes for v2"),
            PlanStep(id="s2", role="code", instruction="Record the fix and deploy v2"),
            PlanStep(id="s3", role="communication", instruction="Announce v2",
                     depends_on=("s1", "s2")),
        ],
        steps={
            "s1": [[Call("lookup", {"query": "v2 release notes"})], "v2 fixes the login bug"],
            "s2": [[Call("record", {"text": "fix login"})], [Call("deploy", {"text": "v2"})],
                   "v2 deployed"],
            "s3": [[Call("record", {"text": "v2 is out: login fixed"})], "announced"],
        },
        answer="v2 is deployed and announced; it fixes the login bug",
        latency_s=1.5,
        clock=clock,
    )


async def run_demo(db_path: Path) -> tuple[RunResult, list[Any], list[str]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    clock = VirtualClock()
    tools = ToolRegistry(demo_tools())
    person = resolve("human", "scripted")(HumanSpec(decision="approve", latency_s=20))
    recorder = SQLiteRecorder(db_path)
    driver = Driver(model=demo_model(clock), tools=tools, recorder=recorder, clock=clock,
                    human=person,
                    tracer=RunTracer(provider.get_tracer("harness")))
    result = await driver.run(demo_config(tools), "Ship v2 and tell the team", run_id="demo-1")
    events, _ = decode("demo-1", recorder.read_run("demo-1"))
    recorder.close()
    path = _state_path(events)
    return result, list(exporter.get_finished_spans()), path


def _state_path(events: list[Any]) -> list[str]:
    from harness.core import AgentContext, step

    ctx = AgentContext()
    path = [ctx.state.value]
    for ev in events:
        ctx, _ = step(ctx, ev)
        if ctx.state.value != path[-1]:
            path.append(ctx.state.value)
    return path


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result, spans, path = asyncio.run(run_demo(Path(tmp) / "demo.sqlite"))
    ctx = result.context
    assert ctx.config is not None
    print(f"run {result.run_id}: outcome={ctx.outcome} answer={ctx.answer!r}")
    print("state path: " + " -> ".join(path))
    print(f"log records: {result.records}; virtual time elapsed: {ctx.elapsed_s:.1f}s")
    print("budget used:")
    limits = ctx.config.limits
    for name in ("llm_calls", "tool_calls", "tokens_in", "tokens_out", "cost_usd"):
        used, limit = getattr(ctx.used, name), getattr(limits, name)
        shown = f"{used:.6f}" if name == "cost_usd" else str(used)
        print(f"  {name:<11} {shown:>10} / {limit}")
    print(f"  wall_time_s {ctx.elapsed_s:>10.1f} / {limits.wall_time_s}")
    print("steps:")
    for r in ctx.results:
        print(f"  {r.step_id} ({r.role}): {'ok' if r.ok else 'FAILED'} {r.output or r.error}")
    print(f"escalations: {ctx.escalations}; retries: {ctx.retries}")
    kinds = Counter(s.name.split(" ")[0] for s in spans)
    events = Counter(e.name for s in spans for e in s.events)
    print("spans: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
    print("span events: " + ", ".join(f"{k}={v}" for k, v in sorted(events.items())))
    return 0 if ctx.outcome == "done" else 1
