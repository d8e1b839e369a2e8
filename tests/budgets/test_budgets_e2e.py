"""The property the command exists for: limits proposed from a run, written with
``--write`` and run again, keep the completion rate within the first run's interval and
cut the P99 cost.

The scenario is a copy of the support refund with its limits out of reach, so the first
run measures what the agent uses when nothing stops it (a run with every limit off in
all but name); simulated transport, virtual time, one process: a few seconds a run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.metrics import percentile, wilson
from harness.report import load_trials

FIXTURE = Path(__file__).with_name("refund-unbounded.yaml")
TRIALS = "80"  # about 65 meet their goal: enough for the 0.95 quantile (20 needed)


def _run(scenario: Path, out: Path) -> tuple[int, int, float]:
    code = main(["run", str(scenario), "--trials", TRIALS, "--workers", "1", "--no-trace",
                 "--out", str(out)])
    assert code in (0, 1)
    df = load_trials(out)
    return int(df["goal_met"].sum()), len(df), percentile(list(df["cost_usd"]), 99)


@pytest.mark.slow
def test_budgets_from_a_run_hold_completion_and_cut_the_p99_cost(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "refund.yaml"
    shutil.copy(FIXTURE, scenario)
    met, n, p99 = _run(scenario, tmp_path / "before")
    lo, hi = wilson(met, n)
    capsys.readouterr()
    assert main(["budgets", str(tmp_path / "before"), "--quantile", "0.95", "--write"]) == 0
    out = capsys.readouterr().out
    assert f"wrote agent.limits in {scenario}" in out
    assert "100000" not in scenario.read_text()  # every limit was replaced
    met2, n2, p99_2 = _run(scenario, tmp_path / "after")
    assert n2 == n
    assert lo <= met2 / n2 <= hi, (met, met2, n)
    assert p99_2 < p99, (p99, p99_2)
    after = load_trials(tmp_path / "after")
    assert after["exhausted_limit"].notna().any()  # the new limits did stop the spirals
