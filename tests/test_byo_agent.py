"""Agents that bring their own loop (``agent: {entry: ...}``), on the bundled support world.

- the plain SDK loop in ``byo_parts`` reaches the goal on the simulated transport, which
  reads its conversation (no step prefixes) against the reference;
- under ``flaky-tools`` and ``api-brownout`` it runs and is judged; under ``crashy`` a
  trial cut off is re-run from its start, and does the same side effects as without
  crashes (the re-run's repeats are replayed under the same idempotency keys);
- each limit stops it at the limit: ``budget_exhausted`` with the limit named, usage
  never past it (also for random limits, profiles and seeds), the refused call raised
  as ``BudgetExhausted`` (an APIStatusError);
- production tools ask the approver; spans are named as the runtime's; a recorded run
  replays the same; a replay miss stops the run (exit 2) though the agent swallows it;
- a bad entry reference exits 2 naming the file and field.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.llm import PROFILES
from harness.runner import SuiteOptions, run_suite
from harness.runner._result import TrialResult
from harness.runner._trial import TrialEnv, TrialProbe, make_spec, run_trial
from harness.scenario import load_scenario
from harness.store import MemoryRecorder

ROOT = Path(__file__).parent.parent
SUPPORT = (ROOT / "tests/fixtures/classic/support/refund-broken-mug.yaml").read_text()


def scenario(tmp: Path, *, entry: str = "byo_parts:run", limits: str = "",
             name: str = "byo-refund") -> Path:
    """The bundled support scenario with its agent replaced by an entry point."""
    head, rest = SUPPORT.split("\nagent:\n", 1)
    _, world = rest.split("\nworld:\n", 1)
    text = (head.replace("name: refund-broken-mug", f"name: {name}")
            + f"\nagent:\n  entry: \"{entry}\"\n  model: claude-sonnet-4-6\n"
            + (f"  limits: {limits}\n" if limits else "") + "\nworld:\n" + world)
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return path


def run(tmp: Path, path: Path, *, faults: str | None = None, trials: int = 3,
        out: str = "out", profiles: tuple[Any, ...] = ()) -> list[TrialResult]:
    result = run_suite(SuiteOptions(paths=(str(path),), trials=trials, faults=faults,
                                    out=tmp / out, tracing=False, report_files=False,
                                    progress=False, profiles=profiles))
    return list(result.results)


def test_reaches_its_goal_on_the_simulated_transport(tmp_path: Path) -> None:
    results = run(tmp_path, scenario(tmp_path))
    assert results and all(r.outcome == "done" and r.goal_met for r in results)
    r = results[0]
    assert "A100" in r.answer and r.tool_calls == 4 and r.llm_calls == 5
    assert r.escalations == 0  # nothing here affects production
    assert r.cost_usd > 0 and r.tokens_in > 0 and r.tokens_out > 0


@pytest.mark.parametrize("faults", ["flaky-tools", "api-brownout"])
def test_runs_and_is_judged_under_faults(tmp_path: Path, faults: str) -> None:
    results = run(tmp_path, scenario(tmp_path), faults=faults, trials=6)
    assert len(results) == 6
    assert all(r.fault_profile == faults and r.checks for r in results)
    assert any(r.faults for r in results)  # faults fired and are on the line
    assert any(r.goal_met for r in results)


def test_crashy_reruns_the_trial_from_its_start(tmp_path: Path) -> None:
    results = run(tmp_path, scenario(tmp_path), faults="crashy", trials=4)
    crashes = [f for r in results for f in r.faults if f["source"] == "crash"]
    assert crashes  # crashes fired, and each trial still finished
    for r in results:
        assert r.outcome == "done" and r.goal_met, r
        # a re-run replays the refund under the same idempotency key: A100 refunded once
        refunds = [c for c in r.checks if "A100" in c["check"]]
        assert all(c["ok"] for c in refunds)


def test_a_rerun_after_a_crash_does_no_side_effect_twice(tmp_path: Path) -> None:
    """The same trial with and without crashes does the same side effects, once each: the
    re-run's repeats carry the same idempotency keys and the world replays them."""
    ls = load_scenario(scenario(tmp_path))
    replayed = 0
    # a model that makes no mistakes: a re-run that reads the world as the lost attempt
    # left it then decides as the uninterrupted run did, so their side effects compare
    sonnet = PROFILES["claude-sonnet-4-6"]
    steady = {sonnet.model: sonnet.model_copy(update={"skill": 1.0, "error_compounding": 0.0})}

    def once(profile: str, seed: int) -> tuple[TrialResult, Any]:
        probe = TrialProbe()
        r = asyncio.run(run_trial(make_spec(ls, None, profile, 0, seed),
                                  TrialEnv(MemoryRecorder(), profiles=steady), probe=probe))
        return r, probe.world

    for seed in range(6):
        crashed, world = once("crashy", seed)
        calm, calm_world = once("none", seed)
        assert any(f["source"] == "crash" for f in crashed.faults)
        assert world.executions == calm_world.executions
        assert world.snapshot() == calm_world.snapshot()
        # (the answer may differ: a re-run reads the world as the lost attempt left it)
        assert crashed.outcome == calm.outcome == "done"
        replayed += sum(world.replays.values())
    assert replayed  # some crash fell after a side effect, and the re-run's repeat was replayed


