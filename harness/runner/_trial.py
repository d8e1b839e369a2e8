"""One trial: a scenario, a model and a fault schedule, run to the end and judged.

The trial line is judged from the run's machine as the driver fed it (outcome, usage,
escalations) and the tool calls that ran (``ActionLog``, which sees every event the
machine is fed, a resume's replay of the log included), plus the world's final
snapshot. That is the stored log's fold: ``fold_with_actions`` rebuilds the same from
the log, and the tests hold the two equal, crashes and all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import trace

from harness.core import (
    ActionLog,
    AgentConfig,
    AgentContext,
    Event,
    Machine,
)
from harness.driver import Crash, Driver, RunResult, VirtualClock
from harness.errors import HarnessError, UsageError
from harness.faults import FaultSchedule, FaultyTools, ToolFaultPlan, WorldTroubles, schedule_for
from harness.llm import PROFILES, AnthropicClient, ModelProfile, make_client
from harness.protocols import Clock
from harness.runner._budgets import OFF, ON, Budgets, unbudgeted
from harness.runner._line import RunEnd, check_rows, fault_rows, trial_line
from harness.runner._result import TrialResult, trial_run_id, trial_seed
from harness.scenario import (
    ExecutedAction,
    LoadedScenario,
    build_agent_config,
    evaluate,
)
from harness.store import Recorder, decode
from harness.telemetry import RunTracer
from harness.tools import ToolRegistry

CONFIGURED = "configured"


@dataclass(frozen=True)
class TrialSpec:
    scenario: LoadedScenario
    model: str | None
    """Replaces every role's model; ``None`` runs the agent as configured."""
    profile: str
    trial: int
    seed: int
    budgets: Budgets = ON
    """``on``: the agent's limits hold; ``off``: every limit removed (``_budgets``)."""

    @property
    def model_label(self) -> str:
        return self.model or CONFIGURED

    @property
    def run_id(self) -> str:
        return trial_run_id(self.scenario.scenario.name, self.model_label, self.profile,
                            self.trial, self.budgets)

    @property
    def identity(self) -> str:
        """What the run derives its retry waits and idempotency keys from: the budgeted
        twin's id for both variants, so the two differ in their limits alone."""
        return trial_run_id(self.scenario.scenario.name, self.model_label, self.profile,
                            self.trial)

    @property
    def key(self) -> tuple[str, str, str, int, str]:
        """The key of its line in ``trials.jsonl`` (``TrialResult.key``)."""
        return (self.scenario.scenario.name, self.model_label, self.profile, self.trial,
                self.budgets)


def make_spec(ls: LoadedScenario, model: str | None, profile: str | None, trial: int,
              base_seed: int, budgets: Budgets = ON) -> TrialSpec:
    """A planned trial. Its seed depends on the scenario and trial number alone, so the
    same trial under another model, fault profile or budgets variant is its pair."""
    return TrialSpec(ls, model, profile or ls.scenario.faults.profile, trial,
                     trial_seed(base_seed, ls.scenario.name, trial), budgets)


def cassette_path(spec: TrialSpec, folder: Path | None = None) -> Path:
    """The cassette a trial replays from or records to: one file per trial."""
    base = folder if folder is not None else spec.scenario.path.parent / "cassettes"
    return base / f"{spec.run_id.replace('/', '__')}.json"


#: Mixed into the trial seed for the world's own troubles, so their draws are not the
#: injected faults' draws.
_TROUBLE_SALT = 0x7E0B1E5


