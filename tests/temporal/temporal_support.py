"""Helpers of the Temporal backend's tests: worker processes started as a user starts them
(``harness worker``), the same worker in the test's own process, and the ``harness``
command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.client import Client

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: the test worlds (``ledger_world``) are imported by module name, by workers and runs alike
ENV = {**os.environ, "PYTHONHASHSEED": "0",
       "PYTHONPATH": os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH"))
                                     if p)}


def start_worker(address: str, queue: str, log: Path, *extra: str | Path
                 ) -> subprocess.Popen[bytes]:
    """``harness worker`` in its own process (and session, so a test may SIGKILL it)."""
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "worker", "--temporal-address", address,
         "--task-queue", queue, *map(str, extra)], cwd=ROOT, env=ENV, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True)
    out.close()
    return proc


def wait_ready(proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if "harness worker: ready" in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise AssertionError(f"the worker was not ready in {timeout_s}s: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def harness_cmd(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=timeout)


@dataclass(frozen=True)
class Server:
    """Where the session's Temporal server listens."""

    address: str


@asynccontextmanager
async def worker_in_process(client: Client, queue: str,
                            timeout_s: float = 60.0) -> AsyncIterator[None]:
    """The worker ``harness worker`` runs (``serve_on``: the shared queue and its own), in
    this process and on ``client``: a test environment's client, whose server the worker
    must poll (a time-skipping server is reachable only through it)."""
    from harness.temporal._worker import serve_on

    stop, ready = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(serve_on(client, queue, stop, ready=ready.set))
    try:
        started = asyncio.create_task(ready.wait())
        await asyncio.wait({serving, started}, timeout=timeout_s,
                           return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if serving.done():
            serving.result()  # the worker failed to start: its error
        if not ready.is_set():
            raise AssertionError(f"the in-process worker was not ready in {timeout_s}s")
        yield
    finally:
        stop.set()
        await asyncio.wait_for(serving, timeout_s)


async def workflow_runs(address: str, out: Path) -> dict[str, int]:
    """Workflow runs on the server per trial of the run folder ``out`` (a trial that
    continued as new has several)."""
    import json

    from harness.temporal._connect import connect

    if not (out / "temporal.json").exists():
        return {}
    client = await connect(address, "default")
    uid = json.loads((out / "temporal.json").read_text())["run_uid"]
    runs: dict[str, int] = {}
    async for wf in client.list_workflows(f'WorkflowId STARTS_WITH "{uid}/"'):
        runs[wf.id] = runs.get(wf.id, 0) + 1
    return runs
