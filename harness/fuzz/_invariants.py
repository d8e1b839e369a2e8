"""The invariants a fuzzed trial must keep, checked apart from the trial's own bookkeeping.

A trial's result line is the runtime's account of itself; these checks do not
trust it. They read the raw log records again (``read_log`` folds them through
``step`` once, recounting usage and noting every tool execution and every human
approval on the way), the world's own counters, and the context the driver
ended with, then compare. Each broken invariant is a ``Violation`` with a short
kind name:

    ==================== =================================================================
    kind                 what broke
    ==================== =================================================================
    illegal_transition   the runtime raised ``IllegalTransition``/``TerminalRun``/
                         ``UnknownEffect``: the trial ended ``crashed``
    unhandled_exception  any other exception escaped the runtime (or the trial itself)
    lost_event           the log does not fold, an event answers an effect that was not
                         in flight (duplicated or invented), a side effect ran with no
                         intent logged before it, or the fold of the log is not the
                         context the runtime ended with (an event was lost)
    budget_overshoot     usage (folded, and recounted event by event) passes a limit of
                         the run or of a sub-agent's slice
    usage_mismatch       the recount of the log disagrees with the folded ``used``
    duplicate_side_effect the world changed more (or less) often than the log says a
                         side-effecting tool succeeded, or one idempotency key succeeded
                         for two calls; also catches a tool that changes the world while
                         declared read-only
    unapproved_action    a production-affecting tool, or a call matching a scenario's
                         ``forbidden_actions``, ran with no person approving that call
                         (an approval by timeout is no person's approval)
    false_goal           the trial reported ``goal_met`` but the goal checks, evaluated
                         again from the log's actions, the world and the answer, fail
    ==================== =================================================================

Wall time is not checked as a budget: it is a deadline, and an effect already in
flight (a person thinking, an injected tool latency) may legitimately end after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.core import (
    DIMENSIONS,
    AgentConfig,
    AgentContext,
    CallModel,
    Event,
    Finish,
    HumanDecided,
    ModelFailed,
    ModelReplied,
    RunStarted,
    RunTool,
    RunUsage,
    ToolReturned,
    step,
)
from harness.errors import HarnessError
from harness.runner import TrialResult
from harness.scenario import ExecutedAction, Goals, evaluate
from harness.store import INTENT, Record, decode

#: Every violation kind, most fundamental first: a trial's violations are reported in this order.
VIOLATION_KINDS: tuple[str, ...] = (
    "illegal_transition", "unhandled_exception", "lost_event", "budget_overshoot",
    "usage_mismatch", "duplicate_side_effect", "unapproved_action", "false_goal",
)

_CORE_FAULTS = ("IllegalTransition", "TerminalRun", "UnknownEffect")
_ANSWERS = {"model_replied": "call_model", "model_failed": "call_model",
            "tool_returned": "run_tool", "side_effect_unknown": "run_tool",
            "human_decided": "request_human"}
_COST_EPS = 1e-9


@dataclass(frozen=True)
class Violation:
    """One broken invariant: ``kind`` (see ``VIOLATION_KINDS``) and what was seen."""

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class Execution:
    """A tool call the log says ran to completion (its result came back without error)."""

    effect_id: str
    agent: str
    call_id: str
    tool: str
    input: dict[str, Any]
    side_effecting: bool
    affects_production: bool
    idempotency_key: str | None
    approved: bool
    """A person approved (or edited) this very call before it was issued."""
    seq: int
    """The log record of its result."""


@dataclass
class LogView:
    """One trial's log, folded once and recounted: everything the checks read from it."""

    run_id: str
    events: list[Event] = field(default_factory=list)
    config: AgentConfig | None = None
    context: AgentContext | None = None
    """The fold of the log (as far as it goes, if it does not fold)."""
    fold_error: str | None = None
    problems: list[str] = field(default_factory=list)
    """Events that answer no effect in flight, repeated starts, intents after their result."""
    executions: list[Execution] = field(default_factory=list)
    usage: RunUsage = field(default_factory=RunUsage)
    """Usage recounted event by event (calls, tokens, cost from the config's prices)."""

    def actions(self) -> list[ExecutedAction]:
        return [ExecutedAction(x.tool, dict(x.input), x.approved) for x in self.executions]


