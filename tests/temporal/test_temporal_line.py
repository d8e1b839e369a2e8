"""The two backends build a trial's line from the same values through one builder: the
local runner from the context it drove, the Temporal backend from its workflow's result
after the trip through the server's data converter. Equal values, equal lines: a field
dropped or worded otherwise on one path fails here, without a server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.converter import DataConverter

from harness.core import AgentContext, RunUsage
from harness.errors import UsageError
from harness.runner._jsonl import _line
from harness.runner._line import RunEnd, check_rows, trial_line
from harness.runner._trial import TrialSpec
from harness.scenario import CheckResult, LoadedScenario, load_scenario
from harness.temporal._run import trial_result

ROOT = Path(__file__).resolve().parents[2]
SCENARIO: LoadedScenario = load_scenario(
    ROOT / "tests/fixtures/classic/support/refund-broken-mug.yaml")

text = st.text(max_size=12)
counts = st.integers(min_value=0, max_value=10**6)
amounts = st.floats(min_value=0, max_value=1e4, allow_nan=False)

specs = st.builds(
    TrialSpec, scenario=st.just(SCENARIO),
    model=st.none() | st.sampled_from(["claude-haiku-4-5", "claude-sonnet-4-5"]),
    profile=st.sampled_from(["none", "flaky-tools", "api-brownout"]),
    trial=st.integers(min_value=0, max_value=99), seed=st.integers(min_value=0, max_value=2**32),
    budgets=st.sampled_from(["on", "off"]))

contexts = st.builds(
    AgentContext,
    outcome=st.none() | st.sampled_from(["done", "failed", "budget_exhausted", "escalated"]),
    answer=text, reason=text, exhausted_limit=st.none() | st.sampled_from(["max_cost_usd",
                                                                            "max_turns"]),
    used=st.builds(RunUsage, llm_calls=counts, tool_calls=counts, tokens_in=counts,
                   tokens_out=counts, cost_usd=amounts),
    started_at=amounts, now=amounts, escalations=counts, retries=counts)

checks = st.lists(st.builds(CheckResult, check=text, ok=st.booleans(), detail=text),
                  max_size=4)

#: the keys in no sorted order: the line keeps the order the faults were dumped in
faults = st.lists(st.fixed_dictionaries({
    "source": st.sampled_from(["tool", "llm"]), "kind": text, "target": text,
    "call": counts, "at_s": amounts}), max_size=3)


def workflow_result(ctx: AgentContext, judged: list[CheckResult], fired: list[dict[str, Any]],
                    crash: str | None) -> dict[str, Any]:
    """A trial's result as its workflow returns it (``TrialWorkflow.run``: the context's end
    beside the ``finish`` activity's JSON texts), after the server's data converter."""
    got = {"crashed": crash, "records": [], "actions": [],
           "context": {"outcome": ctx.outcome, "answer": ctx.answer, "reason": ctx.reason,
                       "exhausted_limit": ctx.exhausted_limit,
                       "used": ctx.used.model_dump(mode="json"),
                       "elapsed_s": ctx.elapsed_s, "escalations": ctx.escalations,
                       "retries": ctx.retries},
           "checks": json.dumps(check_rows(judged)), "faults": json.dumps(fired)}
    return _through_server(got)


def _through_server(got: dict[str, Any]) -> dict[str, Any]:
    conv = DataConverter.default

    async def trip() -> dict[str, Any]:
        back = await conv.decode(await conv.encode([got]), [dict])
        out: dict[str, Any] = back[0]
        return out

    return asyncio.run(trip())


@settings(max_examples=60, deadline=None, database=None)
@given(specs, contexts, checks, faults, st.none() | text.map(lambda t: f"RuntimeError: {t}"),
       st.sampled_from(["simulated", "replay", "live"]))
def test_the_same_values_give_the_same_line_on_both_backends(
        spec: TrialSpec, ctx: AgentContext, judged: list[CheckResult],
        fired: list[dict[str, Any]], crash: str | None, transport: str) -> None:
    # the local runner's path (``run_trial``'s end) ...
    local = trial_line(spec, RunEnd.of(ctx), checks=check_rows(judged), faults=fired,
                       crash=crash, log_id=spec.run_id, transport=transport)
    # ... and the Temporal backend's, from the workflow's result
    temporal = trial_result(spec, workflow_result(ctx, judged, fired, crash), transport)
    assert _line(temporal) == _line(local)
    assert temporal == local


def test_a_workflow_that_failed_gives_a_crashed_line_of_a_run_that_never_started() -> None:
    spec = TrialSpec(SCENARIO, None, "none", 0, 7)
    got = _through_server({"crashed": "the trial's workflow failed: boom", "records": [],
                           "actions": []})
    line = trial_result(spec, got, "simulated")
    assert line.outcome == "crashed" and line.error == "the trial's workflow failed: boom"
    assert not line.goal_met and line.llm_calls == 0 and line.duration_s == 0.0


@pytest.mark.parametrize(("change", "named"), [
    (lambda c: c.pop("retries"), "context.retries"),
    (lambda c: c.update(attempts=3), "context.attempts"),
])
def test_a_workflow_result_missing_or_adding_a_field_is_refused_by_name(
        change: Any, named: str) -> None:
    spec = TrialSpec(SCENARIO, None, "none", 0, 7)
    got = workflow_result(AgentContext(outcome="done"), [], [], None)
    change(got["context"])
    with pytest.raises(UsageError, match=named):
        trial_result(spec, got, "simulated")
