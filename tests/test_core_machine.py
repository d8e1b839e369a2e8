"""The core, tested by a machine: Hypothesis drives ``step`` with arbitrary event sequences.

Rules answer whatever the core has pending (model replies of every shape, model failures of
every kind, tool results, human decisions, unknown side effects) and also send deliberately
illegal events, which must raise and leave the context untouched. After every step the
invariants check that the run is still sound: legal transitions only, no budget overshot,
nothing after ``Finish``, the context survives JSON, replaying the log reproduces it, and a
live run always has something in flight that the table lets it receive.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from helpers import HAIKU, PRICES, SONNET, tool_infos
from hypothesis import HealthCheck, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from harness.core import (
    EVENT_TYPES,
    MODEL_ERROR_KINDS,
    TRANSITIONS,
    AgentConfig,
    AgentContext,
    CallModel,
    EscalationRules,
    Finish,
    HumanDecided,
    Machine,
    ModelFailed,
    ModelReplied,
    ModelResponse,
    OrchestratorConfig,
    RequestHuman,
    RetryPolicy,
    RoleConfig,
    RunLimits,
    RunStarted,
    RunTool,
    SideEffectUnknown,
    State,
    ToolReturned,
    Usage,
    count_request_tokens,
    event_adapter,
    step,
)
from harness.core._machine import UnknownEffect
from harness.errors import IllegalTransition, TerminalRun
from harness.store import decode, encode
from harness.store._recorder import Record

RUN_ID = "run-h"
ANSWERS = {"call_model": "model_replied", "run_tool": "tool_returned",
           "request_human": "human_decided"}
COUNTED = ("llm_calls", "tool_calls", "tokens_in", "tokens_out", "cost_usd")
TOOL_NAMES = [t.name for t in tool_infos()]

words = st.text(alphabet="abcdefgh xyz", max_size=12)
json_scalars = st.none() | st.booleans() | st.integers(-5, 5) | words
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(words, inner, max_size=3),
    max_leaves=6,
)


# --- configurations: small limits, so exhaustion is actually reached ------------------------


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def limits(draw: st.DrawFn, small: bool = False) -> RunLimits:
    # tight runs set each limit one time in two and mostly end exhausted; loose runs one
    # time in four, and go deep enough to plan, escalate, verify and replan
    off = draw(st.sampled_from([1, 3]))
    scale = 0.5 if small else 1.0

    def limit(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.one_of(*[st.none()] * off, strategy))

    return RunLimits(
        llm_calls=limit(st.integers(2, int(16 * scale))),
        tool_calls=limit(st.integers(0, int(6 * scale))),
        tokens_in=limit(st.integers(250, int(8000 * scale))),
        tokens_out=limit(st.integers(20, int(2500 * scale))),
        wall_time_s=limit(st.floats(5, 600)),
        cost_usd=limit(st.floats(0.002, 0.2 * scale)),
    )


@st.composite
def roles(draw: st.DrawFn) -> tuple[RoleConfig, ...]:
    def role(name: str, model: str, tools: tuple[str, ...]) -> RoleConfig:
        slice_kind = draw(st.sampled_from(["none", "share", "limits"]))
        return RoleConfig(
            name=name, model=model, tools=tools, system_prompt=f"You are {name}.",
            max_tokens=draw(st.integers(8, 400)), max_turns=draw(st.integers(1, 4)),
            budget_share=draw(st.floats(0.1, 1.0)) if slice_kind == "share" else None,
            limits=draw(limits(small=True)) if slice_kind == "limits" else None,
        )

    return (
        role("research", HAIKU, ("lookup", "broken")),
        role("code", SONNET, ("record", "deploy", "fragile")),
        role("verification", SONNET, ()),
    )


@st.composite
def configs(draw: st.DrawFn) -> AgentConfig:
    return AgentConfig(
        name="machine",
        orchestrator=OrchestratorConfig(
            mode=draw(st.sampled_from(["plan", "direct"])), model=SONNET, max_tokens=draw(st.integers(16, 1024)),
            max_steps=draw(st.integers(1, 4)), max_replans=draw(st.integers(0, 2)),
            max_plan_attempts=draw(st.sampled_from([3, 1, 2])),
        ),
        roles=draw(roles()),
        tools=tool_infos(),
        limits=draw(limits()),
        escalation=EscalationRules(
            production_actions=draw(st.booleans()),
            require_approval=tuple(draw(st.sets(st.sampled_from(TOOL_NAMES), max_size=2))),
            min_confidence=draw(_maybe(st.floats(0, 1))),
            max_failures=draw(_maybe(st.integers(1, 4))),
            budget_fraction=draw(_maybe(st.floats(0.3, 1.0))),
        ),
        retry=RetryPolicy(max_attempts=draw(st.sampled_from([3, 1, 2, 4])),
                          base_delay_s=draw(st.floats(0, 5)), jitter=draw(st.floats(0, 1))),
        prices=PRICES,
        verification_role=draw(st.sampled_from(["verification", None])),
        seed=draw(st.integers(0, 3)),
    )


# --- model replies for a pending call, by purpose --------------------------------------------

STEP_IDS = ["s1", "s2", "s3", "s4"]
MAX_PROBES = 4
"""Illegal events sent to a live run: enough to probe every state, few enough to leave
most of each run's steps for driving it forward."""


