"""An hour of waiting for a person, in seconds: the SDK's time-skipping test server (the
installed ``temporal-test-server``, never downloaded) runs a trial whose approval request
nobody answers. The workflow's wait is a server timer; the server skips to it while the
test awaits the trial's result, the request's default applies, and the line is the one
the local backend writes for the same trial (where the ``outside`` person never answers
either)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ledger_world import scenario
from temporal_support import worker_in_process
from temporalio.testing import WorkflowEnvironment

from harness.runner._jsonl import _line
from harness.runner._suite import SuiteOptions
from harness.runner._trial import TrialEnv, make_spec, run_trial
from harness.scenario import load_scenario
from harness.store import MemoryRecorder
from harness.temporal._options import TemporalOptions
from harness.temporal._run import trial_result, workflow_input
from harness.temporal._server import binary
from harness.temporal._workflow import WORKFLOW_NAME

pytestmark = pytest.mark.slow

HOUR = 3600.0
NAME = "restart-nobody-approves"


def _ledger(folder: Path) -> list[dict[str, Any]]:
    path = folder / "ledger.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


async def _on_time_skipping_server(path: Path) -> tuple[dict[str, Any], timedelta]:
    """The trial's workflow result, and how far the server's clock moved meanwhile."""
    spec = make_spec(load_scenario(path), None, None, 0, 0)
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    inp = workflow_input(spec, SuiteOptions(paths=(str(path),)),
                         TemporalOptions(address="time-skipping", task_queue=queue), {})
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(binary("temporal-test-server")))
    async with env, worker_in_process(env.client, queue):
        before = await env.get_current_time()
        handle = await env.client.start_workflow(WORKFLOW_NAME, inp, id=f"{queue}/{spec.run_id}",
                                                 task_queue=queue)
        # time skips only while a result is awaited through the environment's client;
        # without it the hour would be real: the timeout turns that hang into a failure
        got: dict[str, Any] = await asyncio.wait_for(handle.result(), timeout=120)
        moved = await env.get_current_time() - before
    return got, moved


def test_an_unanswered_approval_waits_its_hour_of_server_time_and_its_default_applies(
        tmp_path: Path) -> None:
    on_server = scenario(tmp_path / "temporal", NAME, restart=True, human="outside",
                         approval_timeout_s=HOUR)
    got, moved = asyncio.run(_on_time_skipping_server(on_server))
    spec = make_spec(load_scenario(on_server), None, None, 0, 0)
    line = trial_result(spec, got, "simulated")

    # each request waited its whole hour of server time (its timer fired: nobody signalled)
    # and was denied by default: the restart twice, then the run itself, stopped after
    # those repeated failures
    assert line.escalations == 3 and line.outcome == "escalated"
    assert line.error == "a human stopped the run (repeated_failures)"
    assert moved >= timedelta(seconds=3 * HOUR) and line.duration_s >= 3 * HOUR
    assert [e["tool"] for e in _ledger(tmp_path / "temporal")] == ["charge", "charge"]
    assert line.goal_met is True

    # the same trial on the local backend, where nobody outside can answer: the same line
    local_path = scenario(tmp_path / "local", NAME, restart=True, human="outside",
                          approval_timeout_s=HOUR)
    local = asyncio.run(run_trial(make_spec(load_scenario(local_path), None, None, 0, 0),
                                  TrialEnv(recorder=MemoryRecorder())))
    assert _line(line) == _line(local)
