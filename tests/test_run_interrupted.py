"""A run spread over processes, stopped by signals, resumed: the same file in the end.

- a finished run's ``trials.jsonl`` is the same bytes whatever ``--workers`` and
  ``--concurrency`` were, in the plan's order;
- a trial re-run after a cut-off is the same trial: nothing in it depends on the key its
  log is stored under, and on a deterministic transport it runs again under its own key,
  checked record for record against what its first attempt logged;
- a parent killed with SIGKILL or SIGTERM leaves no worker behind, and its stdout reaches
  EOF; SIGTERM exits 143 leaving whole lines, and ``--resume`` finishes the run;
- the reliability check: the bundled suites under ``chaos``, SIGKILLed at seeded random
  points with two workers and resumed each time, end with the uninterrupted run's
  ``trials.jsonl`` byte for byte (and its event log's records, though not its bytes).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_runner import CODE, MUG, ROOT, SCENARIOS, run

from harness.cli import main
from harness.runner import SuiteOptions, TrialEnv, _workers, make_spec, plan, run_suite, run_trial
from harness.runner._rerun import CheckedRerun, RerunDiverged
from harness.runner._workers import default_workers
from harness.scenario import load_all, load_scenario
from harness.store import INTENT, MemoryRecorder, Record, SQLiteRecorder

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _keys(out: Path) -> list[tuple[str, str, str, int, str]]:
    rows = [json.loads(ln) for ln in (out / "trials.jsonl").read_text().splitlines()]
    return [(r["scenario"], r["model"], r["fault_profile"], r["trial"],
             r.get("budgets", "on")) for r in rows]


def _events(out: Path) -> set[tuple[str, int, str, str]]:
    with closing(sqlite3.connect(f"file:{out / 'events.sqlite'}?mode=ro", uri=True)) as db:
        return set(db.execute("SELECT run_id, seq, kind, payload FROM events"))


# --- the same bytes however the run is spread ----------------------------------------


def test_workers_and_concurrency_give_the_same_bytes_in_plan_order(tmp_path: Path) -> None:
    args = [SCENARIOS, "--trials", 4, "--faults", "chaos", "--seed", 5, "--no-trace"]
    files = {}
    for workers, concurrency in ((1, 1), (1, 8), (2, 1), (2, 8)):
        out = tmp_path / f"w{workers}-c{concurrency}"
        assert run(*args, "--workers", workers, "--concurrency", concurrency,
                   "--out", out) in (0, 1)
        files[workers, concurrency] = (out / "trials.jsonl").read_bytes()
    first = files[1, 1]
    assert all(data == first for data in files.values())
    # the order is the plan's: scenario files in load order, then model, then trial
    opts = SuiteOptions(paths=(str(SCENARIOS),), trials=4, faults="chaos")
    expected = [s.key for s in plan(load_all(opts.paths), opts)]
    assert _keys(tmp_path / "w2-c8") == expected and len(expected) == 12


# --- a re-run trial is the same trial ------------------------------------------------


def test_nothing_in_a_trial_depends_on_its_log_key() -> None:
    """A trial re-run under ``<run_id>@2`` used to draw other retry delays (the jitter was
    seeded by the log key), so its ``duration_s`` moved: the key is only where the log is."""
    retried = 0
    for path in sorted(SCENARIOS.glob("*/*.yaml")):
        ls = load_scenario(path)
        for t in range(4):
            spec = make_spec(ls, None, "chaos", t, 0)
            first = asyncio.run(run_trial(spec, TrialEnv(recorder=MemoryRecorder())))
            again = asyncio.run(run_trial(spec, TrialEnv(recorder=MemoryRecorder()),
                                          log_id=f"{spec.run_id}@2"))
            assert again.log_id == f"{spec.run_id}@2"
            assert again.model_dump(exclude={"log_id"}) == first.model_dump(exclude={"log_id"})
            retried += first.retries
    assert retried, "no trial retried: the jitter went untested"


def test_a_run_commits_its_own_records_alone(tmp_path: Path) -> None:
    """Trials share a recorder; what a crash of one loses must not depend on when another
    happened to commit (a lazily committed record of one run used to ride along on the
    next run's commit, so the same trial logged differently beside different trials)."""
    for rec in (SQLiteRecorder(tmp_path / "log.sqlite"), MemoryRecorder()):
        rec.append("a", 0, "tool_returned", "{}")  # committed lazily: waits for a's next flush
        rec.append("b", 0, "model_replied", "{}")
        rec.flush("b")
        rec.discard("a")  # a crashes
        assert rec.read_run("a") == []
        assert rec.read_run("b") == [Record(0, "model_replied", "{}")]


def test_a_trial_logs_the_same_records_beside_others_as_alone(tmp_path: Path) -> None:
    opts = SuiteOptions(paths=(str(SCENARIOS),), trials=4, faults="chaos", out=tmp_path / "run",
                        concurrency=16, tracing=False, progress=False)
    run_suite(opts)
    shared = SQLiteRecorder(tmp_path / "run" / "events.sqlite")
    for spec in plan(load_all(opts.paths), opts):
        alone = MemoryRecorder()
        asyncio.run(run_trial(spec, TrialEnv(recorder=alone)))
        assert alone.read_run(spec.run_id) == shared.read_run(spec.run_id), spec.run_id


def _cut_off(tmp: Path, records: list[Record], key: str, k: int) -> SQLiteRecorder:
    """An event log holding the first ``k`` records of ``key``: what a killed run left."""
    rec = SQLiteRecorder(tmp / f"cut-{k}.sqlite")
    rec.open_run(key, {"agent": "cut"})
    for r in records[:k]:
        rec.append(key, r.seq, r.kind, r.payload)
    rec.flush()
    return rec


def test_a_cut_off_trial_runs_again_under_its_key_and_continues_its_log(tmp_path: Path) -> None:
    ls = load_scenario(CODE)
    spec = make_spec(ls, None, "chaos", 1, 0)
    whole = SQLiteRecorder(tmp_path / "whole.sqlite")
    reference = asyncio.run(run_trial(spec, TrialEnv(recorder=whole)))
    full = whole.read_run(spec.run_id)
    assert any(f["source"] == "crash" for f in reference.faults)  # in-trial crashes too
    for k in sorted({1, 2, len(full) // 3, len(full) // 2, len(full) - 1, len(full)}):
        rec = _cut_off(tmp_path, full, spec.run_id, k)
        rerun = CheckedRerun(rec, spec.run_id, rec.read_run(spec.run_id))
        again = asyncio.run(run_trial(spec, replace(TrialEnv(recorder=rec), recorder=rerun),
                                      log_id=spec.run_id))
        assert again == reference, k  # the same line, log_id included
        assert rerun.shortfall() is None
        assert rec.read_run(spec.run_id) == full, k  # the log continued, append-only


def test_a_rerun_that_departs_from_its_first_attempt_fails_the_trial(tmp_path: Path) -> None:
    ls = load_scenario(MUG)
    spec = make_spec(ls, None, "none", 0, 0)
    whole = SQLiteRecorder(tmp_path / "whole.sqlite")
    asyncio.run(run_trial(spec, TrialEnv(recorder=whole)))
    full = whole.read_run(spec.run_id)
    k = len(full) // 2
    forged = [*full[:k - 1], full[k - 1]._replace(payload=full[k - 1].payload + " ")]
    rec = _cut_off(tmp_path, forged, spec.run_id, k)
    rerun = CheckedRerun(rec, spec.run_id, rec.read_run(spec.run_id))
    result = asyncio.run(run_trial(spec, replace(TrialEnv(recorder=rec), recorder=rerun),
                                   log_id=spec.run_id))
    assert result.outcome == "crashed" and not result.goal_met
    assert result.error is not None and f"record #{k - 1}" in result.error
    assert rec.read_run(spec.run_id) == forged[:k]  # nothing appended after a departure
    # a first attempt that logged more than the re-run ever writes is a departure too
    longer = [*full, Record(len(full), "model_replied", "{}")]
    rec = _cut_off(tmp_path, longer, "x", len(longer))
    rerun = CheckedRerun(rec, "x", rec.read_run("x"))
    for r in full:
        rerun.append("x", r.seq, r.kind, r.payload)
    rerun.flush()
    assert f"ended at record #{len(full)}" in (rerun.shortfall() or "")


_records = st.lists(st.tuples(st.sampled_from(["model_replied", "tool_returned", INTENT]),
                              st.text(max_size=8)), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(rows=_records, data=st.data())
def test_a_checked_rerun_continues_any_prefix_and_catches_any_departure(
        rows: list[tuple[str, str]], data: st.DataObject) -> None:
    full = [Record(i, kind, payload) for i, (kind, payload) in enumerate(rows)]
    k = data.draw(st.integers(0, len(full)), label="records the first attempt committed")
    flushes = data.draw(st.sets(st.integers(0, len(full) - 1)), label="flush after")
    inner = MemoryRecorder()
    for r in full[:k]:
        inner.append("t", r.seq, r.kind, r.payload)
    inner.flush()
    rerun = CheckedRerun(inner, "t", inner.read_run("t"))
    for r in full:
        rerun.append("t", r.seq, r.kind, r.payload)
        if r.seq in flushes:
            rerun.flush()
    rerun.flush()
    assert inner.read_run("t") == full == rerun.read_run("t")
    assert rerun.shortfall() is None
    if k == 0:
        return
    # the same re-run against a first attempt that logged one thing differently
    bad = data.draw(st.integers(0, k - 1), label="the record that differs")
    forged = MemoryRecorder()
    for r in full[:k]:
        forged.append("t", r.seq, r.kind, r.payload + ("!" if r.seq == bad else ""))
    forged.flush()
    rerun = CheckedRerun(forged, "t", forged.read_run("t"))
    for r in full:
        rerun.append("t", r.seq, r.kind, r.payload)
    with pytest.raises(RerunDiverged, match=f"record #{bad} "):
        rerun.flush()
    assert len(forged.read_run("t")) == k  # nothing appended past a departure


# --- how many workers by default -----------------------------------------------------


def test_workers_default_to_the_usable_cores_for_cpu_bound_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_workers, "usable_cpus", lambda: 8)
    assert default_workers("simulated", 1000) == 8
    assert default_workers("replay", 3) == 3  # capped by the trials to run
    assert default_workers("simulated", 1) == 1
    assert default_workers("live", 1000) == 1  # waits on the network, not a core
    monkeypatch.setattr(_workers, "usable_cpus", lambda: 2)
    assert run(MUG, "--trials", 3, "--out", tmp_path / "default") in (0, 1)
    assert sorted(p.name for p in (tmp_path / "default").glob("spans*")) == [
        "spans-w0.jsonl", "spans-w1.jsonl"]
    assert run(MUG, "--trials", 3, "--workers", 1, "--out", tmp_path / "one") in (0, 1)
    assert [p.name for p in (tmp_path / "one").glob("spans*")] == ["spans.jsonl"]
    capsys.readouterr()
    assert main(["run", "--help"]) == 0
    assert "one per usable core" in " ".join(capsys.readouterr().out.split())


# --- killed parents ------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid``, from /proc."""
    kids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                kids.add(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for whoever adopted it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _start(args: list[str | Path], out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *map(str, args),
                             "--out", str(out)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _wait_for(proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str,
              timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, f"harness run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.002)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


@pytest.mark.slow
@needs_proc
@pytest.mark.parametrize(("sig", "n"), [(signal.SIGKILL, 2), (signal.SIGTERM, 2),
                                        (signal.SIGTERM, 1)],
                         ids=["SIGKILL", "SIGTERM", "SIGTERM-one-process"])
def test_a_killed_parent_leaves_no_worker_and_its_stdout_ends(
        sig: signal.Signals, n: int, tmp_path: Path) -> None:
    """With one process, SIGTERM goes through the event loop's Ctrl-C handler (which
    cancels the trials); with workers, through Python's (the parent waits on a queue)."""
    out = tmp_path / "run"
    args: list[str | Path] = [MUG, "--trials", 120, "--workers", n, "--no-trace"]
    proc = _start(args, out)
    trials = out / "trials.jsonl"
    workers: set[int] = set()

    def running() -> bool:
        workers.update(_children(proc.pid))
        return len(workers) >= (n if n > 1 else 0) and _lines(trials) >= 1

    try:
        _wait_for(proc, running, "the workers and a trial line")
        proc.send_signal(sig)
        # stdout reaches EOF: no worker holds it open (communicate reads to EOF or times out)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 30
    while any(_alive(w) for w in workers):
        assert time.monotonic() < deadline, f"workers outlived their parent: {workers}"
        time.sleep(0.01)
    data = trials.read_bytes()
    assert 1 <= data.count(b"\n") < 120, "the signal came too late to test anything"
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        return
    # SIGTERM ends the run as Ctrl-C does: exit 143, no traceback, only whole lines
    assert proc.returncode == 143, stderr
    assert b"interrupted" in stderr and b"Traceback" not in stderr and stdout == b""
    assert data.endswith(b"\n") and all(json.loads(ln) for ln in data.splitlines())
    assert run(*args, "--out", out, "--resume") in (0, 1)
    whole = tmp_path / "whole"
    assert run(*args, "--out", whole) in (0, 1)
    assert trials.read_bytes() == (whole / "trials.jsonl").read_bytes()


@pytest.mark.slow
def test_a_worker_notices_its_parent_is_gone_without_the_kernel_signal(tmp_path: Path) -> None:
    """The portable fallback: a worker that polls its parent's pid ends once it is gone."""
    child = ("import sys; from harness.runner._workers import watch_parent; "
             "print('watching', flush=True); watch_parent(int(sys.argv[1]), 0.02)")
    middle = ("import os, subprocess, sys, time; "
              f"c = subprocess.Popen([sys.executable, '-c', {child!r}, str(os.getpid())]); "
              "print(c.pid, flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", middle], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        assert proc.stdout.readline() == b"watching\n"
        assert _alive(pid)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 30
        while _alive(pid):
            assert time.monotonic() < deadline, "the watcher outlived its parent"
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- the reliability check -----------------------------------------------------------

RELIABILITY_TRIALS = 8
KILLS = 3


@pytest.mark.slow
@needs_proc
def test_chaos_runs_killed_at_random_points_and_resumed_end_as_the_uninterrupted_run(
        tmp_path: Path) -> None:
    args: list[str | Path] = [SCENARIOS, "--faults", "chaos", "--trials", RELIABILITY_TRIALS,
                              "--seed", 11, "--workers", 2, "--no-trace"]
    whole = tmp_path / "whole"
    assert run(*args, "--out", whole) in (0, 1)
    reference = (whole / "trials.jsonl").read_bytes()
    total = len(_events(whole))
    # kill points: seeded fractions of the run's event log, one a process
    rng = random.Random(20261206)
    points = sorted(int(total * rng.uniform(0.05, 0.95)) for _ in range(KILLS))

    out = tmp_path / "killed"
    db = out / "events.sqlite"

    def committed() -> int:
        if not db.exists():
            return 0
        try:
            with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
                return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        except sqlite3.OperationalError:  # not created yet, or busy
            return 0

    killed = 0
    for i, point in enumerate(points):
        proc = _start([*args, *(["--resume"] if i else [])], out)
        try:
            deadline = time.monotonic() + 120
            while committed() < point and proc.poll() is None:
                assert time.monotonic() < deadline, f"no progress to event {point}"
                time.sleep(0.002)
            if proc.poll() is None:
                proc.kill()
        finally:
            _, stderr = proc.communicate(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            killed += 1
            data = (out / "trials.jsonl").read_bytes() if (out / "trials.jsonl").exists() else b""
            assert data.endswith(b"\n") or not data  # whole lines only
        else:  # the run got to its end before the kill point
            assert proc.returncode in (0, 1), stderr
    assert killed >= 1, "no kill landed mid-run"
    assert run(*args, "--out", out, "--resume") in (0, 1)
    assert (out / "trials.jsonl").read_bytes() == reference
    # the event log holds the same records (a cut-off trial's log continued, not doubled);
    # its bytes, like the span files, depend on timing and are not promised
    assert _events(out) == _events(whole)
