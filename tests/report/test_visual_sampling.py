"""Which trials the page details: every trial that did not pass (up to a cap) and an
evenly spaced, deterministic sample of the rest; the page states the counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report._drilldown import choose_trials, passed_mask
from harness.report._html import render_page

OUTCOMES = ["done", "failed", "budget_exhausted", "escalated", "crashed"]


def frame(outcomes: list[str], goals: list[bool]) -> pd.DataFrame:
    n = len(outcomes)
    return pd.DataFrame({"suite": "s", "scenario": [f"sc{i % 3}" for i in range(n)],
                         "model": "m", "fault_profile": "none", "trial": list(range(n)),
                         "outcome": outcomes, "goal_met": goals, "cost_usd": 0.01,
                         "log_id": [f"log{i}" for i in range(n)]})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(OUTCOMES), st.booleans()), max_size=300),
       st.integers(0, 50), st.integers(0, 50))
def test_every_failed_trial_up_to_the_cap_and_a_fixed_sample_of_the_rest(
        rows: list[tuple[str, bool]], max_failed: int, max_passed: int) -> None:
    df = frame([o for o, _ in rows], [g for _, g in rows])
    sel = choose_trials(df, max_failed=max_failed, max_passed=max_passed)
    ok = np.array([o == "done" and g for o, g in rows], dtype=bool)
    picked = set(sel.rows.tolist())
    failed = {i for i, good in enumerate(ok) if not good}
    assert sel.total == len(rows) and sel.failed == len(failed)
    assert sel.passed == len(rows) - len(failed)
    assert sel.failed_shown == min(len(failed), max_failed)
    assert sel.passed_shown == min(sel.passed, max_passed)
    assert len(picked) == len(sel.rows) == sel.failed_shown + sel.passed_shown
    assert list(sel.rows) == sorted(picked)
    if len(failed) <= max_failed:
        assert failed <= picked
    assert len(picked & failed) == sel.failed_shown
    again = choose_trials(df.copy(), max_failed=max_failed, max_passed=max_passed)
    assert again.rows.tolist() == sel.rows.tolist()


def test_a_missing_goal_counts_as_not_met() -> None:
    df = frame(["done", "done"], [True, True])
    df["goal_met"] = pd.array([True, None], dtype="boolean")
    assert passed_mask(df).tolist() == [True, False]


def test_a_hundred_thousand_trials_detail_every_failure_and_say_so() -> None:
    n = 100_000
    outcomes = np.where(np.arange(n) % 20 == 0, "failed", "done").tolist()
    df = frame(outcomes, [o == "done" for o in outcomes])
    sel = choose_trials(df)
    assert sel.failed == sel.failed_shown == 5_000
    assert sel.passed_shown == 1_000
    # the sample is spread over the whole run, not its first rows
    passed_rows = [r for r in sel.rows.tolist() if outcomes[r] == "done"]
    assert passed_rows[0] < n // 100 and passed_rows[-1] > n - n // 100
    html = render_page({"groups": []}, df, None, {})
    assert "Of 100,000 trials this page lists all 5,000 trials that did not pass" in html
    assert "an evenly spaced sample of 1,000 of the 95,000 that passed" in html