@dataclass(frozen=True)
class Observation:
    """Everything one fuzzed trial left behind."""

    goals: Goals
    records: list[Record]
    log_id: str
    result: TrialResult | None = None
    """``None`` when ``run_trial`` itself raised (see ``error``)."""
    error: str | None = None
    world: Any = None
    final_context: AgentContext | None = None
    """The context the driver ended with; ``None`` if the runtime raised."""


# -- reading the log ---------------------------------------------------------------------


def read_log(run_id: str, records: list[Record]) -> LogView:
    """Fold a trial's records once, noting what the invariants need. Never raises."""
    view = LogView(run_id)
    try:
        events, _ = decode(run_id, records)
    except HarnessError as err:
        view.fold_error = f"{type(err).__name__}: {err}"
        return view
    view.events = events
    event_seqs = [r.seq for r in records if r.kind != INTENT]
    intent_seq: dict[str, int] = {}
    for r in records:
        if r.kind == INTENT:
            try:
                intent_seq.setdefault(str(json.loads(r.payload)["effect_id"]), r.seq)
            except (ValueError, KeyError, TypeError):
                view.problems.append(f"record #{r.seq}: a tool intent that does not decode")

    ctx = AgentContext()
    in_flight: dict[str, int] = {}
    kinds: dict[str, str] = {}
    issued: dict[str, RunTool] = {}
    calls: dict[str, CallModel] = {}
    approved_calls: set[tuple[str, str]] = set()
    approved_effects: set[str] = set()
    used = RunUsage()
    for i, ev in enumerate(events):
        seq = event_seqs[i]
        if isinstance(ev, RunStarted):
            if i != 0:
                view.problems.append(f"record #{seq}: run_started again in the middle of the run")
            view.config = ev.config
        else:
            eid = str(getattr(ev, "effect_id", ""))
            if in_flight.get(eid, 0) <= 0:
                what = "was already answered" if eid in kinds else "was never issued"
                view.problems.append(f"record #{seq}: {ev.kind} answers effect {eid!r}, which "
                                     f"{what}")
            elif kinds.get(eid) != _ANSWERS.get(ev.kind):
                view.problems.append(f"record #{seq}: {ev.kind} answers {eid!r}, a "
                                     f"{kinds.get(eid)} effect")
            in_flight[eid] = in_flight.get(eid, 0) - 1
        if isinstance(ev, HumanDecided) and ev.decision in ("approve", "edit"):
            pending = ctx.approvals.get(ev.effect_id)
            if pending is not None and pending.tool is not None:
                approved_calls.add((pending.tool.agent, pending.tool.call_id))
        try:
            ctx, effects = step(ctx, ev)
        except Exception as err:
            view.fold_error = f"record #{seq} ({ev.kind}) does not fold: {type(err).__name__}: {err}"
            break
        for eff in effects:
            if isinstance(eff, Finish):
                continue
            in_flight[eff.effect_id] = in_flight.get(eff.effect_id, 0) + 1
            kinds[eff.effect_id] = eff.kind
            if isinstance(eff, RunTool):
                issued[eff.effect_id] = eff
                if (eff.agent, eff.call_id) in approved_calls:
                    approved_effects.add(eff.effect_id)
            elif isinstance(eff, CallModel):
                calls[eff.effect_id] = eff
        used = _recount(used, ev, calls, view.config)
        if isinstance(ev, ToolReturned) and not ev.is_error and ev.effect_id in issued:
            run = issued[ev.effect_id]
            if run.side_effecting:
                before = intent_seq.get(run.effect_id)
                if before is None or before > seq:
                    view.problems.append(
                        f"record #{seq}: side-effecting {run.tool} ({run.effect_id}) ran with "
                        "no intent logged before it")
            view.executions.append(Execution(
                run.effect_id, run.agent, run.call_id, run.tool, dict(run.input),
                run.side_effecting, run.affects_production, run.idempotency_key,
                run.effect_id in approved_effects, seq))
    view.context = ctx
    view.usage = used
    return view