def trial_world(spec: TrialSpec, schedule: FaultSchedule, probe: TrialProbe | None
                ) -> tuple[Any, ToolRegistry, Any]:
    """A trial's fresh world, its tools (the world's and the scenario's own), and those
    tools as the agent reaches them: through the schedule's tool faults, if any."""
    world = spec.scenario.parts.make_world(spec.scenario.scenario.world.state)
    if probe is not None:
        probe.world, probe.schedule = world, schedule
    registry = ToolRegistry(world.tools())
    for extra in spec.scenario.parts.tools:
        registry.add(extra)
    tools: Any = registry
    troubles = spec.scenario.scenario.world.troubles
    if troubles:
        # the world's own misbehaviour, beneath any injected faults and drawn from a seed
        # of its own, so a chaos profile neither changes nor reports it
        tools = WorldTroubles(registry, ToolFaultPlan(faults=troubles), spec.seed ^ _TROUBLE_SALT)
    if schedule.tools.faults:
        tools = FaultyTools(tools, schedule.tools, spec.seed)
    return world, registry, tools


def schedule_of(spec: TrialSpec) -> FaultSchedule:
    faults = spec.scenario.scenario.faults
    rates = faults.rates if spec.profile == faults.profile else {}
    return schedule_for(spec.profile, spec.seed, rates, injection_action=faults.injection_action)


@dataclass
class TrialEnv:
    """Where a trial runs: shared by all trials of one run."""

    recorder: Recorder
    transport: str = "simulated"
    tracer: trace.Tracer | None = None
    cassette_dir: Path | None = None
    """Where cassettes are read (replay) or written (``record``); ``None``: the folder
    ``cassettes/`` beside each scenario file."""
    record: bool = False
    crashes: list[int] = field(default_factory=list)
    profiles: Mapping[str, ModelProfile] | None = None
    """The simulated transport's model profiles (``None``: the built-in ones)."""
    _configs: dict[tuple[int, str | None, str], tuple[LoadedScenario, AgentConfig]] = field(
        default_factory=dict, repr=False)
    """Agent configurations by (scenario, model, budgets): the same for every trial but
    its seed."""
    _profiles: dict[int, tuple[LoadedScenario, Mapping[str, ModelProfile] | None]] = field(
        default_factory=dict, repr=False)

    def model_client(self, spec: TrialSpec, schedule: FaultSchedule,
                     clock: Clock) -> AnthropicClient:
        """The trial's model client: this run's transport under the schedule's LLM faults,
        replaying from or recording to the trial's cassette when asked."""
        cassette = (cassette_path(spec, self.cassette_dir)
                    if self.transport == "replay" or self.record else None)
        return make_client(
            self.transport,  # type: ignore[arg-type]
            reference=spec.scenario.scenario.reference, seed=spec.seed, clock=clock,
            cassette=cassette if self.transport == "replay" else None,
            record_to=cassette if self.record and self.transport != "replay" else None,
            faults=schedule.llm if schedule.llm.faults else None,
            profiles=self.profile_table(spec.scenario),
        )

    def agent_config(self, spec: TrialSpec) -> AgentConfig:
        """The trial's agent configuration, validated once per scenario, model and
        budgets variant."""
        key = (id(spec.scenario), spec.model, spec.budgets)
        hit = self._configs.get(key)
        if hit is None or hit[0] is not spec.scenario:
            s = spec.scenario.scenario
            config = build_agent_config(s, spec.scenario.tools, spec.model,
                                        spec.scenario.parts.prices.price)
            if spec.budgets == OFF:
                config = unbudgeted(config)
            hit = self._configs[key] = (spec.scenario, config)
        return hit[1].model_copy(update={"seed": spec.seed})

    def profile_table(self, ls: LoadedScenario) -> Mapping[str, ModelProfile] | None:
        """The simulated profiles a scenario's trials use: its own over the run's."""
        if not ls.parts.profiles:
            return self.profiles
        hit = self._profiles.get(id(ls))
        if hit is None or hit[0] is not ls:
            table = {**(self.profiles or PROFILES), **ls.parts.profiles}
            hit = self._profiles[id(ls)] = (ls, table)
        return hit[1]


