"""The agent the crash tests kill: shared by ``test_crash_resume.py`` and ``crash_worker.py``.

Four plan steps over three roles: research, code and communication start in
parallel (the code step records twice, once next to a read-only lookup, then
asks a human before a production ``deploy``), and a final communication step
joins all three. Verification runs before ``done``. Everything runs on a
``VirtualClock`` with model and human latency, a SQLite event log and a
file-backed ``Ledger``, so a run can be killed at any record and resumed by a
process that knows nothing but the two file paths. With ``notify=True`` the
communication step that drafts the announcement first pages on-call through
``notify``, a side effect whose API cannot take an idempotency key.

The side-effecting tools answer like a real idempotent API: a repeated key gets
the *same* response as the first call; how often the ledger answered from its
records is counted in ``Recorded.replays``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakes.human import ScriptedHuman
from fakes.ledger import Ledger, Lookup, Note
from fakes.scripted import Call, ScriptedModel
from harness.core import (
    AgentConfig,
    EscalationRules,
    HumanRequest,
    OrchestratorConfig,
    PlanStep,
    RoleConfig,
    RunLimits,
)
from harness.demo import DEMO_PRICES
from harness.driver import Crash, Driver, Human, HumanDecision, RunResult, VirtualClock
from harness.protocols import Clock
from harness.store import Record, SQLiteRecorder
from harness.tools import Tool, ToolContext, ToolRegistry, tool

__test__ = False

RUN_ID = "crash-1"
TASK = "Ship v2: record the fix, deploy it, and tell the team"
HAIKU = "claude-haiku-4-5"
SONNET = "claude-sonnet-4-5"
PRICES = DEMO_PRICES  # the demo's price list: one per model the test agents use
ANSWER = "v2 is deployed, recorded and announced; it fixes the login bug"


@dataclass
class Recorded:
    """What the tools saw in this process (the Ledger file holds the truth across processes)."""

    replays: int = 0
    notify_runs: list[str] = field(default_factory=list)


def crash_tools(ledger: Ledger, seen: Recorded) -> list[Tool]:
    """``lookup`` (read-only), ``record`` and ``deploy`` (keyed side effects), and
    ``notify``: a side effect through an API that cannot take an idempotency key."""

    def act(action: str, args: Note, ctx: ToolContext) -> dict[str, Any]:
        before = ledger.replays
        out = ledger.execute(action, args.model_dump(), ctx.idempotency_key)
        seen.replays += ledger.replays - before
        return {"ok": out["ok"], "receipt": out["receipt"]}

    @tool(name="lookup", description="Look something up (no side effects).")
    async def lookup(args: Lookup, ctx: ToolContext) -> dict[str, Any]:
        await ctx.clock.sleep(0.4)
        return {"query": args.query, "found": f"facts about {args.query}"}

    @tool(name="record", description="Write a note to the ledger.", side_effecting=True)
    async def record(args: Note, ctx: ToolContext) -> dict[str, Any]:
        await ctx.clock.sleep(0.25)
        return act("record", args, ctx)

    @tool(name="deploy", description="Deploy to production.", side_effecting=True,
          affects_production=True)
    async def deploy(args: Note, ctx: ToolContext) -> dict[str, Any]:
        await ctx.clock.sleep(2.0)
        return act("deploy", args, ctx)

    @tool(name="notify", description="Page the on-call engineer (no idempotency keys).",
          side_effecting=True, accepts_idempotency_key=False)
    async def notify(args: Note, ctx: ToolContext) -> dict[str, Any]:
        await ctx.clock.sleep(0.5)
        seen.notify_runs.append(args.text)
        # the API takes no key: every call acts again, whatever key the runtime holds
        out = ledger.execute("notify", args.model_dump(), None)
        return {"ok": out["ok"], "paged": args.text}

    return [lookup, record, deploy, notify]


def config(tools: ToolRegistry, *, notify: bool = False) -> AgentConfig:
    comm_tools: tuple[str, ...] = ("record", "notify") if notify else ("record",)
    return AgentConfig(
        name="crash-agent",
        orchestrator=OrchestratorConfig(model=SONNET),
        roles=(
            RoleConfig(name="research", model=HAIKU, tools=("lookup",), budget_share=0.5,
                       description="finds facts", system_prompt="You research."),
            RoleConfig(name="code", model=SONNET, tools=("lookup", "record", "deploy"),
                       description="changes code and deploys", system_prompt="You code."),
            RoleConfig(name="communication", model=HAIKU, tools=comm_tools,
                       description="writes messages", system_prompt="You write."),
            RoleConfig(name="verification", model=SONNET, description="checks the answer"),
        ),
        tools=tools.infos(),
        limits=RunLimits(llm_calls=60, tool_calls=40, tokens_in=400_000, tokens_out=80_000,
                         wall_time_s=7200, cost_usd=5.0),
        escalation=EscalationRules(),
        prices=PRICES,
    )


def model(clock: VirtualClock, *, notify: bool = False) -> ScriptedModel:
    draft: list[list[Call] | str] = [
        [Call("record", {"text": "draft: v2 announcement"})], "draft ready"]
    if notify:
        draft = [[Call("notify", {"text": "v2 is coming"})], *draft]
    return ScriptedModel(
        plan=[
            PlanStep(id="s1", role="research", instruction="Find the release notes for v2"),
            PlanStep(id="s2", role="code", instruction="Record the fix and deploy v2"),
            PlanStep(id="s3", role="communication", instruction="Draft the announcement"),
            PlanStep(id="s4", role="communication", instruction="Announce v2",
                     depends_on=("s1", "s2", "s3")),
        ],
        steps={
            "s1": [[Call("lookup", {"query": "v2 release notes"}),
                    Call("lookup", {"query": "v2 known issues"})],
                   "v2 fixes the login bug; no known issues"],
            "s2": [[Call("record", {"text": "fix login"})],
                   [Call("record", {"text": "changelog: v2"}),
                    Call("lookup", {"query": "deploy checklist"})],
                   [Call("deploy", {"text": "v2"})],
                   "v2 deployed"],
            "s3": draft,
            "s4": [[Call("record", {"text": "announcement: v2 is out, login fixed"})],
                   "announced"],
        },
        answer=ANSWER,
        latency_s=1.5,
        clock=clock,
    )


class Agent:
    """Everything one process needs to run or resume the agent against two files."""

    def __init__(self, log: Path, ledger_path: Path, *, notify: bool = False,
                 human: Human | None = None, crash_hook: Any = None) -> None:
        self.clock = VirtualClock()
        self.ledger = Ledger(ledger_path)
        self.seen = Recorded()
        self.tools = ToolRegistry(crash_tools(self.ledger, self.seen))
        self.notify = notify
        self.recorder = SQLiteRecorder(log)
        self.human = human or ScriptedHuman("approve", latency_s=20)
        self.driver = Driver(model=model(self.clock, notify=notify), tools=self.tools,
                             recorder=self.recorder, clock=self.clock, human=self.human,
                             crash_hook=crash_hook)

    def run(self) -> RunResult:
        return asyncio.run(self.driver.run(config(self.tools, notify=self.notify), TASK,
                                           run_id=RUN_ID))

    def resume(self) -> RunResult:
        return asyncio.run(self.driver.resume(RUN_ID))

    def crash(self) -> None:
        """What a killed process leaves behind: nothing that was not committed."""
        self.recorder.abandon()
        self.ledger.close()

    def close(self) -> None:
        self.recorder.close()
        self.ledger.close()


def crash_at(k: int) -> Any:
    """A crash hook that drops the run just before record ``k`` is appended."""

    def hook(seq: int, kind: str) -> None:
        if seq == k:
            raise Crash(f"crash before record #{k} ({kind})")

    return hook


def executions(ledger_path: Path) -> list[tuple[str, str]]:
    ledger = Ledger(ledger_path)
    try:
        return ledger.executions()
    finally:
        ledger.close()


def ledger_keys(ledger_path: Path) -> set[str]:
    """The idempotency keys the world has acted on (keyless calls leave none)."""
    db = sqlite3.connect(str(ledger_path))
    try:
        return {str(k) for (k,) in db.execute("SELECT key FROM acts WHERE key IS NOT NULL")}
    finally:
        db.close()


def committed(log: Path) -> list[Record]:
    """The records a process starting afresh finds in the log file."""
    rec = SQLiteRecorder(log)
    try:
        return rec.read_run(RUN_ID)
    finally:
        rec.close()


@dataclass
class UnknownAnswer:
    """A human who answers ``side_effect_unknown`` with ``decision`` (``timeout``: stays
    silent past the request's deadline) and approves everything else after 20 s."""

    decision: str
    edited_input: dict[str, Any] | None = None
    requests: list[HumanRequest] = field(default_factory=list)

    async def decide(self, request: HumanRequest, clock: Clock) -> HumanDecision:
        self.requests.append(request)
        if request.rule != "side_effect_unknown":
            await clock.sleep(20)
            return HumanDecision(decision="approve")
        if self.decision == "timeout":
            await clock.sleep(request.timeout_s + 1)
            return HumanDecision(decision="approve")  # too late: the driver saw a timeout
        await clock.sleep(20)
        return HumanDecision(decision=self.decision,  # type: ignore[arg-type]
                             edited_input=self.edited_input, note="decided by the test")