def _recount(used: RunUsage, ev: Event, calls: dict[str, CallModel],
             config: AgentConfig | None) -> RunUsage:
    """Charge one event as the provider bills it: a reply (or an unusable reply that was
    billed, ``ModelFailed.usage``) costs its tokens at the called model's price; a call
    that delivered nothing is one call with no tokens."""
    if isinstance(ev, ModelReplied | ModelFailed):
        u = ev.response.usage if isinstance(ev, ModelReplied) else ev.usage
        if u is None:
            return used.plus(RunUsage(llm_calls=1))
        call = calls.get(ev.effect_id)
        price = config.price(call.request.model) if config and call else None
        return used.plus(RunUsage(llm_calls=1, tokens_in=u.total_input_tokens,
                                  tokens_out=u.output_tokens,
                                  cost_usd=price.cost(u) if price else 0.0))
    if isinstance(ev, ToolReturned):
        return used.plus(RunUsage(tool_calls=1))
    return used  # run_started, human_decided, side_effect_unknown cost nothing


# -- the checks --------------------------------------------------------------------------


def check_outcome(result: TrialResult | None, error: str | None = None) -> list[Violation]:
    """The runtime must not break: a ``crashed`` trial, or a trial that raised, is a violation."""
    if error is not None:
        return [Violation("unhandled_exception", f"the trial itself raised {error}")]
    if result is None or result.outcome != "crashed":
        return []
    err = result.error or "no error recorded"
    kind = "illegal_transition" if err.startswith(_CORE_FAULTS) else "unhandled_exception"
    return [Violation(kind, f"the runtime crashed: {err}")]


def check_log(view: LogView, final: AgentContext | None) -> list[Violation]:
    """Every event answers an effect in flight exactly once; the log folds to the live context."""
    out = [Violation("lost_event", p) for p in view.problems]
    if view.fold_error is not None:
        out.append(Violation("lost_event", f"the log does not fold: {view.fold_error}"))
        return out
    if final is not None and view.context is not None and final != view.context:
        diff = _first_difference(view.context, final)
        out.append(Violation("lost_event", "the log folds to a different context than the "
                             f"runtime ended with ({diff})"))
    return out


def _first_difference(logged: AgentContext, live: AgentContext) -> str:
    a, b = logged.model_dump(mode="json"), live.model_dump(mode="json")
    for key in a:
        if a[key] != b.get(key):
            return f"{key}: log {_short(a[key])}, runtime {_short(b.get(key))}"
    return "the contexts differ"