@dataclass
class TrialProbe:
    """Live objects of one trial, for callers that judge more than the result line.

    The fuzzer passes one to ``run_trial`` to check invariants against the world's own
    counters and the context the runtime ended with, not only against the log.
    """

    world: Any = None
    """The trial's world (its ``executions``, ``replays`` and ``actions``)."""
    context: AgentContext | None = None
    """The context the driver ended with (``None`` if the runtime raised)."""
    schedule: FaultSchedule | None = None
    """The schedule the trial ran with."""
    actions: list[ExecutedAction] | None = None
    """The tool calls the trial was judged on (those that ran, with their approvals)."""


async def run_trial(spec: TrialSpec, env: TrialEnv, *, log_id: str | None = None,
                    schedule: FaultSchedule | None = None,
                    probe: TrialProbe | None = None) -> TrialResult:
    """Run one trial to its end. World faults never escape; a runtime bug becomes ``crashed``.

    ``probe``, if given, is filled with the world, the schedule and the final context.
    """
    s = spec.scenario.scenario
    parts = spec.scenario.parts
    log_id = log_id or spec.run_id
    if parts.entry is not None:  # the agent brings its own loop: held by its wires, not our core
        from harness.runner._entry import run_entry_trial

        return await run_entry_trial(spec, env, log_id=log_id, schedule=schedule, probe=probe)
    schedule = schedule or schedule_of(spec)
    world, _, tools = trial_world(spec, schedule, probe)
    clock = VirtualClock()
    client = env.model_client(spec, schedule, clock)
    config = env.agent_config(spec)
    human = parts.make_human(s.human)
    crash_points = set(schedule.crash_at)
    fired_crashes: list[int] = []

    def crash_hook(seq: int, kind: str) -> None:
        if seq in crash_points and seq not in fired_crashes:
            fired_crashes.append(seq)
            raise Crash(f"injected crash before record {seq}")

    watch = ActionLog()

    def driver() -> Driver:
        nonlocal watch
        watch = ActionLog()  # each attempt sees the whole log: a resume replays it first
        return Driver(model=client, tools=tools, recorder=env.recorder, clock=clock, human=human,
                      tracer=RunTracer(env.tracer) if env.tracer else None,
                      crash_hook=crash_hook if crash_points else None, watch=watch)

    error: str | None = None
    ended: RunResult | None = None
    try:
        try:
            ended = await driver().run(config, s.task, run_id=spec.identity, log_key=log_id)
        except Crash:
            while True:
                env.recorder.discard(log_id)
                try:
                    if env.recorder.read_run(log_id):
                        ended = await driver().resume(log_id)
                    else:  # it crashed before its first record: nothing ran, start it again
                        ended = await driver().run(config, s.task, run_id=spec.identity,
                                                   log_key=log_id)
                    break
                except Crash:
                    continue
        if probe is not None:
            probe.context = ended.context
    except UsageError:
        raise
    except (HarnessError, Exception) as err:  # the runtime broke: record it, keep the suite going
        error = f"{type(err).__name__}: {err}"
    finally:
        await client.aclose()
    env.recorder.flush(log_id)
    if ended is not None:
        ctx, actions = ended.context, watch.actions
    else:  # the runtime broke mid-run: judge what its log holds
        events, _ = decode(log_id, env.recorder.read_run(log_id))
        ctx, actions = fold_with_actions(events)
    if probe is not None:
        probe.actions = actions
    snapshot = world.snapshot()
    checks = evaluate(s.goals, snapshot, actions, ctx.answer)
    faults = fault_rows(getattr(tools, "fired", []), getattr(client.transport, "fired", []))
    faults += [{"source": "crash", "at_record": k} for k in fired_crashes]
    return trial_line(spec, RunEnd.of(ctx), checks=check_rows(checks), faults=faults,
                      crash=error, log_id=log_id, transport=env.transport)


def fold_with_actions(events: list[Event]) -> tuple[AgentContext, list[ExecutedAction]]:
    """Rebuild the run from its stored events and list the tool calls that actually ran."""
    m = Machine()
    log = ActionLog()
    for ev in events:
        log.feed(m, ev)
    return m.context(), log.actions