@st.composite
def valid_plan(draw: st.DrawFn, cfg: AgentConfig) -> dict[str, Any]:
    role_names = [r.name for r in cfg.roles if r.name != cfg.verification_role]
    n = draw(st.integers(1, cfg.orchestrator.max_steps))
    # the model names the steps: now and then a name the runtime uses for itself
    ids = draw(st.permutations([*STEP_IDS, "orchestrator", "verify-1", "main"]))[:n]
    steps = []
    for i in range(n):
        deps = draw(st.lists(st.sampled_from(ids[:i]), unique=True)) if i else []
        steps.append({"id": ids[i], "role": draw(st.sampled_from(role_names)),
                      "instruction": draw(words), "depends_on": deps})
    return {"steps": steps, "rationale": draw(words)}


INVALID_PLANS = [
    {"steps": [{"id": "s1", "role": "ghost", "instruction": "x"}]},
    {"steps": [{"id": "s1", "role": "research", "instruction": "x", "depends_on": ["s2"]},
               {"id": "s2", "role": "research", "instruction": "y", "depends_on": ["s1"]}]},
    {"steps": [{"id": "s1", "role": "research", "instruction": "x"},
               {"id": "s1", "role": "code", "instruction": "y"}]},
    {"steps": [{"id": "s1", "role": "research", "instruction": "x", "depends_on": ["nope"]}]},
    {"steps": [{"id": "s1", "role": "verification", "instruction": "x"}]},
    {"steps": [{"id": f"s{i}", "role": "research", "instruction": "x"} for i in range(6)]},
    {"steps": []},
    {"steps": "not a list"},
    "not an object",
]


def _use(name: str, input: Any, id: str | None = "u") -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_use", "name": name, "input": input}
    if id is not None:
        block["id"] = id
    return block


@st.composite
def act_content(draw: st.DrawFn) -> tuple[list[dict[str, Any]], str]:
    kind = draw(st.sampled_from(["tools", "tools", "tools", "text", "max_tokens", "refusal"]))
    if kind == "tools":
        uses = []
        for _ in range(draw(st.integers(1, 3))):
            name = draw(st.sampled_from([*TOOL_NAMES, "ghost"]))
            tool_input = draw(st.sampled_from([
                {"query": "q"}, {"text": "t"}, {}, {"query": 3}, "not an object", ["a"], None,
            ]))
            # ids from a tiny alphabet, so a reply with duplicate or missing ids turns up too
            # mostly distinct ids; now and then a repeated or a missing one
            ident = draw(st.sampled_from([f"u{len(uses)}"] * 3 + ["dup", None]))
            uses.append(_use(name, tool_input, ident))
        if draw(st.booleans()):
            uses.insert(0, {"type": "text", "text": draw(words)})
        return uses, draw(st.sampled_from(["tool_use", "tool_use", "end_turn", "max_tokens"]))
    if kind == "text":
        return [{"type": "text", "text": draw(words)}], "end_turn"
    if kind == "max_tokens":
        return [{"type": "text", "text": draw(words)}], "max_tokens"
    return [], "refusal"