LIMITS = [
    ("llm_calls", "{llm_calls: 2}", lambda r: r.llm_calls == 2),
    ("tool_calls", "{tool_calls: 2}", lambda r: r.tool_calls <= 2),
    ("tokens_in", "{tokens_in: 2000}", lambda r: r.tokens_in <= 2000),
    ("tokens_out", "{tokens_out: 150}", lambda r: r.tokens_out <= 150),
    ("cost_usd", "{cost_usd: 0.004}", lambda r: r.cost_usd <= 0.004),
]


@pytest.mark.parametrize(("limit", "spec", "within"), LIMITS, ids=[x[0] for x in LIMITS])
def test_every_limit_stops_the_agent_at_it(tmp_path: Path, limit: str, spec: str,
                                          within: object) -> None:
    results = run(tmp_path, scenario(tmp_path, limits=spec), trials=2)
    for r in results:
        assert r.outcome == "budget_exhausted", r
        assert r.exhausted_limit == limit
        assert within(r), r  # type: ignore[operator]
        assert not r.goal_met
        if limit in ("llm_calls", "tokens_in"):  # the refused call reached the agent as the
            # SDK's own error (tokens_out and cost_usd first clamp max_tokens: the reply is cut)
            assert r.answer.startswith("stopped: BudgetExhausted 402"), r.answer


@settings(max_examples=12, deadline=None)
@given(limits=st.fixed_dictionaries({}, optional={
    "llm_calls": st.integers(0, 7), "tool_calls": st.integers(0, 5),
    "tokens_in": st.integers(0, 8000), "tokens_out": st.integers(0, 500),
    "cost_usd": st.floats(0, 0.03)}),
    profile=st.sampled_from(["none", "api-brownout", "flaky-tools", "crashy"]),
    seed=st.integers(0, 2**16))
