"""Run (or resume) the crash agent in a process of its own; optionally SIGKILL it at record k.

    python tests/crash_worker.py run LOG LEDGER [--kill-at K]
    python tests/crash_worker.py resume LOG LEDGER

With ``--kill-at K`` the crash hook sends this very process SIGKILL just before record K
is appended: no ``finally``, no flush, no atexit; whatever SQLite had not committed is
gone, exactly as when the machine's OOM killer or a power-cut-free ``kill -9`` strikes.
A run that finishes prints one JSON line: the final context and a few counters.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from crash_agent import RUN_ID, Agent


def _kill_at(k: int):  # type: ignore[no-untyped-def]
    def hook(seq: int, kind: str) -> None:
        if seq == k:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["run", "resume"])
    p.add_argument("log", type=Path)
    p.add_argument("ledger", type=Path)
    p.add_argument("--kill-at", type=int, default=None)
    args = p.parse_args(argv)
    hook = _kill_at(args.kill_at) if args.kill_at is not None else None
    agent = Agent(args.log, args.ledger, crash_hook=hook)
    result = agent.run() if args.mode == "run" else agent.resume()
    print(json.dumps({
        "run_id": RUN_ID,
        "records": result.records,
        "resumed": result.resumed,
        "replays": agent.seen.replays,
        "model_calls": agent.driver.model.calls,  # type: ignore[attr-defined]
        "context": result.context.model_dump(mode="json"),
    }, sort_keys=True))
    agent.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
