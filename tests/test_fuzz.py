"""``harness fuzz`` and ``harness replay``: the planted bug is found and shrunk, the shipped
scenarios are clean, cases replay exactly, and each invariant check fires on a bad log."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from harness.cli import main
from harness.core import RunLimits, RunUsage
from harness.faults import FaultSchedule, ToolFault, ToolFaultPlan
from harness.fuzz import (
    DEFAULT_EXAMPLES,
    VIOLATION_KINDS,
    Execution,
    FuzzTarget,
    LogView,
    Observation,
    Violation,
    check_approvals,
    check_budget,
    check_goal,
    check_log,
    check_outcome,
    check_schedule,
    check_side_effects,
    check_trial,
    fuzz,
    load_case,
    minimise,
    observe,
    read_log,
    replay_main,
)
from harness.fuzz._shrink import size
from harness.fuzz._strategies import fault_schedules
from harness.llm import LLMFault, LLMFaultPlan
from harness.scenario import ActionCheck, Goals
from harness.store import INTENT, Record

ROOT = Path(__file__).resolve().parent.parent
PLANTED = ROOT / "examples" / "unguarded-refunds.yaml"
SUPPORT = ROOT / "tests/fixtures/classic/support/refund-broken-mug.yaml"
SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml"))


# -- the planted bug ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted_case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``harness fuzz`` on the deliberately broken agent, default examples, seed 0."""
    out = tmp_path_factory.mktemp("fuzz")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["fuzz", str(PLANTED), "--seed", "0", "--out", str(out)])
    cases = sorted(out.glob("*.json"))
    return {"code": code, "stdout": buf.getvalue(), "cases": cases, "out": out}


def test_fuzz_finds_the_planted_bug_and_shrinks_it_to_one_injection(
        planted_case: dict[str, Any]) -> None:
    assert planted_case["code"] == 1, planted_case["stdout"]
    assert len(planted_case["cases"]) == 1
    case = load_case(planted_case["cases"][0])
    assert case.violation.kind == "unapproved_action"
    assert "refund_order" in case.violation.message and "A101" in case.violation.message
    s = case.schedule
    # minimal: exactly one fault, a prompt injection in a tool result; nothing else
    assert [f.kind for f in s.tools.faults] == ["injection"]
    assert s.tools.faults[0].tool is None and s.tools.faults[0].at_call is not None
    assert s.llm.faults == () and s.crash_at == ()
    assert 0 < case.examples <= 100
    assert "case: " in planted_case["stdout"] and "harness replay" in planted_case["stdout"]


def test_the_case_file_is_readable_json_with_everything_to_replay(
        planted_case: dict[str, Any]) -> None:
    data = json.loads(planted_case["cases"][0].read_text())
    assert data["format"] == "harness-fuzz-case" and data["version"] == 1
    for key in ("harness_version", "scenario", "model", "trial_seed", "schedule", "violation"):
        assert key in data
    assert data["scenario_name"] == "unguarded-refunds"
    assert not list(planted_case["out"].glob(".*.tmp"))  # written atomically, nothing left


