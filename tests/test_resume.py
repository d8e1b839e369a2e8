"""What ``--resume`` decides is done, as pure functions of the plan and the file's lines:
a trial with a whole line never runs again, every other planned trial does, and the
verdict counts each planned trial once (lines for trials no longer planned are left out).
"""

from __future__ import annotations

from pathlib import Path

from harness.runner import SuiteOptions, TrialResult, plan
from harness.runner._resume import already_done, merge, remaining, spec_key
from harness.scenario import load_all

ROOT = Path(__file__).resolve().parent.parent
MUG = ROOT / "tests/fixtures/classic/support/refund-broken-mug.yaml"


def _specs(trials: int = 3, models: tuple[str, ...] = ()) -> list:  # type: ignore[type-arg]
    loaded = load_all([str(MUG)])
    return plan(loaded, SuiteOptions(paths=(str(MUG),), trials=trials, models=models))


def _line(scenario: str, model: str, profile: str, trial: int, **kw: object) -> TrialResult:
    fields: dict[str, object] = {
        "run_id": f"{scenario}/{model}/{profile}/{trial}", "scenario": scenario,
        "suite": "s", "model": model, "fault_profile": profile, "trial": trial, "seed": 1,
        "outcome": "done", "goal_met": True, "cost_usd": 0.0, "llm_calls": 1,
        "tool_calls": 0, "tokens_in": 1, "tokens_out": 1, "duration_s": 1.0,
        "escalations": 0, "retries": 0, "faults": [], **kw}
    return TrialResult.model_validate(fields)


def test_a_spec_key_is_the_key_its_line_carries() -> None:
    spec = _specs(models=("claude-haiku-4-5",))[2]
    assert spec_key(spec) == ("refund-broken-mug", "claude-haiku-4-5", "none", 2, "on")
    assert spec_key(_specs()[0]) == ("refund-broken-mug", "configured", "none", 0, "on")
    assert spec_key(spec) == _line("refund-broken-mug", "claude-haiku-4-5", "none", 2).key


def test_only_trials_without_a_line_run_again_in_plan_order() -> None:
    specs = _specs(trials=4)
    done = already_done([_line("refund-broken-mug", "configured", "none", 1),
                         _line("refund-broken-mug", "configured", "none", 3)])
    assert [s.trial for s in remaining(specs, done)] == [0, 2]
    assert remaining(specs, {}) == specs
    everything = already_done(_line("refund-broken-mug", "configured", "none", t)
                              for t in range(4))
    assert remaining(specs, everything) == []


def test_a_line_of_another_model_profile_or_scenario_does_not_count_as_done() -> None:
    specs = _specs(trials=1)
    for other in (("other", "configured", "none"), ("refund-broken-mug", "m", "none"),
                  ("refund-broken-mug", "configured", "chaos")):
        done = already_done([_line(*other, 0)])
        assert [spec_key(s) for s in remaining(specs, done)] == [spec_key(specs[0])], other


def test_a_line_of_the_other_budgets_variant_does_not_count_as_done() -> None:
    loaded = load_all([str(MUG)])
    specs = plan(loaded, SuiteOptions(paths=(str(MUG),), trials=1, budgets=("on", "off")))
    assert [s.budgets for s in specs] == ["on", "off"]
    done = already_done([_line("refund-broken-mug", "configured", "none", 0, budgets="off")])
    assert [s.budgets for s in remaining(specs, done)] == ["on"]
    done = already_done([_line("refund-broken-mug", "configured", "none", 0)])
    assert [s.budgets for s in remaining(specs, done)] == ["off"]


def test_a_key_written_twice_counts_once_with_its_last_line() -> None:
    first = _line("refund-broken-mug", "configured", "none", 0, goal_met=False)
    last = _line("refund-broken-mug", "configured", "none", 0, goal_met=True)
    done = already_done([first, last])
    assert list(done.values()) == [last]


def test_the_verdict_counts_planned_trials_once_in_key_order() -> None:
    specs = _specs(trials=3)
    old = _line("refund-broken-mug", "configured", "none", 2)
    stray = _line("refund-broken-mug", "configured", "none", 7)  # a larger earlier plan
    done = already_done([stray, old])
    fresh = [_line("refund-broken-mug", "configured", "none", 1),
             _line("refund-broken-mug", "configured", "none", 0)]
    merged = merge(specs, done, fresh)
    assert [r.trial for r in merged] == [0, 1, 2]
    assert merged[2] is old
    assert merge(specs, {}, []) == []
