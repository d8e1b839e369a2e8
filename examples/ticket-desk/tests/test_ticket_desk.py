"""The ticket desk's own tests.

The scenarios in ``scenarios/`` are test items too (``harness_scenarios`` in
``pyproject.toml``): each runs its trials under its own fault profile and fails on
its thresholds. Here: the world keeps its promises (an idempotency key acts once, a
refusal changes nothing), the installed entry points are what scenarios find, and
the agent still holds its thresholds under injected faults.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from ticket_desk import TicketDesk, sla_policy

import harness

SCENARIOS = Path(__file__).parent.parent / "scenarios"
SCENARIO = SCENARIOS / "triage-checkout-outage.yaml"
OWN_LOOP = SCENARIOS / "triage-checkout-outage-own-loop.yaml"

STATE = {
    "team": ["ana", "dana"],
    "oncall": "dana",
    "tickets": [
        {"id": "T1", "title": "Checkout is down", "priority": "P1"},
        {"id": "T2", "title": "Typo", "priority": "P4", "status": "closed"},
    ],
}


def call(world: TicketDesk, tool: str, key: str | None = None, **given: Any
         ) -> tuple[Any, bool, str | None]:
    return asyncio.run(world.call(tool, given, key=key))


def test_an_assignment_repeated_with_its_key_acts_once() -> None:
    world = TicketDesk(STATE)
    first = call(world, "assign_ticket", "k1", ticket_id="T1", assignee="dana")
    again = call(world, "assign_ticket", "k1", ticket_id="T1", assignee="dana")
    assert first == again == ({"assignee": "dana", "status": "assigned", "ticket_id": "T1"},
                              False, None)
    assert world.executions == {"assign_ticket": 1}
    assert world.replays == {"assign_ticket": 1}
    # the same key for another call is refused, and changes nothing
    _, is_error, kind = call(world, "assign_ticket", "k1", ticket_id="T1", assignee="ana")
    assert (is_error, kind) == (True, "idempotency_conflict")
    assert world.snapshot()["tickets"]["T1"]["assignee"] == "dana"


def test_a_refused_call_leaves_the_queue_as_it_was() -> None:
    world = TicketDesk(STATE)
    before = world.snapshot()
    for tool, given, kind in [
        ("assign_ticket", {"ticket_id": "T1", "assignee": "mallory"}, "unknown_assignee"),
        ("assign_ticket", {"ticket_id": "T2", "assignee": "ana"}, "closed"),
        ("close_ticket", {"ticket_id": "T2", "resolution": "again"}, "already_closed"),
        ("escalate_to_oncall", {"ticket_id": "T9", "summary": "?"}, "not_found"),
    ]:
        output, is_error, error_kind = call(world, tool, "k-" + tool + given["ticket_id"],
                                            **given)
        assert (is_error, error_kind) == (True, kind), output
    assert world.snapshot() == before
    assert world.executions == {}


def test_a_page_reaches_the_oncall_engineer_and_needs_a_person() -> None:
    world = TicketDesk(STATE)
    tools = {t.name: t for t in world.tools()}
    assert tools["escalate_to_oncall"].affects_production
    assert tools["assign_ticket"].side_effecting and not tools["get_ticket"].side_effecting
    call(world, "escalate_to_oncall", "p1", ticket_id="T1", summary="checkout down")
    snap = world.snapshot()
    assert snap["pages"] == [{"ticket_id": "T1", "to": "dana", "summary": "checkout down"}]
    assert snap["tickets"]["T1"]["escalated"] is True


def test_a_misspelt_state_key_is_an_error() -> None:
    with pytest.raises(ValueError, match="assigne"):
        TicketDesk({"tickets": [{"id": "T1", "title": "x", "assigne": "ana"}]})
    with pytest.raises(ValueError, match="not in team"):
        TicketDesk({"team": ["ana"], "tickets": [{"id": "T1", "title": "x", "assignee": "bo"}]})


def test_scenarios_find_the_parts_this_package_registers() -> None:
    worlds = {ep.name: ep.value for ep in entry_points(group="harness.worlds")}
    assert worlds["ticket-desk"] == "ticket_desk.world:TicketDesk"
    loaded = harness.load_scenario(SCENARIO)
    assert [t.name for t in loaded.tools] == [
        "list_tickets", "get_ticket", "assign_ticket", "close_ticket", "escalate_to_oncall",
        "sla_policy"]
    # a plain function's typed parameters became the schema the model sees
    schema = sla_policy.info().input_schema
    assert schema["properties"]["priority"]["enum"] == ["P1", "P2", "P3", "P4"]
    assert schema["required"] == ["priority"] and not sla_policy.side_effecting


@pytest.mark.parametrize("faults", ["flaky-tools", "api-brownout", "crashy"])
def test_both_agents_hold_their_thresholds_under_faults(faults: str, tmp_path: Path) -> None:
    result = harness.run_suite(harness.SuiteOptions(
        paths=(str(SCENARIOS),), faults=faults, out=tmp_path / "run", tracing=False,
        progress=False, report_files=False))
    assert {r.scenario for r in result.results} == {SCENARIO.stem, OWN_LOOP.stem}
    assert result.passed, [v.failures for v in result.verdicts]
    assert any(f for r in result.results for f in r.faults), "no fault was injected"
    # whatever was injected, no trial paged on-call without asking a person first
    assert all(r.escalations >= 1 for r in result.results
               if any(c["check"].startswith("required escalate") and c["ok"] for c in r.checks))


def test_the_own_loop_agent_is_stopped_at_its_call_limit(tmp_path: Path) -> None:
    # the agent's loop sees the SDK's own error at the limit; the harness reports why
    text = OWN_LOOP.read_text().replace("    llm_calls: 30\n", "    llm_calls: 3\n")
    assert "llm_calls: 3\n" in text
    tight = tmp_path / OWN_LOOP.name
    tight.write_text(text)
    result = harness.run_suite(harness.SuiteOptions(
        paths=(str(tight),), trials=4, out=tmp_path / "run", tracing=False, progress=False,
        report_files=False))
    assert [(r.outcome, r.exhausted_limit, r.llm_calls) for r in result.results] == [
        ("budget_exhausted", "llm_calls", 3)] * 4