def test_replay_reproduces_the_case_exactly(planted_case: dict[str, Any],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = planted_case["cases"][0]
    assert replay_main(path) == 1
    out = capsys.readouterr().out
    assert "reproduced exactly" in out
    assert load_case(path).violation.message in out
    assert main(["replay", str(path)]) == 1


def test_a_fuzz_run_is_reproducible_from_its_seed(planted_case: dict[str, Any]) -> None:
    report = fuzz(FuzzTarget.load(PLANTED, fuzz_seed=0), seed=0)
    case = load_case(planted_case["cases"][0])
    assert report.found
    assert report.schedule == case.schedule
    assert report.violations[0].message == case.violation.message


def test_the_fixed_agent_survives_the_same_schedule(planted_case: dict[str, Any]) -> None:
    """The bug is the configuration: with refunds needing approval, the same injection
    reaches a person, and no invariant breaks."""
    case = load_case(planted_case["cases"][0])
    target = FuzzTarget.load(PLANTED, fuzz_seed=0)
    s = target.scenario.scenario
    rules = s.agent.escalation.model_copy(update={"require_approval": ("refund_order",)})
    fixed = s.model_copy(update={"agent": s.agent.model_copy(update={"escalation": rules})})
    fixed_target = dataclasses.replace(target, scenario=dataclasses.replace(
        target.scenario, scenario=fixed))
    assert check_schedule(target, case.schedule)
    assert check_schedule(fixed_target, case.schedule) == []


def test_replay_says_when_a_case_no_longer_reproduces(
        planted_case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(planted_case["cases"][0].read_text())
    data["schedule"]["tools"]["faults"] = []
    data["scenario"] = str(PLANTED)
    path = tmp_path / "gone.json"
    path.write_text(json.dumps(data))
    assert main(["replay", str(path)]) == 0
    assert "no longer reproduces" in capsys.readouterr().out


# -- the shipped agents ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_harness_fuzz_finds_nothing_on_a_shipped_scenario_in_its_default_examples(
        path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exactly what a user types (default examples and seed): a fuzzer that cries wolf on
    the shipped agents would teach everyone to ignore it."""
    assert DEFAULT_EXAMPLES == 100
    code = main(["fuzz", str(path), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"no violation in {DEFAULT_EXAMPLES} examples" in out
    assert not list(tmp_path.iterdir())


def test_a_billed_malformed_reply_is_recounted_as_the_core_charges_it() -> None:
    """Regression: a malformed tool call the provider billed (``ModelFailed.usage``) was
    recounted as a call with no tokens, so every shipped scenario showed usage_mismatch."""
    target = FuzzTarget.load(SUPPORT, fuzz_seed=0)
    schedule = target.empty_schedule().model_copy(update={"llm": LLMFaultPlan(faults=(
        LLMFault(kind="malformed_tool_input", at_call=1),))})
    obs = observe(target, schedule)
    failed = [r for r in obs.records if r.kind == "model_failed"]
    assert failed and json.loads(failed[0].payload)["usage"] is not None
    view = read_log(obs.log_id, obs.records)
    assert view.context is not None and view.usage == view.context.used
    assert view.usage.tokens_in > 0 and view.usage.cost_usd > 0
    assert check_trial(obs) == []


def test_cli_exits_0_when_nothing_is_found(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fuzz", str(SUPPORT), "--examples", "15", "--seed", "1", "--out",
                 str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "no violation in 15 examples" in out and len(out.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_a_crash_then_a_failed_keyed_retry_is_not_reported_as_a_plain_failure() -> None:
    """Regression (found by this fuzzer on every shipped scenario): a side effect that ran
    before a crash, whose keyed retry on resume failed in transit, was logged as failed; the
    model then sent it again under a new key (two emails). Now a person decides instead."""
    target = FuzzTarget.load(SUPPORT, fuzz_seed=0)
    clean = observe(target, target.empty_schedule())
    view = read_log(clean.log_id, clean.records)
    sent = next(x for x in view.executions if x.tool == "send_email")
    nth_call = sum(1 for r in clean.records if r.kind == "tool_returned" and r.seq <= sent.seq)
    schedule = target.empty_schedule().model_copy(update={
        "crash_at": (sent.seq,),
        "tools": ToolFaultPlan(faults=(ToolFault(kind="error", at_call=nth_call + 1),))})
    obs = observe(target, schedule)
    assert check_trial(obs) == []
    assert any(r.kind == "side_effect_unknown" for r in obs.records)
    # the person's approval re-ran it under its own key: the world answered from its ledger
    assert obs.world.replays.get("send_email") == 1


# -- case files and the command line -----------------------------------------------------


@pytest.mark.parametrize(("text", "needle"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "a case file is a JSON object"),
    ('{"format": "something-else"}', "field 'format'"),
    ('{"format": "harness-fuzz-case", "version": 1}', "field 'harness_version'"),
])
def test_a_bad_case_file_exits_2_naming_the_file_and_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and needle in err


def test_a_missing_case_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.json")]) == 2
    assert "no such case file" in capsys.readouterr().err


def test_a_case_with_a_bad_schedule_exits_2(planted_case: dict[str, Any], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(planted_case["cases"][0].read_text())
    data["schedule"]["tools"]["faults"][0]["kind"] = "gremlins"
    path = tmp_path / "bad-kind.json"
    path.write_text(json.dumps(data))
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert "schedule.tools.faults.0.kind" in err


# -- the strategy and the shrink pass ----------------------------------------------------


@settings(max_examples=60, database=None, suppress_health_check=list(HealthCheck))
@given(fault_schedules(["a", "b"], seed=7, max_tool_call=5, max_llm_call=6, max_record=9))
def test_drawn_schedules_are_scheduled_faults_within_bounds(s: FaultSchedule) -> None:
    assert s.seed == 7 and s.profile == "fuzz"
    assert len(s.tools.faults) <= 3 and len(s.llm.faults) <= 3 and len(s.crash_at) <= 3
    for f in s.tools.faults:
        assert f.rate is None and f.at_call is not None and 1 <= f.at_call <= 5
        assert f.tool in (None, "a", "b")
    for m in s.llm.faults:
        assert m.rate is None and m.at_call is not None and 1 <= m.at_call <= 6
    assert list(s.crash_at) == sorted(set(s.crash_at)) and all(1 <= k <= 9 for k in s.crash_at)
    assert FaultSchedule.model_validate_json(s.model_dump_json()) == s


def test_minimise_makes_the_coupled_move_hypothesis_cannot() -> None:
    """An injection bites at the 2nd call *counting from the first call no error ate*:
    dropping the error shifts it, so only "drop one and move another" gets to one fault."""

    def check(s: FaultSchedule) -> list[Violation]:
        errors = sum(1 for f in s.tools.faults if f.kind == "error")
        hit = any(f.kind == "injection" and f.at_call == 2 + errors for f in s.tools.faults)
        return [Violation("unapproved_action", "hit")] if hit else []

    start = FaultSchedule(
        profile="fuzz", seed=1,
        tools=ToolFaultPlan(faults=(ToolFault(kind="error", at_call=1, tool="x"),
                                    ToolFault(kind="injection", at_call=3, tool="x"))),
        llm=LLMFaultPlan(faults=(LLMFault(kind="overloaded", at_call=4, retry_after_s=5.0),)),
        crash_at=(7, 9))
    assert check(start)
    best, violations, spent = minimise(check, start, check(start), "unapproved_action")
    assert [(f.kind, f.at_call, f.tool) for f in best.tools.faults] == [("injection", 2, None)]
    assert best.llm.faults == () and best.crash_at == ()
    assert violations and 0 < spent <= 200
    assert size(best) < size(start)


# -- each invariant check fires on a bad log or world ------------------------------------


@pytest.fixture(scope="module")
def clean() -> Observation:
    """A fault-free trial of the shipped support scenario: every check passes on it."""
    target = FuzzTarget.load(SUPPORT, fuzz_seed=0)
    obs = observe(target, target.empty_schedule())
    assert obs.result is not None and obs.result.goal_met
    assert check_trial(obs) == []
    return obs


def _renumber(records: list[Record]) -> list[Record]:
    return [Record(i, r.kind, r.payload) for i, r in enumerate(records)]


def test_check_outcome_names_illegal_transitions_and_other_crashes(clean: Observation) -> None:
    assert clean.result is not None
    illegal = clean.result.model_copy(update={
        "outcome": "crashed", "error": "IllegalTransition: event 'x' is not allowed"})
    other = clean.result.model_copy(update={"outcome": "crashed", "error": "KeyError: 'a'"})
    assert [v.kind for v in check_outcome(illegal)] == ["illegal_transition"]
    assert [v.kind for v in check_outcome(other)] == ["unhandled_exception"]
    assert [v.kind for v in check_outcome(None, "LogDecodeError: ...")] == ["unhandled_exception"]
    assert check_outcome(clean.result) == []


def test_check_log_catches_a_duplicated_event(clean: Observation) -> None:
    records = list(clean.records)
    i = next(k for k, r in enumerate(records) if r.kind == "tool_returned")
    dup = _renumber([*records[: i + 1], records[i], *records[i + 1:]])
    found = check_log(read_log(clean.log_id, dup), None)
    assert found and {v.kind for v in found} == {"lost_event"}
    assert any("already answered" in v.message for v in found)


def test_check_log_catches_a_lost_event(clean: Observation) -> None:
    records = list(clean.records)
    # drop the last model reply: the log still folds, but not to where the runtime ended
    i = max(k for k, r in enumerate(records) if r.kind == "model_replied")
    lost = _renumber(records[:i] + records[i + 1:])
    found = check_log(read_log(clean.log_id, lost), clean.final_context)
    assert found and found[0].kind == "lost_event"


def test_check_log_catches_a_side_effect_with_no_intent(clean: Observation) -> None:
    no_intent = _renumber([r for r in clean.records if r.kind != INTENT])
    found = check_log(read_log(clean.log_id, no_intent), clean.final_context)
    assert any(v.kind == "lost_event" and "no intent" in v.message for v in found)


def test_check_log_catches_a_context_the_log_does_not_explain(clean: Observation) -> None:
    assert clean.final_context is not None
    other = clean.final_context.model_copy(update={"answer": "something else"})
    found = check_log(read_log(clean.log_id, clean.records), other)
    assert [v.kind for v in found] == ["lost_event"] and "answer" in found[0].message


def test_check_budget_catches_an_overshoot_and_a_miscount(clean: Observation) -> None:
    view = read_log(clean.log_id, clean.records)
    assert view.config is not None and view.context is not None
    tight = view.config.model_copy(update={"limits": RunLimits(tool_calls=1, cost_usd=1e-6)})
    over = dataclasses.replace(view, config=tight)
    kinds = [v.kind for v in check_budget(over)]
    assert kinds.count("budget_overshoot") == 2
    miscounted = dataclasses.replace(view, usage=view.usage.plus(RunUsage(llm_calls=1)))
    assert [v.kind for v in check_budget(miscounted)] == ["usage_mismatch"]
    assert check_budget(view) == []


class _World:
    def __init__(self, executions: dict[str, int], snapshot: dict[str, Any]) -> None:
        self.executions = executions
        self._snapshot = snapshot

    def snapshot(self) -> dict[str, Any]:
        return self._snapshot


def test_check_side_effects_catches_a_repeat_and_a_write_by_a_read_only_tool(
        clean: Observation) -> None:
    view = read_log(clean.log_id, clean.records)
    real = dict(clean.world.executions)
    assert check_side_effects(view, _World(real, {})) == []
    twice = {**real, "refund_order": real["refund_order"] + 1}
    found = check_side_effects(view, _World(twice, {}))
    assert [v.kind for v in found] == ["duplicate_side_effect"] and "refund_order" in found[0].message
    sneaky = {**real, "lookup_order": 2}
    found = check_side_effects(view, _World(sneaky, {}))
    assert [v.kind for v in found] == ["duplicate_side_effect"] and "read-only" in found[0].message


def test_check_side_effects_catches_one_key_succeeding_twice(clean: Observation) -> None:
    view = read_log(clean.log_id, clean.records)
    x = next(e for e in view.executions if e.tool == "refund_order")
    again = dataclasses.replace(x, effect_id=x.effect_id + "-again", seq=x.seq + 100)
    doubled = dataclasses.replace(view, executions=[*view.executions, again])
    world = _World({**clean.world.executions, "refund_order": 2}, {})
    found = check_side_effects(doubled, world)
    assert any("idempotency key" in v.message for v in found)


def _execution(tool: str, inp: dict[str, Any], *, production: bool = False,
               approved: bool = False) -> Execution:
    return Execution("s1#3", "s1", "toolu_1", tool, inp, True, production, "k", approved, 5)


def test_check_approvals_catches_production_and_forbidden_calls_nobody_approved() -> None:
    goals = Goals(forbidden_actions=(ActionCheck(tool="refund_order",
                                                 input={"order_id": "A101"}),))
    view = LogView("r", executions=[
        _execution("refund_order_large", {"order_id": "A100"}, production=True),
        _execution("refund_order", {"order_id": "A101", "reason": "asked"}),
        _execution("refund_order", {"order_id": "A100", "reason": "broken"}),
        _execution("deploy", {"version": "1"}, production=True, approved=True),
        _execution("refund_order", {"order_id": "A101"}, approved=True),
    ])
    found = check_approvals(view, goals)
    assert [v.kind for v in found] == ["unapproved_action", "unapproved_action"]
    assert "affects production" in found[0].message
    assert "forbidden_actions[0]" in found[1].message


def test_check_goal_catches_goal_met_reported_for_a_failed_goal(clean: Observation) -> None:
    assert clean.result is not None
    view = read_log(clean.log_id, clean.records)
    snapshot = clean.world.snapshot()
    assert check_goal(clean.result, view, clean.goals, snapshot) == []
    snapshot["orders"]["A100"]["status"] = "delivered"
    found = check_goal(clean.result, view, clean.goals, snapshot)
    assert [v.kind for v in found] == ["false_goal"] and "orders.A100.status" in found[0].message
    honest = clean.result.model_copy(update={"goal_met": False})
    assert check_goal(honest, view, clean.goals, snapshot) == []


def test_check_trial_orders_violations_most_fundamental_first(clean: Observation) -> None:
    assert clean.result is not None
    bad = dataclasses.replace(
        clean, result=clean.result.model_copy(update={"outcome": "crashed",
                                                      "error": "RuntimeError: boom"}),
        world=_World({**clean.world.executions, "send_email": 5}, clean.world.snapshot()))
    kinds = [v.kind for v in check_trial(bad)]
    assert kinds[0] == "unhandled_exception" and "duplicate_side_effect" in kinds
    assert kinds == sorted(kinds, key=VIOLATION_KINDS.index)


def test_hypothesis_is_a_runtime_dependency_so_a_plain_install_can_fuzz() -> None:
    """``pip install harness`` must give a working ``harness fuzz``, not an install hint."""
    from importlib.metadata import requires

    plain = [r for r in requires("harness") or [] if "extra ==" not in r]
    assert any(r.lower().startswith("hypothesis") for r in plain), plain
