"""The budgets axis: ``--budgets on,off`` runs each trial with the agent's limits and with
every limit removed, paired on the same seed, into one run folder.

The fixtures in ``budget_story/`` are small on purpose: ``tight-refund`` cannot finish
within its call limit (budgeted, it ends ``budget_exhausted``), ``roomy-lookup`` can.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.core import RunLimits
from harness.runner import SuiteOptions, plan, run_suite, unbudgeted
from harness.runner._trial import TrialEnv
from harness.scenario import load_all
from harness.store import MemoryRecorder, SQLiteRecorder

HERE = Path(__file__).parent
STORY = HERE / "budget_story"
TIGHT = STORY / "tight-refund.yaml"


def _lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]


def _run(out: Path, *paths: Path, **kw: object) -> list[dict[str, object]]:
    run_suite(SuiteOptions(paths=tuple(str(p) for p in paths), out=out, tracing=False,
                           progress=False, report_files=False, **kw))  # type: ignore[arg-type]
    return _lines(out)


def test_the_plan_pairs_each_unbudgeted_trial_with_its_budgeted_twin() -> None:
    loaded = load_all([str(STORY)])
    specs = plan(loaded, SuiteOptions(paths=(str(STORY),), trials=3, budgets=("on", "off"),
                                      models=("claude-haiku-4-5", "claude-sonnet-4-6")))
    assert len(specs) == 2 * 2 * 2 * 3
    on = {(s.scenario.scenario.name, s.model, s.trial): s for s in specs if s.budgets == "on"}
    off = {(s.scenario.scenario.name, s.model, s.trial): s for s in specs if s.budgets == "off"}
    assert on.keys() == off.keys()
    for k, s in on.items():
        twin = off[k]
        assert twin.seed == s.seed and twin.profile == s.profile
        assert s.run_id == f"{k[0]}/{k[1]}/none/{k[2]}"  # the budgeted id is as it always was
        assert twin.run_id == f"{k[0]}/{k[1]}/none/nobudget/{k[2]}"
        assert twin.identity == s.identity == s.run_id  # what retry waits derive from
    # plan order: scenario, model, then the variants as given, then trial
    first = [(s.model, s.budgets, s.trial) for s in specs[:6]]
    assert first == [("claude-haiku-4-5", b, t) for b in ("on", "off") for t in range(3)]
    only_off = plan(loaded, SuiteOptions(paths=(str(STORY),), trials=2, budgets=("off",)))
    assert {s.budgets for s in only_off} == {"off"}


def test_unbudgeted_removes_every_limit_and_keeps_the_agents_structure() -> None:
    [ls] = load_all([str(TIGHT)])
    config = TrialEnv(recorder=MemoryRecorder()).agent_config(
        plan([ls], SuiteOptions(paths=(str(TIGHT),), trials=1))[0])
    role = config.roles[0]
    limited = config.model_copy(update={"roles": (
        role.model_copy(update={"limits": RunLimits(llm_calls=1), "budget_share": 0.5}),)})
    assert limited.limits.llm_calls == 2 and limited.escalation.budget_fraction == 0.5
    free = unbudgeted(limited)
    assert free.limits == RunLimits()
    assert all(r.limits is None and r.budget_share is None for r in free.roles)
    assert free.escalation.budget_fraction is None
    assert free.roles[0].max_turns == role.max_turns
    assert free.orchestrator == config.orchestrator and free.retry == config.retry
    assert free.escalation.model_copy(update={"budget_fraction": 0.5}) == config.escalation


def test_without_budgets_a_trial_runs_past_the_limit_that_stops_its_twin(tmp_path: Path) -> None:
    rows = _run(tmp_path / "run", TIGHT, trials=3, budgets=("on", "off"))
    on = [r for r in rows if "budgets" not in r]
    off = [r for r in rows if r.get("budgets") == "off"]
    assert len(on) == len(off) == 3  # "budgets" is written only when off
    for a, b in zip(on, off, strict=True):
        assert a["outcome"] == "budget_exhausted" and a["exhausted_limit"] == "llm_calls"
        assert a["llm_calls"] == 2 and a["escalations"] == 1  # budget_fraction fired at 50%
        assert b["outcome"] == "done" and b["exhausted_limit"] is None and b["goal_met"]
        assert b["llm_calls"] > 2 and b["escalations"] == 0  # no limit, no fraction of one
        assert (b["seed"], b["trial"]) == (a["seed"], a["trial"])
        assert b["run_id"] == b["log_id"] == str(a["run_id"]).replace(
            "/none/", "/none/nobudget/")
    # the unbudgeted trial's log holds a configuration without limits, under its own key
    recorder = SQLiteRecorder(tmp_path / "run" / "events.sqlite")
    try:
        first = json.loads(recorder.read_run(str(off[0]["log_id"]))[0].payload)
    finally:
        recorder.close()
    assert first["run_id"] == on[0]["run_id"]  # paired identity: the same retry waits
    assert first["config"]["limits"] == RunLimits().model_dump(mode="json")


def test_an_own_loop_agent_without_budgets_is_not_metered_to_its_limit(tmp_path: Path) -> None:
    text = TIGHT.read_text()
    head, rest = text.split("\nagent:\n", 1)
    _, world = rest.split("\nworld:\n", 1)
    path = tmp_path / "own-loop.yaml"
    path.write_text(head.replace("name: tight-refund", "name: own-loop")
                    + '\nagent:\n  entry: "byo_parts:run"\n  model: claude-haiku-4-5\n'
                    "  limits: {llm_calls: 1}\n\nworld:\n" + world)
    rows = _run(tmp_path / "run", path, trials=3, budgets=("on", "off"))
    on = [r for r in rows if "budgets" not in r]
    off = [r for r in rows if r.get("budgets") == "off"]
    assert any(r["outcome"] == "budget_exhausted" for r in on)
    assert not any(r["outcome"] == "budget_exhausted" for r in off)
    for a, b in zip(on, off, strict=True):
        assert a["llm_calls"] == 1
        if a["outcome"] == "budget_exhausted":  # its twin made the call the meter refused
            assert b["llm_calls"] > 1, b
        else:  # it needed one call: the twin, on the same seed, did the same
            assert (b["llm_calls"], b["cost_usd"], b["answer"]) == (
                a["llm_calls"], a["cost_usd"], a["answer"])


def test_workers_and_variants_give_the_same_file_as_one_process(tmp_path: Path) -> None:
    one = _run(tmp_path / "one", STORY, trials=2, budgets=("on", "off"), workers=1)
    two = _run(tmp_path / "two", STORY, trials=2, budgets=("on", "off"), workers=2)
    assert one == two
    assert [r.get("budgets", "on") for r in one[:4]] == ["on", "on", "off", "off"]


def test_resume_with_other_budgets_options_is_refused_naming_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    common = [str(TIGHT), "--trials", "1", "--out", str(out), "--no-trace", "--workers", "1"]
    assert main(["run", *common]) == 1  # budgeted, it misses its goal-rate threshold
    assert "budgets" not in json.loads((out / "run.json").read_text())["options"]
    capsys.readouterr()
    assert main(["run", *common, "--resume", "--no-budgets"]) == 2
    err = capsys.readouterr().err
    assert "option budgets: was None, now ['off']" in err
    out2 = tmp_path / "both"
    both = [str(TIGHT), "--trials", "1", "--out", str(out2), "--no-trace", "--workers", "1"]
    assert main(["run", *both, "--budgets", "on,off"]) == 1  # the budgeted half fails
    assert json.loads((out2 / "run.json").read_text())["options"]["budgets"] == ["on", "off"]
    assert main(["run", *both, "--budgets", "on,off", "--resume"]) == 1  # the same: resumes
    capsys.readouterr()
    assert main(["run", *both, "--budgets", "off,on", "--resume"]) == 2
    assert "option budgets" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "says"), [
    (["--budgets", "maybe"], "--budgets 'maybe': give on, off or both"),
    (["--budgets", "on,,off"], "--budgets 'on,,off'"),
    (["--no-budgets", "--budgets", "on"], "--no-budgets means --budgets off"),
])
def test_bad_budgets_options_exit_2_before_any_folder(
        argv: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(TIGHT), "--out", str(out), *argv]) == 2
    assert says in capsys.readouterr().err
    assert not out.exists()
