"""A side-effect ledger: a world that honours idempotency keys and counts real executions.

Backed by a SQLite file so that it outlives a process killed with SIGKILL, like a
real payment or email API would. ``execute`` with a key it has seen answers from
the ledger instead of acting again, with the very same response (as an idempotent
API does, so a resumed run cannot tell); ``executions`` counts the times it really
acted and ``replays`` the times it answered from the ledger.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness.tools import Tool, ToolContext, tool

__test__ = False


class Ledger:
    def __init__(self, path: str | Path = ":memory:") -> None:
        self.replays = 0
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS acts (n INTEGER PRIMARY KEY AUTOINCREMENT, "
            "key TEXT UNIQUE, action TEXT NOT NULL, payload TEXT NOT NULL)"
        )

    def execute(self, action: str, payload: dict[str, Any], key: str | None) -> dict[str, Any]:
        if key is not None:
            row = self._db.execute("SELECT n FROM acts WHERE key=?", (key,)).fetchone()
            if row is not None:
                self.replays += 1
                return {"ok": True, "receipt": row[0]}
        cur = self._db.execute("INSERT INTO acts (key, action, payload) VALUES (?, ?, ?)",
                               (key, action, json.dumps(payload, sort_keys=True)))
        return {"ok": True, "receipt": cur.lastrowid}

    def executions(self) -> list[tuple[str, str]]:
        return [(str(a), str(p)) for a, p in
                self._db.execute("SELECT action, payload FROM acts ORDER BY n")]

    def close(self) -> None:
        self._db.close()


class Note(BaseModel):
    text: str


class Lookup(BaseModel):
    query: str


def ledger_tools(ledger: Ledger) -> list[Tool]:
    """A read tool, a side-effecting tool, and a production-affecting one."""

    @tool(name="lookup", description="Look something up (no side effects).")
    def lookup(args: Lookup, ctx: ToolContext) -> dict[str, Any]:
        return {"query": args.query, "found": f"facts about {args.query}"}

    @tool(name="record", description="Write a note to the ledger.", side_effecting=True)
    def record(args: Note, ctx: ToolContext) -> dict[str, Any]:
        return ledger.execute("record", args.model_dump(), ctx.idempotency_key)

    @tool(name="deploy", description="Deploy to production.", side_effecting=True,
          affects_production=True)
    def deploy(args: Note, ctx: ToolContext) -> dict[str, Any]:
        return ledger.execute("deploy", args.model_dump(), ctx.idempotency_key)

    return [lookup, record, deploy]
