"""``harness run --backend temporal``: one workflow per trial, results into the run folder.

The run folder is the same as the local backend's: each finished workflow's result
becomes its line of ``trials.jsonl`` (through the runner's own ``on_result``) and its
events go into ``events.sqlite`` under the trial's log key, so reports, ``--resume``
and ``harness compare`` work unchanged. The server's history holds the same events
while the workflow lives; the run folder keeps them after it is gone.

Workflow ids are ``<run uid>/<trial run id>``, the run uid kept in the run folder's
``temporal.json``: a ``--resume`` (or a second client after this one was killed) finds
the trials already running or finished on the server instead of starting them twice.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from harness._files import write_atomic
from harness.errors import UsageError
from harness.runner._line import NOTHING_RAN, RunEnd, trial_line
from harness.runner._result import TrialResult
from harness.runner._suite import SuiteOptions
from harness.runner._trial import TrialSpec
from harness.store import SQLiteRecorder
from harness.temporal._activities import agent_version
from harness.temporal._connect import connect
from harness.temporal._options import TemporalOptions
from harness.temporal._workflow import WORKFLOW_NAME

RUN_FILE = "temporal.json"


def run_uid(out: Path, topts: TemporalOptions) -> str:
    """The run's id on the server, made once per run folder and kept for ``--resume``."""
    path = out / RUN_FILE
    if path.exists():
        return str(json.loads(path.read_text())["run_uid"])
    uid = f"harness-{uuid.uuid4().hex[:12]}"
    write_atomic(path, json.dumps({"run_uid": uid, "address": topts.address,
                                        "namespace": topts.namespace,
                                        "task_queue": topts.task_queue,
                                        "payload_store": None if topts.payload_store is None
                                        else str(topts.payload_store)}, indent=2) + "\n")
    return uid


def read_run_file(out: Path) -> dict[str, Any]:
    path = out / RUN_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{out}: not a run of the Temporal backend (no {RUN_FILE})") from None
    except (OSError, ValueError) as err:
        raise UsageError(f"{path}: unreadable ({err})") from None
    return data


def workflow_input(spec: TrialSpec, opts: SuiteOptions, topts: TemporalOptions,
                   versions: dict[Path, str]) -> dict[str, Any]:
    path = spec.scenario.path
    if path not in versions:
        versions[path] = agent_version(path)
    return {
        "run_id": spec.run_id, "scenario_path": str(path), "agent_version": versions[path],
        "model": spec.model, "profile": spec.profile, "trial": spec.trial, "seed": spec.seed,
        "budgets": spec.budgets, "identity": spec.identity,
        "transport": opts.transport, "record": opts.record,
        "cassettes": str(opts.cassettes) if opts.cassettes is not None else None,
        "profiles": [p.model_dump(mode="json") for p in opts.profiles] or None,
        "task_queue": topts.task_queue, "failover_s": topts.failover_s,
        "history_limit": topts.history_limit,
        "local_activities": topts.local_for(opts.transport),
    }


def run_on_temporal(specs: Sequence[TrialSpec], opts: SuiteOptions, topts: TemporalOptions,
                    out: Path, on_result: Callable[[TrialResult], None]) -> None:
    for spec in specs:
        if spec.scenario.parts.entry is not None:
            raise UsageError(f"{spec.scenario.path}: an agent that brings its own loop runs on "
                             "the local backend only (drop --backend temporal)")
    asyncio.run(_run(specs, opts, topts, out, on_result))


async def _run(specs: Sequence[TrialSpec], opts: SuiteOptions, topts: TemporalOptions,
               out: Path, on_result: Callable[[TrialResult], None]) -> None:
    client = await connect(topts.address, topts.namespace, topts.connect_timeout_s,
                           payload_store=topts.payload_store)
    uid = run_uid(out, topts)
    recorder = SQLiteRecorder(out / "events.sqlite")
    sem = asyncio.Semaphore(max(1, opts.concurrency))
    versions: dict[Path, str] = {}

    async def one(spec: TrialSpec) -> None:
        async with sem:
            wid = f"{uid}/{spec.run_id}"
            got = await _result(client, wid, workflow_input(spec, opts, topts, versions), topts)
        _store_log(recorder, spec.run_id, got)
        on_result(trial_result(spec, got, opts.transport))

    try:
        await asyncio.gather(*(one(s) for s in specs))
    finally:
        recorder.close()


async def _result(client: Client, wid: str, inp: dict[str, Any],
                  topts: TemporalOptions) -> dict[str, Any]:
    """Start the trial's workflow (or find it running or finished) and wait for its result,
    riding out a server that goes away for a while (a restart)."""
    outage_started: float | None = None
    while True:
        try:
            try:
                handle = await client.start_workflow(
                    WORKFLOW_NAME, inp, id=wid, task_queue=topts.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    # a worker lost inside a workflow task (its local activities) is noticed
                    # when the task times out: within --failover, as for its activities
                    task_timeout=timedelta(seconds=min(max(topts.failover_s, 1.0), 120.0)))
            except WorkflowAlreadyStartedError:  # finished before: its result is kept
                handle = client.get_workflow_handle(wid)
            got: dict[str, Any] = await handle.result()
            return got
        except RPCError as err:  # the server is restarting: ask again, for a while
            now = time.monotonic()
            outage_started = outage_started or now
            if now - outage_started > topts.outage_s:
                raise UsageError(f"lost the Temporal server at {topts.address} for more than "
                                 f"{topts.outage_s:g}s: {err}") from None
            await asyncio.sleep(1.0)
        except WorkflowFailureError as err:
            return {"crashed": f"the trial's workflow failed: {_innermost(err)}",
                    "records": [], "actions": []}


def _innermost(err: BaseException) -> str:
    """The root cause's words (a failed workflow wraps the failed activity, which wraps
    the error the worker raised)."""
    while err.__cause__ is not None or getattr(err, "cause", None) is not None:
        err = getattr(err, "cause", None) or err.__cause__  # type: ignore[assignment]
    return str(getattr(err, "message", "") or err)


def _store_log(recorder: SQLiteRecorder, key: str, got: dict[str, Any]) -> None:
    """The trial's events, as the local driver would have logged them."""
    records = got.get("records") or []
    if not records or recorder.read_run(key):
        return
    recorder.open_run(key, {"agent": "temporal"})
    for seq, (kind, payload) in enumerate(records):
        recorder.append(key, seq, kind, payload)
    recorder.flush(key)


def trial_result(spec: TrialSpec, got: dict[str, Any], transport: str) -> TrialResult:
    """The trial's line from its workflow's result, by the builder ``run_trial`` uses.

    A result that lacks the run's end (its workflow failed) is judged as a run that never
    started; a run's end that lacks a field is refused by name, never filled in."""
    ctx = got.get("context")
    try:
        end = NOTHING_RAN if ctx is None else RunEnd.model_validate(ctx)
    except ValidationError as err:
        raise UsageError(f"trial {spec.run_id}: its workflow's result does not fit this "
                         f"harness (another version?): {_first_error(err)}") from None
    return trial_line(spec, end, checks=json.loads(got.get("checks") or "[]"),
                      faults=json.loads(got.get("faults") or "[]"), crash=got.get("crashed"),
                      log_id=spec.run_id, transport=transport)


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    return f"context.{'.'.join(map(str, e['loc']))}: {e['msg']}"
