"""A world whose side effects live outside any worker process: a ledger file, appended
once per idempotency key, as a payment API's would be. Killing a worker cannot roll it
back, so the file shows whether a side effect happened once, twice or never.

``settle`` waits, really, the first time it is called while ``gate`` names a file that
does not exist yet (it makes the file first): a test kills the worker inside it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import harness

__test__ = False


class OrderRef(harness.Input):
    order_id: str


class ServiceRef(harness.Input):
    service: str


class Empty(harness.Input):
    pass


class LedgerWorld(harness.World):
    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        state = dict(initial or {})
        self.ledger = Path(state["ledger"])
        self.gate = Path(state["gate"]) if state.get("gate") else None

    def entries(self) -> dict[str, dict[str, Any]]:
        if not self.ledger.exists():
            return {}
        rows = [json.loads(line) for line in self.ledger.read_text().splitlines() if line]
        return {r["key"]: r for r in rows}

    def _once(self, key: str | None, entry: dict[str, Any]) -> dict[str, Any]:
        if key is None:
            raise harness.ToolError(entry["tool"], "a side effect came without a key")
        seen = self.entries().get(key)
        if seen is not None:
            return {"receipt": key[-8:], "replayed": True}
        with self.ledger.open("a") as f:
            f.write(json.dumps({"key": key, **entry}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return {"receipt": key[-8:], "replayed": False}

    def snapshot(self) -> dict[str, Any]:
        charges: dict[str, int] = {}
        restarts = 0
        for e in self.entries().values():
            if e["tool"] == "charge":
                charges[e["order_id"]] = charges.get(e["order_id"], 0) + 1
            else:
                restarts += 1
        return {"charges": charges, "restarts": restarts}

    def tools(self) -> list[harness.Tool]:
        @harness.tool(description="Charge an order.", side_effecting=True)
        async def charge(args: OrderRef, ctx: harness.ToolContext) -> dict[str, Any]:
            return self._once(ctx.idempotency_key, {"tool": "charge", "order_id": args.order_id})

        @harness.tool(description="Restart a production service.", side_effecting=True,
                      affects_production=True)
        async def restart_service(args: ServiceRef, ctx: harness.ToolContext) -> dict[str, Any]:
            return self._once(ctx.idempotency_key,
                              {"tool": "restart_service", "service": args.service})

        @harness.tool(description="Wait for the bank to settle the charges.")
        async def settle(args: Empty, ctx: harness.ToolContext) -> dict[str, Any]:
            if self.gate is not None and not self.gate.exists():
                self.gate.write_text("in settle\n")
                await asyncio.sleep(3600)  # the test kills this worker here
            return {"settled": True}

        return [charge, restart_service, settle]


SCENARIO = """\
name: {name}
suite: temporal
task: Charge orders O1 and O2, once each{restart_task}.
agent:
  orchestrator:
    mode: direct
    model: claude-haiku-4-5
  roles:
    - name: agent
      model: claude-haiku-4-5
      tools: [charge, settle, restart_service]
      max_tokens: 1024
      max_turns: 12
  verification_role: null{escalation}
world:
  kind: ledger_world:LedgerWorld
  state:
    ledger: {ledger}
    gate: {gate}
model_profiles: ['ledger_world:STEADY']
reference:
  steps:
    - id: s1
      role: agent
      instruction: Charge O1, wait for settlement, charge O2{restart_task}.
      tool_calls:
        - {{tool: charge, input: {{order_id: O1}}}}
        - {{tool: settle, input: {{}}}}
        - {{tool: charge, input: {{order_id: O2}}}}{restart_call}
  answer: O1 and O2 are charged.
goals:
  world:
    - {{path: charges.O1, equals: 1}}
    - {{path: charges.O2, equals: 1}}
human:
  policy: {human}
trials: 1
"""


def scenario(folder: Path, name: str, *, gate: bool = False, restart: bool = False,
             human: str = "scripted", approval_timeout_s: float | None = None) -> Path:
    """A scenario on this world, its ledger (and gate) beside it; ``approval_timeout_s``:
    how long a request for a person waits before its default applies."""
    folder.mkdir(parents=True, exist_ok=True)
    text = SCENARIO.format(
        name=name, ledger=folder / "ledger.jsonl", gate=(folder / "gate") if gate else "null",
        human=human,
        escalation="" if approval_timeout_s is None
        else f"\n  escalation:\n    timeout_s: {approval_timeout_s:g}",
        restart_task=", then restart the billing service" if restart else "",
        restart_call="\n        - {tool: restart_service, input: {service: billing}}"
        if restart else "")
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


from harness.llm import PROFILES  # noqa: E402

STEADY = PROFILES["claude-haiku-4-5"].model_copy(update={
    "model": "claude-haiku-4-5", "skill": 1.0, "loop_tendency": 0.0, "premature_end": 0.0,
    "replan_tendency": 0.0, "plan_error": 0.0, "false_done": 0.0,
    "injection_susceptibility": 0.0})
"""A simulated Haiku that follows the reference exactly."""