@st.composite
def reply_content(draw: st.DrawFn, eff: CallModel, cfg: AgentConfig) -> tuple[list[dict[str, Any]], str]:
    if draw(st.integers(0, 9)) == 4:  # a middle value: Hypothesis favours the ends
        # any purpose may get a reply of the wrong shape
        return [{"type": "text", "text": draw(words)}], draw(st.sampled_from(
            ["end_turn", "max_tokens", "refusal"]))
    if eff.purpose == "plan":
        plan = draw(st.one_of(valid_plan(cfg), valid_plan(cfg), valid_plan(cfg),
                              st.sampled_from(INVALID_PLANS)))
        return [_use("submit_plan", plan, "p")], "tool_use"
    if eff.purpose == "reflect":
        reflection = {
            "decision": draw(st.sampled_from(["done", "done", "replan", "escalate", "fail", "huh"])),
            "answer": draw(words),
            "confidence": draw(st.floats(0, 1) | st.sampled_from([1.5, -0.2])),
            "reason": draw(words),
        }
        return [_use("submit_reflection", reflection, "r")], "tool_use"
    if eff.purpose == "verify":
        verdict = draw(st.sampled_from(["pass", "pass", "fail", "maybe"]))
        return [_use("submit_verdict", {"verdict": verdict, "reason": draw(words)}, "v")], "tool_use"
    return draw(act_content())


# --- the machine -------------------------------------------------------------------------------


class RuntimeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ctx = AgentContext()
        self.replayed = AgentContext()
        self.events: list[Any] = []
        self.effects: list[Any] = []
        self.snapshot = self.ctx.model_dump_json()
        self.now = 0.0
        self.unknown: set[str] = set()
        self.probes = 0
        self.timed: list[tuple[Any, list[float]]] = []
        # the driver's form of the same run: one machine fed in place, snapshotted now and
        # then; it must agree with ``step`` event for event, and no later event may change
        # a snapshot already handed out
        self.machine = Machine()
        self.snapshots: list[tuple[AgentContext, str]] = []

    # -- helpers ------------------------------------------------------------------------------

    @property
    def cfg(self) -> AgentConfig:
        assert self.ctx.config is not None
        return self.ctx.config

    def pending(self, kind: str) -> list[str]:
        return sorted(i for i, e in self.ctx.pending.items() if e.kind == kind)

    def tick(self, dt: float, not_before: float | None = None) -> float:
        self.now = max(self.now + dt, not_before or 0.0)
        return self.now

    def apply(self, event: Any) -> None:
        """A legal event: it must step, and the step must be sound."""
        before = self.ctx
        after, effects = step(before, event)
        allowed = TRANSITIONS[before.state][event.kind]
        assert after.state in allowed, (before.state, event.kind, after.state)
        finishes = [i for i, e in enumerate(effects) if isinstance(e, Finish)]
        assert len(finishes) <= 1
        if finishes:
            assert finishes[0] == len(effects) - 1, f"effects after Finish: {effects}"
            assert after.terminal
        assert after.terminal == (after.outcome is not None)
        if after.terminal:
            assert finishes, "the run ended without a Finish effect"
        self.ctx = after
        self.effects.extend(effects)
        for eff in effects:
            # the wall-time limits in force when it was issued: the run's, and for work
            # (not a person's wait) its step's slice
            if isinstance(eff, CallModel | RunTool | RequestHuman):
                sub = after.agents.get(eff.agent)
                slice_ = sub.limits if sub is not None and not isinstance(eff, RequestHuman) else None
                walls = [lim.wall_time_s for lim in (after.config.limits, slice_)
                         if lim is not None and lim.wall_time_s is not None]
                self.timed.append((eff, walls))
        assert self.machine.feed(event) == effects
        if len(self.events) % 3 == 0 or after.terminal:
            snap = self.machine.context()
            assert snap.model_dump_json() == after.model_dump_json()
            self.snapshots.append((snap, snap.model_dump_json()))
        for old, dumped in self.snapshots[-3:]:
            assert old.model_dump_json() == dumped, "a later event changed an earlier snapshot"
        self.events.append(event)
        # replay: the same event, as the log stores it, folded into a context of its own
        self.replayed, _ = step(self.replayed, event_adapter.validate_json(encode(event)))
        self.snapshot = after.model_dump_json()

    def reject(self, event: Any, expected: type[Exception]) -> None:
        """An illegal event: it must raise ``expected`` and change nothing."""
        self.probes += 1
        with pytest.raises(expected):
            step(self.ctx, event)
        assert self.ctx.model_dump_json() == self.snapshot

    # -- the run begins --------------------------------------------------------------------

    @initialize(cfg=configs(), task=words)
    def start(self, cfg: AgentConfig, task: str) -> None:
        self.apply(RunStarted(run_id=RUN_ID, task=task or "a task", config=cfg, at=0.0))

    # -- answering what is pending ---------------------------------------------------------

    @precondition(lambda self: self.pending("call_model"))
    @rule(data=st.data(), dt=st.floats(0, 20), roll=st.integers(0, 7))
    def model_answers(self, data: st.DataObject, dt: float, roll: int) -> None:
        """A reply of any shape for the call's purpose, or (one roll in eight) a failure."""
        eff = self.ctx.pending[data.draw(st.sampled_from(self.pending("call_model")))]
        assert isinstance(eff, CallModel)
        if roll == 3:
            # sometimes the reply arrived but was unusable, and was billed all the same
            # (within what the call reserved, as a real reply's usage is)
            billed = data.draw(_maybe(st.integers(0, eff.request.max_tokens).map(
                lambda out: Usage(input_tokens=count_request_tokens(eff.request),
                                  output_tokens=out))))
            self.apply(ModelFailed(
                effect_id=eff.effect_id, message="boom", at=self.tick(dt),
                error_kind=data.draw(st.sampled_from(MODEL_ERROR_KINDS)),
                retry_after_s=data.draw(_maybe(st.floats(0, 120))), usage=billed))
            return
        content, stop = data.draw(reply_content(eff, self.cfg))
        req = eff.request
        # mostly short replies, sometimes every token allowed: budgets run out, but not at once
        out = data.draw(st.integers(0, min(req.max_tokens, 40)) | st.just(req.max_tokens))
        usage = Usage(input_tokens=count_request_tokens(req), output_tokens=out)
        resp = ModelResponse(id="m", model=req.model, content=tuple(content), stop_reason=stop,
                             usage=usage)
        self.apply(ModelReplied(effect_id=eff.effect_id, response=resp,
                                at=self.tick(dt, eff.not_before)))

    @precondition(lambda self: self.pending("run_tool"))
    @rule(data=st.data(), dt=st.floats(0, 20), output=json_values, is_error=st.booleans())
    def tool_returns(self, data: st.DataObject, dt: float, output: Any, is_error: bool) -> None:
        eid = data.draw(st.sampled_from(self.pending("run_tool")))
        self.apply(ToolReturned(effect_id=eid, output=output, is_error=is_error,
                                error_kind="tool_error" if is_error else None, at=self.tick(dt)))

    @precondition(lambda self: self.pending("request_human"))
    @rule(data=st.data(), dt=st.floats(0, 400),
          decision=st.sampled_from(["approve", "deny", "edit", "timeout"]),
          edited=st.sampled_from([None, {"answer": "edited"}, {"text": "edited"},
                                  {"query": "edited"}]))
    def human_decides(self, data: st.DataObject, dt: float, decision: str,
                      edited: dict[str, Any] | None) -> None:
        eid = data.draw(st.sampled_from(self.pending("request_human")))
        self.apply(HumanDecided(effect_id=eid, decision=decision, at=self.tick(dt),
                                edited_input=edited if decision == "edit" else None))

    @precondition(lambda self: self.ctx.state in (State.EXECUTING, State.AWAITING_HUMAN)
                  and set(self.pending("run_tool")) - self.unknown)
    @rule(data=st.data())
    def side_effect_unknown(self, data: st.DataObject) -> None:
        """A crash left a keyless call's fate unknown (once per call: a run does not
        crash on the same call forever)."""
        eid = data.draw(st.sampled_from(sorted(set(self.pending("run_tool")) - self.unknown)))
        self.unknown.add(eid)
        self.apply(SideEffectUnknown(effect_id=eid, at=self.now))

    # -- deliberately illegal events ------------------------------------------------------

    @precondition(lambda self: self.probes < MAX_PROBES)
    @rule(kind=st.sampled_from(sorted(set(EVENT_TYPES) - {"run_started"})), data=st.data())
    def answer_an_effect_nobody_asked_for(self, kind: str, data: st.DataObject) -> None:
        answered = sorted({e.effect_id for e in self.effects} - set(self.ctx.pending))
        eid = data.draw(st.sampled_from(["ghost#99", *answered]))
        event = _event_of(kind, eid, self.now)
        self.reject(event, self._expected(kind, UnknownEffect))

    @precondition(lambda self: self.ctx.pending and self.probes < MAX_PROBES)
    @rule(data=st.data())
    def answer_with_the_wrong_kind(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(sorted(self.ctx.pending)))
        right = ANSWERS[self.ctx.pending[eid].kind]
        wrong = [k for k in ANSWERS.values() if k != right]
        kind = data.draw(st.sampled_from(wrong))
        self.reject(_event_of(kind, eid, self.now), self._expected(kind, UnknownEffect))

    @precondition(lambda self: not self.ctx.terminal and self.probes < MAX_PROBES)
    @rule(data=st.data())
    def send_a_kind_the_table_forbids(self, data: st.DataObject) -> None:
        forbidden = sorted(set(EVENT_TYPES) - set(TRANSITIONS[self.ctx.state]))
        kind = data.draw(st.sampled_from(forbidden))
        eid = data.draw(st.sampled_from(["ghost#1", *sorted(self.ctx.pending)]))
        self.reject(_event_of(kind, eid, self.now, self.cfg), IllegalTransition)

    @precondition(lambda self: self.ctx.terminal)
    @rule(kind=st.sampled_from(sorted(EVENT_TYPES)), data=st.data())
    def send_after_the_end(self, kind: str, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(["ghost#1", *sorted({e.effect_id for e in self.effects})]))
        self.reject(_event_of(kind, eid, self.now, self.cfg), TerminalRun)

    def _expected(self, kind: str, otherwise: type[Exception]) -> type[Exception]:
        if self.ctx.terminal:
            return TerminalRun
        if kind not in TRANSITIONS[self.ctx.state]:
            return IllegalTransition
        return otherwise

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def no_budget_is_overshot(self) -> None:
        if self.ctx.config is None:
            return
        _within(self.ctx.used, self.cfg.limits, "run")
        _within(self.ctx.used.plus(self.ctx.reserved), self.cfg.limits, "run, reserved included")
        for sub in self.ctx.agents.values():
            if sub.limits is not None:
                _within(sub.used.plus(sub.reserved), sub.limits, f"step {sub.step_id}")

    @invariant()
    def nothing_is_issued_past_the_wall_time_limit(self) -> None:
        for eff, walls in self.timed:
            starts = (getattr(eff, "not_before", None) or eff.issued_at) - self.ctx.started_at
            # a person's time counts too: a request may not wait past the limit
            timeout = eff.request.timeout_s if isinstance(eff, RequestHuman) else eff.timeout_s
            for wall in walls:
                assert starts < wall, f"{eff.effect_id} issued at {starts}s, limit {wall}s"
                assert timeout is not None and timeout <= wall - starts + 1e-9, (
                    f"{eff.effect_id} may run {timeout}s from {starts}s, limit {wall}s")

    @invariant()
    def reservations_add_up(self) -> None:
        total = {d: 0.0 for d in COUNTED}
        for res in self.ctx.reservations.values():
            for d in COUNTED:
                total[d] += getattr(res, d)
        for d in COUNTED:
            assert math.isclose(getattr(self.ctx.reserved, d), total[d], abs_tol=1e-9), d
        waiting = set(self.ctx.pending) | {e.effect_id for e in self.ctx.deferred}
        assert set(self.ctx.reservations) <= waiting

    @invariant()
    def a_live_run_can_always_be_answered(self) -> None:
        if self.ctx.config is None or self.ctx.terminal:
            return
        assert self.ctx.pending, "a live run with nothing in flight is stuck"
        for eff in self.ctx.pending.values():
            assert ANSWERS[eff.kind] in TRANSITIONS[self.ctx.state], (
                f"{eff.effect_id} ({eff.kind}) cannot be answered in state {self.ctx.state}")
        assert (self.ctx.state == State.AWAITING_HUMAN) == bool(self.ctx.approvals)

    @invariant()
    def effects_are_unique_and_end_with_finish(self) -> None:
        first: dict[str, Any] = {}
        for eff in self.effects:
            seen = first.setdefault(eff.effect_id, eff)
            if seen is not eff:
                # only a call whose fate was unknown is issued again, and as the very same call
                assert eff.effect_id in self.unknown, f"{eff.effect_id} was issued twice"
                assert isinstance(eff, RunTool) and isinstance(seen, RunTool)
                assert (eff.tool, eff.input, eff.idempotency_key) == (
                    seen.tool, seen.input, seen.idempotency_key)
        finishes = [e for e in self.effects if isinstance(e, Finish)]
        assert len(finishes) == (1 if self.ctx.terminal else 0)
        if finishes:
            assert self.effects[-1] is finishes[0], "something was emitted after Finish"
            assert finishes[0].outcome == self.ctx.outcome
            if self.ctx.outcome == "budget_exhausted":
                assert finishes[0].limit and finishes[0].limit == self.ctx.exhausted_limit
        budget_alerts = [e for e in self.effects if isinstance(e, RequestHuman)
                         and e.request.rule == "budget_threshold"]
        assert len(budget_alerts) <= 1, "the budget escalation fired twice"

    @invariant()
    def context_survives_json(self) -> None:
        assert AgentContext.model_validate_json(self.snapshot) == self.ctx

    @invariant()
    def replay_equals_live(self) -> None:
        assert self.replayed == self.ctx

    def teardown(self) -> None:
        if not self.events:
            return
        # steer the search toward long runs: that is where the interesting states are
        target(float(len(self.events)), label="events logged")
        records = [Record(i, e.kind, encode(e)) for i, e in enumerate(self.events)]
        events, _ = decode(RUN_ID, records)
        ctx = AgentContext()
        for ev in events:
            ctx, _ = step(ctx, ev)
        assert ctx == self.ctx


