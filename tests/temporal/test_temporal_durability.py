"""What Temporal is for: a worker SIGKILLed mid-trial, a person approving from another
process, the server restarted mid-suite; each against a real server and real processes,
with side effects counted in a ledger file no process can roll back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from ledger_world import scenario
from temporal_support import (
    ENV,
    ROOT,
    Server,
    harness_cmd,
    start_worker,
    stop,
    wait_ready,
    workflow_runs,
)

from harness.temporal._server import DevServer

pytestmark = pytest.mark.slow


def _run_in_background(paths: list[Path], out: Path, address: str, queue: str,
                       *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", *map(str, paths), "--out", str(out),
         "--backend", "temporal", "--temporal-address", address, "--task-queue", queue,
         "--failover", "2", *extra], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def _wait_for(what: str, cond: object, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]


def _ledger(folder: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (folder / "ledger.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("local_activities", ["on", "off"])
def test_a_worker_killed_mid_trial_is_replaced_and_side_effects_happen_once(
        tmp_path: Path, temporal_server: Server, local_activities: str) -> None:
    """Killed while it performs an effect: as a local activity (inside the workflow task it
    runs, which then times out) or as an activity on its own queue (which stops heartbeating)."""
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    world = tmp_path / "world"
    path = scenario(world, "charge-with-crash", gate=True)
    first = start_worker(temporal_server.address, queue, tmp_path / "first.log")
    wait_ready(first, tmp_path / "first.log")
    run = _run_in_background([path], tmp_path / "run", temporal_server.address, queue,
                             "--local-activities", local_activities)
    second = None
    try:
        # the first worker has charged O1 and sits in `settle`: kill it there
        _wait_for("the trial to reach settle", (world / "gate").exists)
        assert [e["order_id"] for e in _ledger(world)] == ["O1"]
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
        second = start_worker(temporal_server.address, queue, tmp_path / "second.log")
        _, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
    finally:
        stop(first)
        if second is not None:
            stop(second)
        if run.poll() is None:
            run.kill()
    (line,) = _lines(tmp_path / "run")
    assert line["outcome"] == "done" and line["goal_met"] is True
    # the new worker rebuilt the trial by sending O1's charge again with its key: the
    # ledger answered it from its record, so each charge happened exactly once
    entries = _ledger(world)
    assert sorted(str(e["order_id"]) for e in entries) == ["O1", "O2"]
    assert len({e["key"] for e in entries}) == 2


def test_a_person_approves_from_another_process_while_the_trial_waits(
        tmp_path: Path, temporal_server: Server, temporal_worker: str) -> None:
    world = tmp_path / "world"
    path = scenario(world, "restart-needs-approval", restart=True, human="outside")
    out = tmp_path / "run"
    run = _run_in_background([path], out, temporal_server.address, temporal_worker)
    trial = "restart-needs-approval/configured/none/0"
    try:
        def waiting() -> bool:
            r = harness_cmd("approve", out, timeout=60) if (out / "temporal.json").exists() \
                else None
            return r is not None and r.returncode == 0 and trial in r.stdout

        _wait_for("the trial to wait for a person", waiting)
        # nothing restarted before the decision
        assert all(e["tool"] == "charge" for e in _ledger(world))
        r = harness_cmd("approve", out, trial, "--decision", "approve", "--note", "go ahead",
                        timeout=60)
        assert r.returncode == 0, r.stderr
        _, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
    finally:
        if run.poll() is None:
            run.kill()
    (line,) = _lines(out)
    assert line["outcome"] == "done" and line["escalations"] == 1
    assert [e["tool"] for e in _ledger(world)].count("restart_service") == 1
    # a second decision for a trial that waits for none is a usage error, not a hang
    again = harness_cmd("approve", out, trial, timeout=60)
    assert again.returncode == 2 and "waits for no decision" in again.stderr


def test_a_server_restarted_mid_suite_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """The server's state lives in its database file: stopped mid-suite and started again on
    it, the run carries on, and its lines are the local backend's, each trial once."""
    server = DevServer(db=tmp_path / "server.db").start()
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    worker = start_worker(server.address, queue, tmp_path / "worker.log")
    out = tmp_path / "run"
    run = None
    try:
        wait_ready(worker, tmp_path / "worker.log")
        run = _run_in_background([ROOT / "tests/fixtures/classic"], out, server.address, queue,
                                 "--trials", "3", "--concurrency", "2")
        trials = out / "trials.jsonl"
        _wait_for("a first finished trial",
                  lambda: trials.exists() and trials.read_text().count("\n") >= 1)
        server.stop()
        assert trials.read_text().count("\n") < 9  # the suite was cut off mid-way
        server.start()
        _, err = run.communicate(timeout=300)
        assert run.returncode in (0, 1), err
    finally:
        if run is not None and run.poll() is None:
            run.kill()
        stop(worker)
        server.stop()
    local = harness_cmd("run", "tests/fixtures/classic", "--trials", "3", "--workers", "1",
                        "--out", tmp_path / "local")
    assert local.returncode in (0, 1), local.stderr
    assert (out / "trials.jsonl").read_bytes() == (tmp_path / "local" / "trials.jsonl"
                                                   ).read_bytes()


