"""``harness worker``: one worker process, serving trials until it is stopped.

Start any number, on any number of machines, against the same server, namespace and
task queue: Temporal hands each a share of the trials. Each process polls two queues:
the shared one (trial workflows, and the opening of a trial's session) and one of its
own (the effects of the trials whose worlds it holds).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from harness.temporal._activities import Sessions
from harness.temporal._connect import connect
from harness.temporal._payloads import check_store, default_store
from harness.temporal._versioning import build_id
from harness.temporal._workflow import TrialWorkflow

_POLLS = 16
"""Long polls kept open per queue: a trial's effects are short round trips, one after
another, so the pollers (not the CPU) bound a worker's rate; the SDK's default is 5."""


def workflow_runner() -> SandboxedWorkflowRunner:
    """Temporal's sandbox, with the pure core (and pydantic, which it is built on) passed
    through: the core is checked to import no I/O, clock or randomness, and loading it
    once per process rather than once per workflow keeps replays cheap."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default
                                   .with_passthrough_modules("harness", "pydantic",
                                                             "pydantic_core"))


async def serve(address: str, namespace: str, task_queue: str, *,
                connect_timeout_s: float = 10.0, ready: Callable[[], None] | None = None,
                payload_store: Path | None = None) -> None:
    client = await connect(address, namespace, connect_timeout_s, payload_store=payload_store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_on(client, task_queue, stop, ready=ready)


async def serve_on(client: Client, task_queue: str, stop: asyncio.Event, *,
                   ready: Callable[[], None] | None = None) -> None:
    """Serve ``task_queue`` through ``client`` until ``stop`` is set."""
    own = f"{task_queue}@{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    sessions = Sessions(own)
    # the shared queue's worker runs the trials' workflows, opens sessions for any worker,
    # and performs the effects of trials whose workflow tasks it runs (local activities)
    shared = Worker(client, task_queue=task_queue, workflows=[TrialWorkflow],
                    activities=[sessions.open_session, sessions.perform, sessions.finish],
                    workflow_runner=workflow_runner(),
                    build_id=build_id(), max_concurrent_activities=64,
                    max_concurrent_workflow_task_polls=_POLLS)
    mine = Worker(client, task_queue=own, activities=[sessions.perform, sessions.finish],
                  build_id=build_id(), max_concurrent_activities=256,
                  max_concurrent_activity_task_polls=_POLLS)
    async with shared, mine:
        if ready is not None:
            ready()
        await stop.wait()


def worker_main(address: str, namespace: str, task_queue: str,
                payload_store: Path | None = None) -> int:
    store = check_store(payload_store or default_store())
    print(f"harness worker: serving {namespace}/{task_queue} at {address} "
          f"(build {build_id()}, payload store {store})", flush=True)
    asyncio.run(serve(address, namespace, task_queue, payload_store=store,
                      ready=lambda: print("harness worker: ready", flush=True)))
    return 0