def _short(value: Any, n: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= n else text[: n - 3] + "..."


def check_budget(view: LogView) -> list[Violation]:
    """No counted limit (run or sub-agent slice) is passed; the recount agrees with the fold."""
    ctx, cfg = view.context, view.config
    if ctx is None or cfg is None:
        return []
    out: list[Violation] = []
    for name in DIMENSIONS:
        limit = getattr(cfg.limits, name)
        folded, counted = getattr(ctx.used, name), getattr(view.usage, name)
        worst = max(folded, counted)
        if limit is not None and worst > limit + _COST_EPS:
            out.append(Violation("budget_overshoot", f"{name} used {worst:g}, over the run's "
                                 f"limit of {limit:g}"))
        if abs(folded - counted) > _COST_EPS:
            out.append(Violation("usage_mismatch", f"{name}: the run says {folded:g} was used, "
                                 f"its events add up to {counted:g}"))
    for sub in ctx.agents.values():
        if sub.limits is None:
            continue
        for name in DIMENSIONS:
            limit = getattr(sub.limits, name)
            value = getattr(sub.used, name)
            if limit is not None and value > limit + _COST_EPS:
                out.append(Violation("budget_overshoot", f"step {sub.step_id} used {value:g} "
                                     f"{name}, over its slice of {limit:g}"))
    return out


def check_side_effects(view: LogView, world: Any) -> list[Violation]:
    """The world's real executions per tool equal the log's successes; each key succeeds once."""
    out: list[Violation] = []
    executed: dict[str, int] = dict(getattr(world, "executions", None) or {})
    logged: dict[str, int] = {}
    keys: dict[str, str] = {}
    for x in view.executions:
        if not x.side_effecting:
            continue
        logged[x.tool] = logged.get(x.tool, 0) + 1
        if x.idempotency_key is not None:
            other = keys.setdefault(x.idempotency_key, x.effect_id)
            if other != x.effect_id:
                out.append(Violation("duplicate_side_effect", f"idempotency key "
                                     f"{x.idempotency_key!r} succeeded for two calls ({other} "
                                     f"and {x.effect_id})"))
    declared = {t.name: t.side_effecting for t in view.config.tools} if view.config else {}
    for tool in sorted(set(executed) | set(logged)):
        real, said = executed.get(tool, 0), logged.get(tool, 0)
        if real == said:
            continue
        if real > 0 and not declared.get(tool, True):
            msg = (f"{tool} changed the world {real} time(s) but is declared read-only, so it "
                   "has no intent record or idempotency key")
        elif real > said:
            msg = (f"{tool} changed the world {real} time(s) but the log records {said} "
                   "successful call(s): a side effect ran twice (or ran and was logged as failed)")
        else:
            msg = (f"the log records {said} successful {tool} call(s) but the world changed "
                   f"only {real} time(s)")
        out.append(Violation("duplicate_side_effect", msg))
    return out


def check_approvals(view: LogView, goals: Goals) -> list[Violation]:
    """A production-affecting or forbidden call runs only with a person's approval."""
    out: list[Violation] = []
    production = {t.name for t in view.config.tools if t.affects_production} if view.config else set()
    for x in view.executions:
        if x.approved:
            continue
        args = _short(x.input, 120)
        if x.affects_production or x.tool in production:
            out.append(Violation("unapproved_action", f"{x.tool}({args}) affects production and "
                                 f"ran (record #{x.seq}) with no person's approval"))
            continue
        for i, check in enumerate(goals.forbidden_actions):
            if check.tool == x.tool and all(x.input.get(k, _MISSING) == v
                                            for k, v in check.input.items()):
                out.append(Violation("unapproved_action", f"{x.tool}({args}) matches "
                                     f"goals.forbidden_actions[{i}] and ran (record #{x.seq}) "
                                     "with no person's approval"))
                break
    return out


_MISSING = object()


def check_goal(result: TrialResult | None, view: LogView, goals: Goals,
               snapshot: dict[str, Any] | None) -> list[Violation]:
    """A trial reported ``goal_met`` only if the goal checks pass when evaluated afresh."""
    if result is None or not result.goal_met:
        return []
    if snapshot is None or view.context is None:
        return [Violation("false_goal", "goal_met was reported but there is no world or log "
                          "to judge it from")]
    checks = evaluate(goals, snapshot, view.actions(), view.context.answer)
    failed = [c for c in checks if not c.ok]
    if not checks:
        return [Violation("false_goal", "goal_met was reported for a scenario with no checks")]
    if not failed:
        return []
    first = failed[0]
    detail = f" ({first.detail})" if first.detail else ""
    return [Violation("false_goal", f"goal_met was reported but {len(failed)} goal check(s) "
                      f"fail, first: {first.check}{detail}")]


def check_trial(obs: Observation) -> list[Violation]:
    """Every invariant of one trial, in ``VIOLATION_KINDS`` order."""
    found = check_outcome(obs.result, obs.error)
    view = read_log(obs.log_id, obs.records)
    found += check_log(view, obs.final_context)
    found += check_budget(view)
    if obs.world is not None:
        found += check_side_effects(view, obs.world)
    found += check_approvals(view, obs.goals)
    snapshot = obs.world.snapshot() if obs.world is not None else None
    found += check_goal(obs.result, view, obs.goals, snapshot)
    order = {k: i for i, k in enumerate(VIOLATION_KINDS)}
    return sorted(found, key=lambda v: order.get(v.kind, len(order)))
