"""``harness run --backend temporal``: the same trials as the local backend, byte for byte,
on a real server and a real worker process; and the usage errors around it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporal_support import Server, harness_cmd, workflow_runs

from harness.temporal._server import free_port

pytestmark = pytest.mark.slow


#: The first bundled scenarios, frozen: the variants' parity runs on these, quicker than
#: the four suites the first test runs.
CLASSIC = "tests/fixtures/classic"


def _both(tmp_path: Path, server: Server, queue: str, *extra: str, trials: int = 2,
          paths: str = CLASSIC) -> tuple[bytes, bytes]:
    """``paths`` with a few trials each, on the local backend and on Temporal."""
    local, temporal = tmp_path / "local", tmp_path / "temporal"
    a = harness_cmd("run", paths, "--trials", str(trials), "--workers", "1", "--out", local,
                    *_local_only(extra))
    b = harness_cmd("run", paths, "--trials", str(trials), "--out", temporal, "--backend",
                    "temporal", "--temporal-address", server.address, "--task-queue", queue,
                    *extra)
    assert a.returncode in (0, 1), a.stderr
    assert b.returncode == a.returncode, b.stderr
    return (local / "trials.jsonl").read_bytes(), (temporal / "trials.jsonl").read_bytes()


def _local_only(extra: tuple[str, ...]) -> list[str]:
    """The options both backends take (the Temporal ones, with their values, dropped)."""
    out, skip = [], False
    for x in extra:
        if skip or x in ("--history-limit", "--local-activities"):
            skip = not skip
            continue
        out.append(x)
    return out


def test_bundled_scenarios_give_the_same_lines_on_both_backends(
        tmp_path: Path, temporal_server: Server, temporal_worker: str) -> None:
    local, temporal = _both(tmp_path, temporal_server, temporal_worker, trials=1,
                            paths="scenarios")
    assert local.count(b"\n") >= 25
    assert temporal == local
    # the run folder is a whole one: its event log and report are there too
    assert (tmp_path / "temporal" / "report.html").exists()
    assert (tmp_path / "temporal" / "events.sqlite").exists()


@pytest.mark.parametrize(("profile", "source"), [("flaky-tools", "tool"),
                                                ("api-brownout", "llm")])
def test_injected_faults_give_the_same_lines_on_both_backends(
        tmp_path: Path, temporal_server: Server, temporal_worker: str, profile: str,
        source: str) -> None:
    local, temporal = _both(tmp_path, temporal_server, temporal_worker, "--faults", profile,
                            trials=1)
    assert f'"source":"{source}"'.encode() in local  # faults did fire
    assert temporal == local


def test_trials_with_budgets_and_without_give_the_same_lines_on_both_backends(
        tmp_path: Path, temporal_server: Server, temporal_worker: str) -> None:
    local, temporal = _both(tmp_path, temporal_server, temporal_worker, "--budgets", "on,off",
                            trials=1)
    assert b'"budgets":"off"' in local
    assert temporal == local


def test_an_unreachable_server_is_exit_2_naming_the_address(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    r = harness_cmd("run", "scenarios", "--trials", "1", "--out", tmp_path / "r",
                    "--backend", "temporal", "--temporal-address", address, timeout=120)
    assert r.returncode == 2
    assert address in r.stderr and "Traceback" not in r.stderr
    w = harness_cmd("worker", "--temporal-address", address, timeout=120)
    assert w.returncode == 2 and address in w.stderr and "Traceback" not in w.stderr


@pytest.mark.parametrize("args", [
    ["run", "scenarios", "--backend", "temporal"],
    ["run", "scenarios", "--temporal-address", "127.0.0.1:7233"],
    ["run", "scenarios", "--local-activities", "off"],
    ["run", "scenarios", "--backend", "temporal", "--temporal-address", "no-port"],
    ["worker"],
])
def test_backend_usage_mistakes_are_exit_2(tmp_path: Path, args: list[str]) -> None:
    r = harness_cmd(*args, "--out", tmp_path / "r") if args[0] == "run" else harness_cmd(*args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("harness: ")


@pytest.mark.parametrize(("limit", "local_activities"), [("12", "on"), ("40", "off")])
def test_a_long_trial_continues_as_new_and_loses_nothing(
        tmp_path: Path, temporal_server: Server, temporal_worker: str, limit: str,
        local_activities: str) -> None:
    """A history limit far below a trial's length: each trial continues as new several
    times (the log so far carried over and folded back), and its line is unchanged, with
    effects as local activities (a marker each) and as activities (several events each)."""
    local, temporal = _both(tmp_path, temporal_server, temporal_worker, "--history-limit", limit,
                            "--local-activities", local_activities, trials=1)
    assert temporal == local
    runs = asyncio.run(workflow_runs(temporal_server.address, tmp_path / "temporal"))
    # the long trials continued as new, some several times (a short one may fit in 40)
    assert len(runs) == local.count(b"\n") and max(runs.values()) >= 3
    assert sum(n > 1 for n in runs.values()) >= 2