def _within(used: Any, limits: RunLimits, where: str) -> None:
    for d in COUNTED:
        limit = getattr(limits, d)
        if limit is not None:
            assert getattr(used, d) <= limit + 1e-9, f"{where}: {d} {getattr(used, d)} > {limit}"


def _event_of(kind: str, effect_id: str, at: float, cfg: AgentConfig | None = None) -> Any:
    if kind == "run_started":
        assert cfg is not None
        return RunStarted(run_id="again", task="again", config=cfg, at=at)
    if kind == "model_replied":
        return ModelReplied(effect_id=effect_id, at=at, response=ModelResponse(
            model=HAIKU, content=({"type": "text", "text": "hi"},), stop_reason="end_turn"))
    if kind == "model_failed":
        return ModelFailed(effect_id=effect_id, at=at, error_kind="overloaded")
    if kind == "tool_returned":
        return ToolReturned(effect_id=effect_id, at=at, output="x")
    if kind == "human_decided":
        return HumanDecided(effect_id=effect_id, at=at, decision="approve")
    return SideEffectUnknown(effect_id=effect_id, at=at)


RuntimeMachine.TestCase.settings = settings(
    # a deeper search, e.g. before a release: MACHINE_EXAMPLES=3000 pytest tests/test_core_machine.py
    max_examples=int(os.environ.get("MACHINE_EXAMPLES", "150")), stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRuntime = RuntimeMachine.TestCase