def test_no_limit_is_ever_passed(limits: dict[str, Any], profile: str, seed: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        ls = load_scenario(scenario(Path(d), limits=json.dumps(limits) if limits else ""))
    r = asyncio.run(run_trial(make_spec(ls, None, profile, 0, seed), TrialEnv(MemoryRecorder())))
    for name, limit in limits.items():
        assert getattr(r, name) <= limit + 1e-12, (name, r)
    if r.outcome == "budget_exhausted":
        assert r.exhausted_limit in limits
    else:
        assert r.exhausted_limit is None


@pytest.mark.parametrize(("entry", "words"), [
    ("byo_parts:missing", "has no attribute 'missing'"),
    ("no_such_module:run", "no module named 'no_such_module'"),
    ("byo_parts:not_async", "not an async function"),
    ("byo_parts:AgentClass", "a class where an agent is expected"),
    ("not a reference", "unknown agent"),
])
def test_a_bad_entry_exits_2_naming_file_and_field(tmp_path: Path, entry: str, words: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario(tmp_path, entry=entry)
    assert main(["scenarios", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "agent.entry" in err and words in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_a_production_tool_asks_the_approver(tmp_path: Path, decision: str) -> None:
    path = scenario(tmp_path)
    text = path.read_text().replace("{tool: refund_order, input:", "{tool: refund_order_large, input:")
    text = text.replace("  state:\n", "  state:\n    settings: {refund_approval_threshold: 10}\n", 1)
    text += f"\nhuman:\n  decision: {decision}\n  latency_s: 5\n"
    path.write_text(text)
    # a model that makes no mistakes: every call it makes after the lookup is the refund
    sonnet = PROFILES["claude-sonnet-4-6"]
    (r,) = run(tmp_path, path, trials=1, profiles=(sonnet.model_copy(update={"skill": 1.0, "error_compounding": 0.0}),))
    assert r.escalations >= 1
    refunded = next(c for c in r.checks if "orders.A100.status" in c["check"])
    if decision == "approve":
        assert r.escalations == 1 and refunded["ok"] and r.goal_met
    else:  # denied: the tool never ran, the agent read an error result each time it asked
        assert not refunded["ok"] and not r.goal_met
        assert r.tool_calls == 1  # the lookup; no denied refund ran or was counted
        assert r.escalations > 1


def test_its_spans_are_named_as_the_runtimes(tmp_path: Path) -> None:
    path = scenario(tmp_path)
    run_suite(SuiteOptions(paths=(str(path),), trials=1, out=tmp_path / "out", tracing=True,
                           report_files=False, progress=False))
    text = (tmp_path / "out" / "spans.jsonl").read_text()
    for name in ("invoke_agent byo-refund", "chat claude-sonnet-4-6",
                 "execute_tool lookup_order", "execute_tool refund_order"):
        assert f'"{name}"' in text, name


def test_recorded_once_it_replays_the_same(tmp_path: Path) -> None:
    path = scenario(tmp_path)
    common = {"paths": (str(path),), "trials": 2, "faults": "api-brownout",
              "cassettes": tmp_path / "cassettes", "tracing": False, "report_files": False,
              "progress": False}
    recorded = run_suite(SuiteOptions(out=tmp_path / "a", record=True, **common)).results
    replayed = run_suite(SuiteOptions(out=tmp_path / "b", transport="replay", **common)).results
    assert any((tmp_path / "cassettes").iterdir())
    strip = {"transport"}
    assert ([r.model_dump(exclude=strip) for r in replayed]
            == [r.model_dump(exclude=strip) for r in recorded])


def test_a_replay_miss_is_the_runs_error_not_the_agents(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the agent swallows the SDK's connection error; the run still stops with exit 2
    path = scenario(tmp_path)
    cassettes = str(tmp_path / "cassettes")
    assert main(["run", str(path), "--record", "--cassettes", cassettes, "--trials", "1",
                 "--out", str(tmp_path / "a"), "--no-trace"]) == 0
    path.write_text(path.read_text().replace("arrived broken", "arrived cracked", 1))
    assert main(["run", str(path), "--transport", "replay", "--cassettes", cassettes,
                 "--trials", "1", "--out", str(tmp_path / "b"), "--no-trace"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cassette" in err.lower(), err


def test_a_registered_agent_name_runs_in_spawned_workers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import _plugins
    from harness.runner import _workers

    site = tmp_path / "site"
    info = site / "byo_agents-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: byo-agents\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[harness.agents]\nsdk-loop = byo_parts:run\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # byo_parts, for spawned workers
    _plugins.clear_caches()
    monkeypatch.setattr(_workers, "_forkable", lambda: False)  # spawn: a fresh interpreter
    try:
        result = run_suite(SuiteOptions(paths=(str(scenario(tmp_path, entry="sdk-loop")),),
                                        trials=2, workers=2, out=tmp_path / "out",
                                        tracing=False, progress=False, report_files=False))
    finally:
        _plugins.clear_caches()
    assert len(result.results) == 2 and all(r.goal_met for r in result.results)


KILL_TRIALS = 120


@pytest.mark.slow
def test_a_killed_run_of_an_own_loop_agent_resumes_with_nothing_lost_or_doubled(
        tmp_path: Path) -> None:
    """SIGKILL of a real `harness run --workers 2` mid-suite, then `--resume`: every trial
    has exactly one line, and each equals the uninterrupted run's, field for field (a
    trial cut off is run again from its start against a fresh world)."""
    path = scenario(tmp_path)
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    args = [str(path), "--trials", str(KILL_TRIALS), "--no-trace"]
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *args, "--workers", "2",
                             "--out", str(killed)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    trials = killed / "trials.jsonl"

    def lines() -> int:
        return trials.read_bytes().count(b"\n") if trials.exists() else 0

    deadline = time.monotonic() + 120
    try:
        while lines() < 10:
            assert proc.poll() is None, "harness run ended before it could be killed"
            assert time.monotonic() < deadline, "no trial finished within two minutes"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        assert proc.stderr is not None
        proc.stderr.close()
    assert 10 <= lines() < KILL_TRIALS, "the kill came too late to test anything"
    assert main(["run", *args, "--workers", "2", "--out", str(killed), "--resume"]) in (0, 1)
    whole = tmp_path / "whole"
    assert main(["run", *args, "--workers", "1", "--out", str(whole)]) in (0, 1)

    def judged(out: Path) -> list[dict[str, Any]]:
        return [json.loads(ln) for ln in (out / "trials.jsonl").read_text().splitlines()]

    resumed, uninterrupted = judged(killed), judged(whole)
    assert [r["trial"] for r in resumed] == list(range(KILL_TRIALS))  # none lost, none twice
    assert resumed == uninterrupted