def test_a_worker_with_another_agent_version_refuses_the_trial(
        tmp_path: Path, temporal_server: Server) -> None:
    """Two checkouts of one scenario, one changed: the run names it by its relative path,
    so the worker in the changed checkout reads another agent there. It refuses the trial
    (acts on nothing) until a worker with the trial's own agent takes it."""
    queue = f"versions-{uuid.uuid4().hex[:8]}"
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    scenario(ours / "s", "versioned")
    changed = scenario(theirs / "s", "versioned")
    changed.write_text(changed.read_text().replace("once each", "once each, quickly"))
    bad_log, good_log = tmp_path / "bad.log", tmp_path / "good.log"

    def worker(cwd: Path, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as f:
            return subprocess.Popen(
                [sys.executable, "-m", "harness.cli", "worker", "--temporal-address",
                 temporal_server.address, "--task-queue", queue], cwd=cwd, env=ENV,
                stdout=f, stderr=subprocess.STDOUT)

    bad = worker(theirs, bad_log)
    good = None
    run = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "s/versioned.yaml", "--out", "run",
         "--backend", "temporal", "--temporal-address", temporal_server.address,
         "--task-queue", queue], cwd=ours, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        _wait_for("the other version's refusal",
                  lambda: "refused trial versioned/configured/none/0" in bad_log.read_text())
        assert not (theirs / "s" / "ledger.jsonl").exists()  # it did nothing
        good = worker(ours, good_log)
        _, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
    finally:
        stop(bad)
        if good is not None:
            stop(good)
        if run.poll() is None:
            run.kill()
    (line,) = _lines(ours / "run")
    assert line["outcome"] == "done" and line["goal_met"] is True
    assert not (theirs / "s" / "ledger.jsonl").exists()
    assert sorted(str(e["order_id"]) for e in _ledger(ours / "s")) == ["O1", "O2"]


def test_a_killed_run_resumes_its_trials_from_the_server_and_starts_none_twice(
        tmp_path: Path, temporal_server: Server) -> None:
    """The run is SIGKILLed while its trials wait on the server (no worker yet): --resume
    finds them by id, a worker runs each once, and the lines are the local backend's."""
    queue = f"resume-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "run"
    first = _run_in_background([ROOT / "tests/fixtures/classic"], out, temporal_server.address, queue,
                               "--trials", "1")
    try:
        _wait_for("the trials to be started",
                  lambda: len(asyncio.run(workflow_runs(temporal_server.address, out))) == 3)
    finally:
        first.kill()
        first.wait(30)
    assert not (out / "trials.jsonl").exists() or not (out / "trials.jsonl").read_text()
    worker = start_worker(temporal_server.address, queue, tmp_path / "worker.log")
    try:
        again = harness_cmd("run", ROOT / "tests/fixtures/classic", "--trials", "1", "--out", out,
                            "--backend", "temporal", "--temporal-address",
                            temporal_server.address, "--task-queue", queue, "--resume")
        assert again.returncode in (0, 1), again.stderr
    finally:
        stop(worker)
    assert list(asyncio.run(workflow_runs(temporal_server.address, out)).values()) == [1, 1, 1]
    local = harness_cmd("run", "tests/fixtures/classic", "--trials", "1", "--workers", "1",
                        "--out", tmp_path / "local")
    assert local.returncode in (0, 1), local.stderr
    assert (out / "trials.jsonl").read_bytes() == (tmp_path / "local" / "trials.jsonl"
                                                   ).read_bytes()
