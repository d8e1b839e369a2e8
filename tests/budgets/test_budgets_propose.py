"""The pure proposal: a quantile of the goal-met trials' use times a margin, rounded up,
and the completion each limit would have cost."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.budgets import KINDS, TooFewTrials, Trial, needed_trials, propose
from harness.budgets._propose import cut_off, limit_for, passing
from harness.metrics import percentile, wilson


def _trial(goal_met: bool, **used: float | None) -> Trial:
    return Trial(goal_met=goal_met, used={k.limit: used.get(k.limit) for k in KINDS})


_value = {
    "llm_calls": st.integers(0, 500), "tool_calls": st.integers(0, 500),
    "tokens_in": st.integers(0, 10**9), "tokens_out": st.integers(0, 10**7),
    "cost_usd": st.floats(0, 50, allow_nan=False), "wall_time_s": st.floats(0, 1e5),
}
_trials = st.lists(
    st.builds(lambda met, used: Trial(goal_met=met, used=used), st.booleans(),
              st.fixed_dictionaries({k: st.one_of(st.none(), s) for k, s in _value.items()})),
    min_size=1, max_size=60)
_quantile = st.sampled_from([0.5, 0.75, 0.8, 0.9, 0.95, 0.99])
_margin = st.floats(1, 5, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(_trials, _quantile, _margin, st.floats(0, 3))
def test_limits_cover_the_quantile_cut_only_above_it_and_grow_with_the_margin(
        trials: list[Trial], q: float, margin: float, more: float) -> None:
    met = [t for t in trials if t.goal_met]
    if len(met) < needed_trials(q):
        with pytest.raises(TooFewTrials) as err:
            propose(trials, q, margin)
        assert (err.value.have, err.value.need) == (len(met), needed_trials(q))
        return
    p = propose(trials, q, margin)
    wider = propose(trials, q, margin + more)
    assert (p.trials, p.goal_met) == (len(trials), len(met))
    for lp, lw in zip(p.limits, wider.limits, strict=True):
        seen = [float(v) for t in met if (v := t.used[lp.kind.limit]) is not None]
        if not seen:
            assert lp.limit is None and lp.value is None
            continue
        assert lp.quantile_value == percentile(seen, q * 100)
        assert lp.limit is not None and lp.value is not None
        assert lp.value >= lp.quantile_value  # never below the quantile
        assert lp.limit >= Decimal(repr(lp.quantile_value)) * Decimal(repr(margin))
        if lp.kind.integer:
            assert isinstance(lp.value, int)
        # a goal-met trial at or below the quantile is never cut off
        assert not any(v > lp.value for v in seen if v <= lp.quantile_value)
        assert lp.cut == sum(v > lp.value for v in seen)
        assert lp.measured == len(seen)
        # a wider margin never gives a tighter limit, nor cuts more
        assert lw.limit is not None and lw.limit >= lp.limit and lw.cut <= lp.cut
        assert "e" not in lp.text().lower()  # a plain number in the YAML, never 1e-05
    assert wider.kept >= p.kept
    assert p.kept == sum(1 for t in met if not cut_off(t, p.values()))
    assert p.projected_ci == wilson(p.kept, p.trials)
    assert passing(trials, p.values(), 0.8) <= p.kept
    if margin > 1.25:  # no trial up to the quantile reaches 80% of a limit
        for lp in p.limits:
            used = [t.used[lp.kind.limit] for t in met]
            below = [v for v in used if v is not None and v <= (lp.quantile_value or 0)]
            assert lp.value is None or all(v < 0.8 * lp.value for v in below if v > 0)
    assert p.completion_ci == wilson(p.goal_met, p.trials)


def test_needed_trials_is_one_over_the_tail() -> None:
    assert [needed_trials(q) for q in (0.5, 0.9, 0.95, 0.99, 0.999)] == [2, 10, 20, 100, 1000]
    assert needed_trials(0.97) == 34  # 33.3 rounds up
    for bad in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError):
            needed_trials(bad)


def test_rounding_is_decimal_and_upwards() -> None:
    assert limit_for(10, 1.2, True) == 12  # not 13 from 12.000000000000002
    assert limit_for(10.01, 1.0, True) == 11
    assert limit_for(0.013734, 1.0, False) == Decimal("0.0138")
    assert limit_for(0.0138, 1.0, False) == Decimal("0.0138")  # already there: kept
    assert limit_for(1234.5, 1.0, False) == Decimal("1240")
    assert format(limit_for(1.23e-5, 1.0, False), "f") == "0.0000123"
    assert format(limit_for(1234.5, 1.0, False), "f") == "1240"


def test_a_worked_example() -> None:
    """Calls 1..9 and one spiral of 100 in goal-met trials, two failures that spiralled."""
    trials = [_trial(True, llm_calls=n, cost_usd=n / 100) for n in range(1, 10)]
    trials += [_trial(True, llm_calls=100, cost_usd=1.0)]
    trials += [_trial(False, llm_calls=500, cost_usd=5.0)] * 2
    p = propose(trials, 0.9, 1.0)
    calls, cost = p.limits[0], p.limits[4]
    assert calls.quantile_value == pytest.approx(18.1)  # 9 + 0.1 x (100 - 9)
    assert calls.value == 19 and calls.cut == 1 and calls.measured == 10
    assert cost.value == pytest.approx(0.181) and cost.cut == 1
    assert [lp.value for lp in p.limits[1:4]] == [None] * 3  # not measured: no limit
    assert (p.trials, p.goal_met, p.kept) == (12, 10, 9)
    assert p.projected == 9 / 12 and p.completion == 10 / 12
    assert p.values() == {"llm_calls": 19, "cost_usd": 0.181}
    with pytest.raises(TooFewTrials):
        propose(trials[:9] + trials[10:], 0.9, 1.0)  # nine goal-met trials of ten needed


def test_reaching_a_limit_is_not_being_cut_off() -> None:
    t = _trial(True, llm_calls=10, cost_usd=0.5)
    assert not cut_off(t, {"llm_calls": 10, "cost_usd": 0.5})
    assert cut_off(t, {"llm_calls": 9})
    assert cut_off(t, {"cost_usd": 0.49})
    assert not cut_off(_trial(True), {"llm_calls": 0})  # not measured: not judged


@pytest.mark.parametrize("margin", [0.99, float("inf"), float("nan")])
def test_a_margin_below_one_or_not_finite_is_refused(margin: float) -> None:
    with pytest.raises(ValueError, match="margin"):
        propose([_trial(True, llm_calls=1)] * 2, 0.5, margin)


def test_trials_that_would_pass_the_threshold_are_counted() -> None:
    trials = [_trial(True, llm_calls=n) for n in (5, 7, 8, 10, 11)] + [_trial(False, llm_calls=9)]
    caps = {"llm_calls": 10}
    assert passing(trials, caps, 0.8) == 2  # 8 and 10 reach 80%; 11 is cut off; 9 failed
    assert passing(trials, caps, 0.5) == 4
    assert passing(trials, {"llm_calls": 0}, 0.8) == 0  # a zero limit cuts, never alerts
