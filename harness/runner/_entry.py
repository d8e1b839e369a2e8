"""One trial of an agent that brings its own loop (``agent: {entry: ...}``).

The harness does not see inside such an agent, so it holds it by the wires it owns:
the model client (``harness.external.MeteredTransport`` counts, clamps and refuses
calls), the tools (faults, approvals and the tool-call limit), the world and the
clock. What the function returns is the answer; the world's final state, the tool
calls that ran and the answer are judged by the same goal checks as our runtime's,
into the same ``trials.jsonl`` line.

A crash (``crashy``) cannot resume such an agent: its state is its own. A trial cut
off by a crash is re-run from its start, against the same world (what the lost
attempt did stays done), with idempotency keys that are the same for the same call
in every attempt (the n-th call with that tool and input), so a side effect repeated
by the re-run is replayed by the world, not done twice. Here a crash point counts the agent's model and tool calls (the
runtime's count log records), drawn from the first eight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.driver import Crash, VirtualClock
from harness.errors import UsageError
from harness.external._meter import Meter, MeteredTransport
from harness.external._spans import Spans
from harness.external._tools import AgentTools
from harness.faults import FaultSchedule, schedule_for
from harness.llm._anthropic import agent_client
from harness.runner._budgets import NO_LIMITS, ON
from harness.runner._line import RunEnd, check_rows, fault_rows, trial_line
from harness.runner._result import TrialResult
from harness.runner._trial import trial_world
from harness.scenario import EntryAgentSpec, ExecutedAction, evaluate

if TYPE_CHECKING:
    from harness.runner._trial import TrialEnv, TrialProbe, TrialSpec

#: Crash points for an entry agent fall among its first this many model and tool calls.
CRASH_WINDOW = 8


def entry_schedule(spec: TrialSpec) -> FaultSchedule:
    faults = spec.scenario.scenario.faults
    rates = faults.rates if spec.profile == faults.profile else {}
    return schedule_for(spec.profile, spec.seed, rates, injection_action=faults.injection_action,
                        crash_window=CRASH_WINDOW)


async def run_entry_trial(spec: TrialSpec, env: TrialEnv, *, log_id: str,
                          schedule: FaultSchedule | None, probe: TrialProbe | None
                          ) -> TrialResult:
    """Run the agent function to its end (re-running it after each injected crash) and judge it."""
    s = spec.scenario.scenario
    parts = spec.scenario.parts
    agent = s.agent
    assert isinstance(agent, EntryAgentSpec) and parts.entry is not None
    schedule = schedule or entry_schedule(spec)
    model = spec.model or agent.model
    world, registry, tools = trial_world(spec, schedule, probe)
    schemas = [{"name": t.name, "description": t.description, "input_schema": t.input_schema}
               for t in registry.infos()]
    clock = VirtualClock()
    human = parts.make_human(s.human)
    meter = Meter(agent.limits if spec.budgets == ON else NO_LIMITS, parts.prices.price, clock)
    spans = Spans(env.tracer, s.name, spec.run_id)
    crash_points = set(schedule.crash_at)
    fired: list[int] = []
    llm_fired: list[Any] = []
    actions: dict[str | None, ExecutedAction] = {}
    unkeyed: list[ExecutedAction] = []
    escalations = 0
    answer: str | None = None
    error: str | None = None
    crashed = False

    while True:
        seen = 0

        def tick() -> None:
            nonlocal seen
            seen += 1
            if seen in crash_points and seen not in fired:
                fired.append(seen)
                raise Crash(f"injected crash before call {seen}")

        inner = env.model_client(spec, schedule, clock)
        client = agent_client(inner, MeteredTransport(inner.transport, meter, tick, spans))
        agent_tools = AgentTools(tools, schemas, meter=meter, human=human, clock=clock,
                                 run_id=spec.identity, task=s.task, on_call=tick, spans=spans)
        try:
            result = await parts.entry(s.task, client, agent_tools, model)
            answer = result if isinstance(result, str) else (
                None if result is None else str(result))
            done = True
        except Crash:
            done = False
        except UsageError:
            raise
        except Exception as err:  # the agent gave up (or broke): its trial is judged as it stands
            done = True
            if meter.exhausted is None:
                crashed = True
                error = f"{type(err).__name__}: {err}"
        finally:
            llm_fired += getattr(inner.transport, "fired", [])
            await client.close()
            await inner.aclose()
            escalations += agent_tools.escalations
            for k, act in agent_tools.actions:
                if k is None:
                    unkeyed.append(act)
                else:
                    actions.setdefault(k, act)  # a re-run's replay of the same call is one call
        if meter.usage_error is not None:
            raise meter.usage_error
        if done:
            break

    judged = [*actions.values(), *unkeyed]
    if probe is not None:
        probe.actions = judged
    exhausted = meter.exhausted
    outcome = ("budget_exhausted" if exhausted is not None
               else "crashed" if crashed else "done" if answer is not None else "failed")
    spans.end(outcome, exhausted.limit if exhausted is not None else None,
              error if crashed else None)
    checks = evaluate(s.goals, world.snapshot(), judged, answer or "")
    faults = fault_rows(getattr(tools, "fired", []), llm_fired)
    faults += [{"source": "crash", "at_call": k} for k in fired]
    end = RunEnd(
        outcome=None if outcome == "crashed" else outcome,
        answer=answer or "",
        reason=str(exhausted) if exhausted is not None else
        "" if answer is not None else "the agent returned no answer",
        exhausted_limit=exhausted.limit if exhausted is not None else None, used=meter.used,
        elapsed_s=clock.now() - meter.started, escalations=escalations, retries=0)
    return trial_line(spec, end, checks=check_rows(checks), faults=faults, crash=error,
                      log_id=log_id, transport=env.transport)
