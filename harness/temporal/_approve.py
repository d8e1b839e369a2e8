"""``harness approve RUN [TRIAL]``: a person's decision, from any process, to a waiting trial.

The decision goes to the trial's workflow as a signal: the server keeps it in the
workflow's history, so it counts even if every worker is down when it is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from harness.errors import UsageError
from harness.temporal._connect import connect
from harness.temporal._run import read_run_file
from harness.temporal._workflow import DECIDE_SIGNAL, PENDING_QUERY


def approve_main(args: argparse.Namespace) -> int:
    return asyncio.run(_approve(args))


async def _approve(args: argparse.Namespace) -> int:
    info = read_run_file(Path(args.run))
    address = args.temporal_address or info["address"]
    store = args.payload_store or info.get("payload_store")  # the run's, unless told
    client = await connect(address, args.namespace or info.get("namespace", "default"),
                           payload_store=Path(store) if store else None)
    uid = info["run_uid"]
    if args.trial is None:  # list who is waiting
        async for wf in client.list_workflows(
                f'WorkflowId STARTS_WITH "{uid}/" AND ExecutionStatus = "Running"'):
            for req in await _pending(client, wf.id):
                print(f"{wf.id.removeprefix(uid + '/')}  {req['effect_id']}\n"
                      + _indent(req["text"]))
        return 0
    wid = f"{uid}/{args.trial}"
    pending = await _pending(client, wid)
    if args.request is not None:
        chosen = [r for r in pending if r["effect_id"] == args.request]
    else:
        chosen = pending
    if not chosen:
        raise UsageError(f"trial {args.trial!r} of {args.run} waits for no decision"
                         + (f" on {args.request!r}" if args.request else ""))
    if len(chosen) > 1:
        ids = ", ".join(r["effect_id"] for r in chosen)
        raise UsageError(f"trial {args.trial!r} waits for several decisions ({ids}): "
                         "name one with --request")
    edited: dict[str, Any] | None = None
    if args.decision == "edit":
        if args.edited_input is None:
            raise UsageError("--decision edit needs --edited-input JSON")
        try:
            edited = json.loads(args.edited_input)
        except ValueError as err:
            raise UsageError(f"--edited-input: not JSON ({err})") from None
        if not isinstance(edited, dict):
            raise UsageError("--edited-input: expected a JSON object")
    await client.get_workflow_handle(wid).signal(DECIDE_SIGNAL, {
        "effect_id": chosen[0]["effect_id"], "decision": args.decision,
        "edited_input": edited, "note": args.note})
    print(f"{args.decision}: {args.trial} {chosen[0]['effect_id']}")
    return 0


async def _pending(client: Any, wid: str) -> list[dict[str, Any]]:
    handle = client.get_workflow_handle(wid)
    try:
        desc = await handle.describe()
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return []
        got: list[dict[str, Any]] = await handle.query(PENDING_QUERY)
    except RPCError as err:
        raise UsageError(f"no trial {wid!r} on the server: {err}") from None
    return got


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
