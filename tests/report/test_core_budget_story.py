"""The report of a run holding each trial with budgets and without: grouped by variant,
the budget story's numbers per suite, the headline chart first, verdicts per variant,
and ``compare`` pairing runs with and without the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli import main
from harness.metrics import wilson
from harness.report import build_report, load_trials, write_report
from harness.report._verdicts import ScenarioInfo
from tests.report.core_rows import row, write_rows

SUITES = {"alpha": "a1", "beta": "b1"}
N = 40


def _cost(suite: str, variant: str, t: int) -> float:
    """Budgeted costs stop near a cap; unbudgeted ones run on in a tail."""
    base = 0.01 if suite == "alpha" else 0.1
    if variant == "on":
        return round(base * (1 + (t % 5) / 10), 6)
    return round(base * (1 + (t % 5) / 10) * (1 + (t % 7 == 0) * 9), 6)


def _goal(variant: str, t: int) -> bool:
    return t % 4 != 0 if variant == "on" else t % 8 != 0


def story_rows() -> list[dict[str, Any]]:
    rows = []
    for suite, scenario in SUITES.items():
        for variant in ("on", "off"):
            for t in range(N):
                goal = _goal(variant, t)
                r = row(suite=suite, scenario=scenario, trial=t, seed=1000 + t,
                        cost_usd=_cost(suite, variant, t), goal_met=goal,
                        outcome="done" if goal else
                        "budget_exhausted" if variant == "on" else "failed",
                        exhausted_limit=None if goal or variant == "off" else "cost_usd")
                if variant == "off":  # as the runner writes it: the field only when off
                    r["budgets"] = "off"
                    r["run_id"] = r["log_id"] = f"{scenario}/m/none/nobudget/{t}"
                rows.append(r)
    return rows


@pytest.fixture(scope="module")
def story_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("story")
    write_rows(folder / "trials.jsonl", story_rows())
    return folder


def test_the_budget_story_holds_each_variants_numbers_per_suite(story_run: Path) -> None:
    scenarios = {name: ScenarioInfo(name, {"min_goal_rate": 0.9}) for name in SUITES.values()}
    report = build_report(story_run, scenarios=scenarios)
    s = report.summary
    assert s["schema_version"] == 2
    story = s["budget_story"]
    assert [e["suite"] for e in story] == ["alpha", "beta", None]
    for e in story:
        suites = [e["suite"]] if e["suite"] else list(SUITES)
        for variant in ("on", "off"):
            costs = np.array([_cost(x, variant, t) for x in suites for t in range(N)])
            goals = [_goal(variant, t) for _ in suites for t in range(N)]
            d = e[variant]
            assert d["trials"] == len(costs) and d["goal_met"] == sum(goals)
            assert d["goal_completion_rate"] == pytest.approx(sum(goals) / len(goals))
            assert d["goal_completion_ci"] == pytest.approx(list(wilson(sum(goals), len(goals))))
            assert d["cost_mean"] == pytest.approx(costs.mean())
            assert d["cost_p99"] == pytest.approx(np.percentile(costs, 99))
            assert d["cost_max"] == pytest.approx(costs.max())
            lo, hi = d["cost_p99_ci"]
            assert lo <= d["cost_p99"] <= hi
            assert d["budget_exhausted"] == (sum(not g for g in goals) if variant == "on" else 0)
        assert e["p99_ratio"] == pytest.approx(e["off"]["cost_p99"] / e["on"]["cost_p99"])
        assert e["p99_ratio"] > 5  # the tail the limits held back
        assert e["max_ratio"] == pytest.approx(e["off"]["cost_max"] / e["on"]["cost_max"])
        pairs = e["paired"]
        assert pairs["pairs"] == N * len(suites)  # each trial met its twin on the same seed
        assert pairs["completion_a"] == pytest.approx(e["on"]["goal_completion_rate"])
        assert pairs["completion_b"] == pytest.approx(e["off"]["goal_completion_rate"])
    # groups split by variant, the pooled ones say null
    by = [g["by"] for g in s["groups"]]
    assert by[0] == dict.fromkeys(("suite", "scenario", "model", "fault_profile", "budgets"))
    assert {b["budgets"] for b in by} == {None, "on", "off"}
    alpha_on = next(g for g in s["groups"] if g["by"] == {**by[0], "suite": "alpha",
                                                          "budgets": "on"})
    assert alpha_on["trials"] == N
    # verdicts per variant: the unbudgeted one is judged on crashes alone
    verdicts = {(v["scenario"], v["budgets"]): v for v in s["verdicts"]}
    assert set(verdicts) == {(sc, b) for sc in SUITES.values() for b in ("on", "off")}
    assert not verdicts[("a1", "on")]["passed"]  # 75% < 90%
    assert verdicts[("a1", "off")]["passed"] and verdicts[("a1", "off")]["thresholds"] == {}


def test_the_report_files_lead_with_the_budget_story(story_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = write_report(story_run, out)
    names = {p.name for p in report.files}
    assert "budget_story.png" in names
    assert (out / "budget_story.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "report.md").read_text()
    assert md.index("## The budget story") < md.index("## Cost per task")
    assert "![Cost per task with budgets and without, per suite](budget_story.png)" in md
    assert "| alpha | without | 40 |" in md
    page = (out / "report.html").read_text()
    assert page.index("id='budget-story-section'") < page.index('id="overview-section"')
    assert "data-chart='budget_story.png'" in page
    assert page.count("<tr data-suite=") == 2 * 3
    # the same trials give the same files, whatever the order of the lines
    lines = (story_run / "trials.jsonl").read_text().splitlines()
    shuffled = tmp_path / "shuffled"
    write_rows(shuffled / "trials.jsonl", [json.loads(x) for x in reversed(lines)])
    again = write_report(shuffled, tmp_path / "again")
    assert again.summary == report.summary
    assert (tmp_path / "again" / "budget_story.png").read_bytes() == (
        out / "budget_story.png").read_bytes()


def test_a_run_without_the_axis_has_no_story_and_no_budgets_groups(tmp_path: Path) -> None:
    rows = [r for r in story_rows() if "budgets" not in r]
    folder = tmp_path / "plain"
    write_rows(folder / "trials.jsonl", rows)
    assert load_trials(folder)["budgets"].isna().all()  # absent, never claimed "on"
    report = write_report(folder)
    assert report.summary["budget_story"] == []
    assert all(g["by"]["budgets"] is None for g in report.summary["groups"])
    assert all(v["budgets"] is None for v in report.summary["verdicts"])
    assert not (folder / "budget_story.png").exists()
    assert "budget" not in (folder / "report.md").read_text().split("## Verdicts")[0].lower()
    # a run of unbudgeted trials alone has the axis, but no story to tell side by side
    only_off = [r for r in story_rows() if "budgets" in r]
    write_rows(tmp_path / "off" / "trials.jsonl", only_off)
    off = build_report(tmp_path / "off")
    assert off.summary["budget_story"] == []
    assert {g["by"]["budgets"] for g in off.summary["groups"]} == {None, "off"}


def test_compare_pairs_a_run_without_the_field_with_the_budgeted_half_of_one_with_it(
        story_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = write_rows(tmp_path / "plain" / "trials.jsonl",
                       [r for r in story_rows() if "budgets" not in r])
    assert main(["compare", str(plain.parent), str(story_run), "--out",
                 str(tmp_path / "cmp")]) == 0
    [step] = json.loads((tmp_path / "cmp" / "compare.json").read_text())["comparisons"]
    [model] = step["models"]
    assert model["pairs"] == N * len(SUITES)  # the budgeted trials, each with its own line
    assert model["completion_diff"] == 0.0
    cells = {(c["scenario"], c.get("budgets")): c for c in step["cells"]}
    assert set(cells) == {(sc, "on") for sc in SUITES.values()}
    assert main(["report", str(story_run)]) == 0
    capsys.readouterr()


def test_a_budgets_value_other_than_on_or_off_exits_2_naming_line_and_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = story_rows()[:3]
    rows[2]["budgets"] = "sometimes"
    path = write_rows(tmp_path / "trials.jsonl", rows)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert "trials.jsonl:3, field 'budgets'" in err and "sometimes" in err
