"""A world whose one tool answers with a large result, deterministically: a trial on it
has payloads over the payload store's threshold (the tool's result, the model call that
reads it, the workflow's result that logs both)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import harness

__test__ = False

ROWS = 3000
"""Rows of the report: about 240 KB of JSON, well over the 128 KiB threshold and well
under the 2 MB the server refuses, so only the store can explain a passing run."""


class Empty(harness.Input):
    pass


class BulkyWorld(harness.World):
    def __init__(self, initial: Any = None) -> None:
        super().__init__()
        self.fetched = 0

    def snapshot(self) -> dict[str, Any]:
        return {"fetched": self.fetched}

    def tools(self) -> list[harness.Tool]:
        @harness.tool(description="Fetch the full audit report.")
        async def fetch_report(args: Empty, ctx: harness.ToolContext) -> dict[str, Any]:
            self.fetched += 1
            return {"rows": [f"row {i:05d} {hashlib.sha256(str(i).encode()).hexdigest()}"
                             for i in range(ROWS)]}

        return [fetch_report]


SCENARIO = """\
name: bulky-report
suite: temporal
task: Fetch the audit report.
agent:
  orchestrator:
    mode: direct
    model: claude-haiku-4-5
  roles:
    - name: agent
      model: claude-haiku-4-5
      tools: [fetch_report]
      max_tokens: 1024
      max_turns: 6
  verification_role: null
world:
  kind: bulky_world:BulkyWorld
model_profiles: ['ledger_world:STEADY']
reference:
  steps:
    - id: s1
      role: agent
      instruction: Fetch the audit report.
      tool_calls:
        - {tool: fetch_report, input: {}}
  answer: The report is fetched.
goals:
  world:
    - {path: fetched, equals: 1}
trials: 1
"""


def scenario(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bulky-report.yaml"
    path.write_text(SCENARIO)
    return path
