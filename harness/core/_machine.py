"""``step(context, event) -> (context, effects)``: the whole agent, with no I/O.

The input context is never changed. ``step`` copies what it touches into a
``Machine``, lets one handler per event kind work on it, checks the resulting state
change against ``TRANSITIONS`` and hands the fields over as the new context (the
driver feeds one ``Machine`` a whole run instead, copying nothing per event). Any
time, id or random draw the core needs arrives inside the event or is derived
from the run's seed, so folding a log through ``step`` rebuilds a run exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.core import _budget as budget
from harness.core._budget import TOOL_RESERVATION, RunUsage
from harness.core._config import AgentConfig, RoleConfig, RunLimits, ToolInfo
from harness.core._context import AgentContext, PendingApproval, PlanStep, StepResult, SubAgent
from harness.core._effects import (
    CallModel,
    Effect,
    Finish,
    HumanRequest,
    Outcome,
    RequestHuman,
    RunTool,
)
from harness.core._events import (
    HumanDecided,
    ModelFailed,
    ModelReplied,
    RunStarted,
    SideEffectUnknown,
    ToolReturned,
    _Event,
)
from harness.core._fast import from_dict, replace
from harness.core._llm_types import (
    ModelRequest,
    ModelResponse,
    Usage,
    count_request_tokens,
    count_tokens,
)
from harness.core._states import TERMINAL_STATES, State
from harness.core._transitions import allowed
from harness.errors import IllegalTransition, LimitExceeded, RuntimeFault, TerminalRun

ORCHESTRATOR = "orchestrator"
_EMPTY = AgentContext()
_ONE_FAILED_CALL = RunUsage(llm_calls=1)
_JSON = json.JSONEncoder(sort_keys=True, default=str)
"""``json.dumps(value, sort_keys=True, default=str)``, without building an encoder per call."""


class UnknownEffect(RuntimeFault):
    def __init__(self, effect_id: str, event_kind: str) -> None:
        super().__init__(f"event {event_kind!r} answers effect {effect_id!r}, which is not pending")


# --- the tool schemas the core itself fills through the model -------------------------


class _Schema(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _PlanInput(_Schema):
    steps: list[PlanStep] = Field(min_length=1)
    rationale: str = ""


class _ReflectionInput(_Schema):
    decision: Literal["done", "replan", "escalate", "fail"]
    answer: str = ""
    confidence: float = Field(1.0, ge=0, le=1)
    reason: str = ""


class _VerdictInput(_Schema):
    verdict: Literal["pass", "fail"]
    reason: str = ""


def plan_tool(roles: tuple[RoleConfig, ...]) -> dict[str, Any]:
    """The ``submit_plan`` schema; with roles given, a step's role must be one of them."""
    names = [r.name for r in roles]
    role_schema: dict[str, Any] = {"type": "string", "enum": names} if names else {"type": "string"}
    return {
        "name": "submit_plan",
        "description": "Submit the plan: ordered steps, each routed to one role. "
        "Steps with no dependency between them run in parallel.",
        "input_schema": {
            "type": "object",
            "properties": {
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "role": role_schema,
                            "instruction": {"type": "string"},
                            "depends_on": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": ["id", "role", "instruction"],
                    },
                },
                "rationale": {"type": "string"},
            },
            "required": ["steps"],
        },
    }


REFLECTION_TOOL: dict[str, Any] = {
    "name": "submit_reflection",
    "description": "Decide what happens next: done (give the final answer), replan, escalate "
    "to a human, or fail. Give your confidence in the answer from 0 to 1.",
    "input_schema": {
        "type": "object",
        "properties": {
            "decision": {"type": "string", "enum": ["done", "replan", "escalate", "fail"]},
            "answer": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "reason": {"type": "string"},
        },
        "required": ["decision"],
    },
}

VERDICT_TOOL: dict[str, Any] = {
    "name": "submit_verdict",
    "description": "Pass the proposed answer if the step results support it, else fail it.",
    "input_schema": {
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": ["pass", "fail"]},
            "reason": {"type": "string"},
        },
        "required": ["verdict"],
    },
}


def _request(**fields: Any) -> ModelRequest:
    return from_dict(ModelRequest, fields)


def _forced(name: str) -> dict[str, Any]:
    return {"type": "tool", "name": name}


def _own_fields(of: Any) -> dict[str, Any]:
    """A copy of a context's (or machine's) fields whose mutable containers are its own."""
    f = dict(of.__dict__)
    f["pending"] = dict(f["pending"])
    f["reservations"] = dict(f["reservations"])
    f["approvals"] = dict(f["approvals"])
    f["agents"] = dict(f["agents"])
    return f


# --- the machine -----------------------------------------------------------------------


class Machine:
    """A run's state as a mutable working copy: ``feed`` applies events to it in place.

    ``step`` is ``Machine(ctx).feed(event)`` plus a snapshot, so the pure function and
    the in-place form are one code path. The driver keeps one machine for a whole run
    instead: folding thousands of events then copies nothing per event, and a snapshot
    (``context()``) is taken only when someone asks for one.

    The machine's ``__dict__`` *is* its copy of the context's fields (the bookkeeping
    lives in slots), so handlers read fields as plain attributes and a snapshot hands a
    copy of the dict over as the new context's fields. Sub-agents are copy-on-write:
    the first change to one after a snapshot (or after construction) copies it, later
    changes update that copy in place, as no context or effect outside holds it.

    A ``feed`` that raises may have been half applied; the machine then refuses further
    events (the pure ``step`` throws such a copy away, so its input is never touched).
    """

    __slots__ = ("__dict__", "_broken", "_own", "out")

    def __init__(self, ctx: AgentContext | None = None) -> None:
        self.__dict__ = _own_fields(ctx or _EMPTY)
        self.out: list[Effect] = []
        self._own: dict[str, SubAgent] = {}
        """Sub-agents copied since the last snapshot: nothing outside has seen them."""
        self._broken = False

    def feed(self, event: _Event) -> list[Effect]:
        """Apply one event in place; return the effects it asks for.

        Raises ``IllegalTransition``/``TerminalRun``/``UnknownEffect`` on misuse."""
        if self._broken:
            raise RuntimeFault("this machine failed an earlier event and holds a half-applied "
                               "state; rebuild it from the log")
        kind: str = event.kind  # type: ignore[attr-defined]
        state: State = self.state
        if state in TERMINAL_STATES:
            raise TerminalRun(state.value, kind)
        targets = allowed(state, kind)
        if targets is None:
            raise IllegalTransition(state.value, kind)
        out: list[Effect] = []
        self.out = out
        at: float = event.at
        if at > self.now:
            self.now = at
        try:
            _HANDLERS[kind](self, event)
            _settle_state(self)
            new_state: State = self.state
            if new_state not in targets:
                raise IllegalTransition(state.value, kind, new_state.value)
        except BaseException:
            self._broken = True
            raise
        if new_state != state:
            self.transitions += 1
        return out

    def context(self) -> AgentContext:
        """A frozen snapshot of the current state (the machine goes on independently)."""
        self._own.clear()  # the snapshot shares every sub-agent: the next change copies
        return from_dict(AgentContext, _own_fields(self))

    def _give_up_context(self) -> AgentContext:
        """The state as a context without copying: for a machine that is thrown away next."""
        return from_dict(AgentContext, self.__dict__)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES  # type: ignore[no-any-return]

    if TYPE_CHECKING:
        # plain field access keeps handlers readable: ``d.state`` is the draft's field
        config: AgentConfig
        """Set by ``run_started``, the only event a run can begin with."""
        state: State
        now: float
        started_at: float
        next_effect: int
        used: RunUsage
        reserved: RunUsage
        deferred: tuple[Effect, ...]
        pending: dict[str, Effect]
        reservations: dict[str, RunUsage]
        approvals: dict[str, PendingApproval]
        agents: dict[str, SubAgent]

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    @property
    def f(self) -> dict[str, Any]:
        """The fields, for handlers that replace one wholesale."""
        return self.__dict__

    def set(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def new_id(self, agent: str) -> str:
        n = self.next_effect
        self.next_effect = n + 1
        return f"{agent}#{n}"

    def agent(self, agent_id: str) -> SubAgent:
        return self.agents[agent_id]  # type: ignore[no-any-return]

    def put_agent(self, sub: SubAgent, **changes: Any) -> SubAgent:
        """Store ``sub`` with ``changes`` and return the stored version.

        The first change to a sub-agent since the last snapshot copies it; later changes
        update that copy in place (no context or effect outside holds it). So
        after a put, read the sub-agent through the returned value or ``agent()``,
        never through a reference taken before the put.
        """
        if not changes:
            self.agents[sub.step_id] = sub
            return sub
        step_id = sub.step_id
        if self._own.get(step_id) is sub and self.agents.get(step_id) is sub:
            sub.__dict__.update(changes)
            return sub
        new = replace(sub, **changes)
        self.agents[step_id] = new
        self._own[step_id] = new
        return new

    def blocked(self) -> bool:
        return any(a.blocking for a in self.approvals.values())

    def emit(self, effect: Effect, reservation: RunUsage | None = None) -> None:
        if reservation is not None:
            self.reservations[effect.effect_id] = reservation
            self.reserved = self.reserved.plus(reservation)
            sub = self.agents.get(effect.agent)
            if sub is not None and sub.limits is not None:
                self.put_agent(sub, reserved=sub.reserved.plus(reservation))
        if self.approvals and self.blocked() and not isinstance(effect, RequestHuman | Finish):
            self.deferred = (*self.deferred, effect)
            return
        if not isinstance(effect, Finish):
            self.pending[effect.effect_id] = effect
        self.out.append(effect)

    def release(self, effect_id: str) -> None:
        res = self.reservations.pop(effect_id, None)
        if res is None:
            return
        self.reserved = self.reserved.minus(res)
        sub = self.agents.get(effect_id.rsplit("#", 1)[0])
        if sub is not None and sub.limits is not None:
            self.put_agent(sub, reserved=sub.reserved.minus(res))

    def charge(self, agent_id: str, usage: RunUsage) -> None:
        self.used = self.used.plus(usage)
        sub = self.agents.get(agent_id)
        if sub is not None:
            # per-step accounting: for its slice, and for the report of what each step cost
            self.put_agent(sub, used=sub.used.plus(usage))

    def take(self, effect_id: str, kind: str, event_kind: str) -> Effect:
        eff = self.pending.pop(effect_id, None)
        if eff is None or eff.kind != kind:
            raise UnknownEffect(effect_id, event_kind)
        self.release(effect_id)
        return eff  # type: ignore[no-any-return]


# --- step ------------------------------------------------------------------------------


def step(ctx: AgentContext, event: _Event) -> tuple[AgentContext, list[Effect]]:
    """Apply one event. Raises ``IllegalTransition``/``TerminalRun``/``UnknownEffect`` on misuse."""
    m = Machine(ctx)
    out = m.feed(event)
    return m._give_up_context(), out


def _settle_state(d: Machine) -> None:
    if d.finished:
        state = State.DONE if d.outcome == "done" else State.FAILED
    elif d.approvals:
        state = State.AWAITING_HUMAN
    else:
        state = d.phase
    d.state = state


def fold(events: list[_Event]) -> AgentContext:
    """Rebuild a run's context from its events (resume and replay are this fold)."""
    m = Machine()
    for ev in events:
        m.feed(ev)
    return m._give_up_context()


# --- handlers --------------------------------------------------------------------------


def _on_run_started(d: Machine, e: RunStarted) -> None:
    d.set(run_id=e.run_id, task=e.task, config=e.config, started_at=e.at, now=e.at)
    if e.config.orchestrator.mode == "direct":
        _start_direct(d)
        return
    d.set(phase=State.PLANNING)
    _ask_for_plan(d)


def _start_direct(d: Machine) -> None:
    """Direct mode: one step, the task itself, on the first working role; no planning call."""
    cfg = d.config
    role = next(r for r in cfg.roles if r.name != cfg.verification_role)
    step_id = "main" if d.replans == 0 else f"main-{d.replans + 1}"
    plan = (PlanStep(id=step_id, role=role.name, instruction=d.task),)
    d.set(plan=plan, results=(), phase=State.EXECUTING)
    d.f["agents"] = {}
    d.put_agent(SubAgent(step_id=step_id, role=role.name, instruction=d.task))
    _advance(d)


def _on_model_replied(d: Machine, e: ModelReplied) -> None:
    eff = d.take(e.effect_id, "call_model", e.kind)
    assert isinstance(eff, CallModel)
    resp = e.response
    d.charge(eff.agent, _billed(d, eff, resp.usage))
    _check_budget_threshold(d)
    if eff.purpose == "plan":
        _on_plan(d, resp)
    elif eff.purpose == "reflect":
        _on_reflection(d, resp)
    else:
        _on_agent_reply(d, eff, resp)


def _billed(d: Machine, eff: CallModel, usage: Usage) -> RunUsage:
    price = d.config.price(eff.request.model)
    return from_dict(RunUsage, {
        "llm_calls": 1,
        "tool_calls": 0,
        "tokens_in": usage.total_input_tokens,
        "tokens_out": usage.output_tokens,
        "cost_usd": price.cost(usage) if price else 0.0,
    })


def _on_model_failed(d: Machine, e: ModelFailed) -> None:
    eff = d.take(e.effect_id, "call_model", e.kind)
    assert isinstance(eff, CallModel)
    # a failed attempt is still a call: it counts against the budget, and a reply that
    # arrived unusable costs the tokens it was billed for
    d.charge(eff.agent, _ONE_FAILED_CALL if e.usage is None else _billed(d, eff, e.usage))
    _check_budget_threshold(d)
    policy = d.config.retry
    if e.error_kind in policy.retry_on and eff.attempt < policy.max_attempts:
        d.set(retries=d.retries + 1)
        delay = _retry_delay(d, eff, e.retry_after_s)
        _call(d, eff.agent, eff.purpose, eff.role, eff.request, attempt=eff.attempt + 1,
              not_before=d.now + delay)
        return
    why = f"model call failed after {eff.attempt} attempt(s): {e.error_kind}: {e.message}".strip()
    if eff.purpose in ("plan", "reflect"):
        _finish(d, "failed", reason=why)
        return
    _note_failure(d, why)
    _end_agent(d, d.agent(eff.agent), ok=False, error=why)


def _retry_delay(d: Machine, eff: CallModel, retry_after: float | None) -> float:
    policy = d.config.retry
    if retry_after is not None:
        return min(retry_after, policy.retry_after_cap_s)
    base = min(policy.max_delay_s, policy.base_delay_s * 2 ** (eff.attempt - 1))
    # seeded jitter: the same run, seed and attempt always wait the same time
    digest = hashlib.blake2b(
        f"{d.config.seed}:{d.run_id}:{eff.effect_id}".encode(), digest_size=8
    ).digest()
    unit = int.from_bytes(digest, "big") / 2**64
    return float(base * (1 - policy.jitter + 2 * policy.jitter * unit))


def _on_tool_returned(d: Machine, e: ToolReturned) -> None:
    eff = d.take(e.effect_id, "run_tool", e.kind)
    assert isinstance(eff, RunTool)
    d.charge(eff.agent, TOOL_RESERVATION)
    _check_budget_threshold(d)
    if e.is_error:
        _note_failure(d, f"tool {eff.tool} failed: {_short(e.output)}")
    _tool_result(d, eff.agent, eff.call_id, e.output, e.is_error)


def _on_human_decided(d: Machine, e: HumanDecided) -> None:
    d.take(e.effect_id, "request_human", e.kind)
    approval: PendingApproval = d.approvals.pop(e.effect_id)
    decision = e.decision
    if decision == "timeout":
        decision = d.config.escalation.on_timeout.get(approval.rule, "deny")
    _DECIDERS[approval.rule](d, approval, decision, e)
    if not d.finished and not d.blocked() and d.deferred:
        held, d.f["deferred"] = d.deferred, ()
        for eff in held:
            _reissue(d, eff)
    if not d.finished:
        _advance(d)


def _reissue(d: Machine, eff: Effect) -> None:
    """Send an effect held back while a person decided. Its other limits stay reserved,
    but time has passed: the wall-time checks (the run's and the step's slice) are taken
    again, and the timeout shrinks to what is left."""
    if d.finished:
        return
    if not isinstance(eff, CallModel | RunTool):
        d.emit(eff.model_copy(update={"issued_at": d.now}))
        return
    elapsed = max(d.now, getattr(eff, "not_before", None) or d.now) - d.started_at
    try:
        left = budget._check_wall(d.config.limits, elapsed, "")
    except LimitExceeded as err:
        _finish(d, "budget_exhausted", reason=str(err), limit=err.limit)
        return
    sub = d.agents.get(eff.agent)
    if sub is not None and sub.limits is not None:
        try:
            slice_left = budget._check_wall(sub.limits, elapsed, f"step {sub.step_id} ")
        except LimitExceeded as err:
            # the step's slice ran out while it waited: that step fails, the run goes on
            d.release(eff.effect_id)
            if isinstance(eff, RunTool):
                _tool_result(d, sub.step_id, eff.call_id, {"error": f"budget: {err}"}, True)
            else:
                _note_failure(d, str(err))
                _end_agent(d, d.agent(sub.step_id), ok=False,
                           error=f"budget slice exhausted: {err}")
            return
        if slice_left is not None:
            left = slice_left if left is None else min(left, slice_left)
    timeout = eff.timeout_s
    if left is not None:
        timeout = left if timeout is None else min(timeout, left)
    d.emit(eff.model_copy(update={"issued_at": d.now, "timeout_s": timeout}))


def _on_side_effect_unknown(d: Machine, e: SideEffectUnknown) -> None:
    eff = d.take(e.effect_id, "run_tool", e.kind)
    assert isinstance(eff, RunTool)
    _escalate(
        d, "side_effect_unknown", eff.agent, blocking=True, tool=eff,
        why=f"the run crashed while {eff.tool!r} was running, and the tool cannot take an "
        "idempotency key, so nobody knows whether it took effect",
        decision_needed=f"Re-run {eff.tool!r} (approve), report it as not done (deny), "
        "or enter its result (edit)?",
        proposed=eff.input,
    )


_HANDLERS: dict[str, Callable[[Machine, Any], None]] = {
    "run_started": _on_run_started,
    "model_replied": _on_model_replied,
    "model_failed": _on_model_failed,
    "tool_returned": _on_tool_returned,
    "human_decided": _on_human_decided,
    "side_effect_unknown": _on_side_effect_unknown,
}


# --- planning --------------------------------------------------------------------------


def _ask_for_plan(d: Machine) -> None:
    cfg = d.config
    roles = [r for r in cfg.roles if r.name != cfg.verification_role]
    lines = [f"Task: {d.task}", "", "Roles:"]
    for r in roles:
        tools = ", ".join(r.tools) or "no tools"
        lines.append(f"- {r.name}: {r.description or r.name} (tools: {tools})")
    if d.history:
        lines += ["", "Earlier attempts:", *d.history]
    if d.plan_feedback:
        lines += ["", f"Your last plan was rejected: {d.plan_feedback}"]
    request = _request(
        model=cfg.orchestrator.model,
        system=cfg.orchestrator.system_prompt,
        messages=({"role": "user", "content": "\n".join(lines)},),
        tools=(plan_tool(tuple(roles)),),
        tool_choice=_forced("submit_plan"),
        max_tokens=cfg.orchestrator.max_tokens,
        temperature=None,
    )
    _call(d, ORCHESTRATOR, "plan", ORCHESTRATOR, request)


def _on_plan(d: Machine, resp: ModelResponse) -> None:
    try:
        plan = _parse_plan(d.config, resp)
    except ValueError as err:
        attempts = d.plan_attempts + 1
        d.set(plan_attempts=attempts, plan_feedback=str(err))
        if attempts >= d.config.orchestrator.max_plan_attempts:
            _finish(d, "failed", reason=f"no valid plan after {attempts} attempt(s): {err}")
        else:
            _ask_for_plan(d)
        return
    d.set(plan=plan, plan_attempts=0, plan_feedback="", results=(), phase=State.EXECUTING)
    d.f["agents"] = {}
    for s in plan:
        d.put_agent(SubAgent(step_id=s.id, role=s.role, instruction=s.instruction,
                             depends_on=s.depends_on))
    _advance(d)


def _parse_plan(cfg: AgentConfig, resp: ModelResponse) -> tuple[PlanStep, ...]:
    raw = _tool_input(resp, "submit_plan")
    try:
        plan = _PlanInput.model_validate(raw)
    except ValidationError as err:
        raise ValueError(_first_error(err)) from None
    steps = tuple(plan.steps)
    if len(steps) > cfg.orchestrator.max_steps:
        raise ValueError(f"{len(steps)} steps, more than the limit of {cfg.orchestrator.max_steps}")
    ids = [s.id for s in steps]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate step ids in {ids}")
    for sid in ids:
        # effects are charged and sliced by agent name: a step may not share one with the
        # orchestrator or a verifier, or their calls would draw on the step's budget slice
        if sid == ORCHESTRATOR or (sid.startswith("verify-") and sid[7:].isdigit()):
            raise ValueError(f"step id {sid!r} is reserved for the runtime")
    for s in steps:
        if cfg.role(s.role) is None or s.role == cfg.verification_role:
            raise ValueError(f"step {s.id!r} names unknown role {s.role!r}")
        for dep in s.depends_on:
            if dep not in ids:
                raise ValueError(f"step {s.id!r} depends on unknown step {dep!r}")
    # depth-first cycle check
    deps = {s.id: s.depends_on for s in steps}
    done: set[str] = set()
    for start in ids:
        path: list[str] = []
        _visit(start, deps, done, path)
    return steps


def _visit(node: str, deps: dict[str, tuple[str, ...]], done: set[str], path: list[str]) -> None:
    if node in done:
        return
    if node in path:
        raise ValueError("steps depend on each other in a cycle: " + " -> ".join([*path, node]))
    path.append(node)
    for dep in deps[node]:
        _visit(dep, deps, done, path)
    path.pop()
    done.add(node)


def _tool_input(resp: ModelResponse, name: str) -> Any:
    for block in resp.tool_uses():
        if block.get("name") == name:
            return block.get("input")
    raise ValueError(f"the reply did not call {name!r} (stop_reason {resp.stop_reason!r})")


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "input"
    return f"{where}: {e['msg']}"


# --- executing: sub-agents -------------------------------------------------------------


def _advance(d: Machine) -> None:
    """Start every step whose dependencies are met; reflect once all steps have ended."""
    if d.finished or d.phase != State.EXECUTING:
        return
    progressed = True
    while progressed and not d.finished:
        progressed = False
        for step_id in list(d.agents):
            sub = d.agents[step_id]
            if sub.status != "waiting" or d.finished or d.phase != State.EXECUTING:
                continue
            dep_states = [d.agents[x].status for x in sub.depends_on]
            if any(s in ("failed", "skipped") for s in dep_states):
                _end_agent(d, sub, ok=False, error="a step it depends on failed", status="skipped")
                progressed = True
            elif all(s == "done" for s in dep_states):
                _start_agent(d, sub)
                progressed = True
    if d.finished or d.phase != State.EXECUTING:
        return
    if all(s.status in ("done", "failed", "skipped") for s in d.agents.values()):
        if d.config.orchestrator.mode == "direct":
            only = d.results[-1]
            if only.ok:
                d.set(phase=State.REFLECTING, proposed_answer=only.output)
                _verify_or_finish(d, only.output)
            else:
                _finish(d, "failed", reason=f"step {only.step_id} failed: {only.error}")
            return
        _reflect(d)


def _start_agent(d: Machine, sub: SubAgent) -> None:
    role = d.config.role(sub.role)
    assert role is not None
    text = f"[step {sub.step_id}] {sub.instruction}"
    deps = [r for r in d.results if r.step_id in sub.depends_on]
    if deps:
        text += "\n\nResults of earlier steps:\n" + "\n".join(_result_line(r) for r in deps)
    if d.history:
        # a step run again after a replan learns why the last attempt fell short
        text += f"\n\nThis is attempt {d.replans + 1} of the task. " + d.history[-1]
    msg = {"role": "user", "content": [{"type": "text", "text": text}]}
    limits = role.limits
    if limits is None and role.budget_share is not None:
        limits = d.config.limits.scaled(role.budget_share)
    sub = d.put_agent(sub, status="running", messages=(msg,), message_tokens=count_tokens(msg),
                      limits=limits)
    _agent_call(d, sub)


def _agent_call(d: Machine, sub: SubAgent) -> None:
    role = d.config.role(sub.role)
    assert role is not None
    tools, choice, fixed_tokens = _role_parts(d.config, role, sub.purpose)
    request = _request(
        model=role.model, system=role.system_prompt, messages=sub.messages, tools=tools,
        tool_choice=choice, max_tokens=role.max_tokens, temperature=None,
    )
    _call(d, sub.step_id, sub.purpose, role.name, request,
          input_tokens=fixed_tokens + sub.message_tokens)


_ROLE_PARTS: dict[tuple[int, int, str], tuple[Any, ...]] = {}


def _role_parts(
    cfg: AgentConfig, role: RoleConfig, purpose: str
) -> tuple[tuple[dict[str, Any], ...], dict[str, Any] | None, int]:
    """A role's tool schemas and the tokens of everything but its messages, built once
    per role and tool set. Keyed by the identity of the role and of the configuration's
    tools (the entry keeps both alive, so their ids cannot be reused): a suite's trials
    share them while each trial's configuration differs by its seed."""
    key = (id(role), id(cfg.tools), purpose)
    hit = _ROLE_PARTS.get(key)
    if hit is not None and hit[0] is role and hit[1] is cfg.tools:
        return hit[2], hit[3], hit[4]
    if purpose == "verify":
        tools: tuple[dict[str, Any], ...] = (VERDICT_TOOL,)
        choice: dict[str, Any] | None = _forced("submit_verdict")
    else:
        tools = tuple(t.api_schema() for t in _role_tools(cfg, role))
        choice = None
    fixed = (count_tokens(role.system_prompt) + count_tokens(list(tools))
             + (count_tokens(choice) if choice else 0))
    if len(_ROLE_PARTS) > 1024:
        _ROLE_PARTS.clear()
    _ROLE_PARTS[key] = (role, cfg.tools, tools, choice, fixed)
    return tools, choice, fixed


def _role_tools(cfg: AgentConfig, role: RoleConfig) -> list[ToolInfo]:
    return [t for name in role.tools if (t := cfg.tool(name)) is not None]


def _on_agent_reply(d: Machine, eff: CallModel, resp: ModelResponse) -> None:
    sub = d.agent(eff.agent)
    if sub.status != "running":
        return
    if resp.content:
        msg = {"role": "assistant", "content": list(resp.content)}
        # ``t + (x,)`` copies the history in C; ``(*t, x)`` is ~7x slower on a long one
        sub = d.put_agent(sub, messages=sub.messages + (msg,), turns=sub.turns + 1,  # noqa: RUF005
                          message_tokens=sub.message_tokens + count_tokens(msg))
    else:
        # an empty reply (e.g. cut off at max_tokens before any text) is not echoed back:
        # the API refuses an empty assistant message anywhere but at the very end
        sub = d.put_agent(sub, turns=sub.turns + 1)
    if sub.purpose == "verify":
        _on_verdict(d, sub, resp)
        return
    if resp.stop_reason == "refusal":
        _note_failure(d, f"step {sub.step_id}: the model refused")
        _end_agent(d, sub, ok=False, error="the model refused")
        return
    uses = resp.tool_uses()
    if uses:
        ids = tuple(str(u.get("id", "")) for u in uses)
        if len(set(ids)) != len(ids):
            # results are matched to calls by id: with a repeated id the turn would go on
            # while a call is still running, and its late result would hit a finished step
            _note_failure(d, f"step {sub.step_id}: tool_use ids repeat in {list(ids)}")
            _end_agent(d, sub, ok=False, error=f"malformed reply: tool_use ids repeat {list(ids)}")
            return
        if resp.stop_reason == "max_tokens":
            # a tool call cut off mid-input must not run: its input may be incomplete.
            # Every tool_use still needs its tool_result, so each gets an error to retry.
            blocks = [{"type": "tool_result", "tool_use_id": i, "is_error": True,
                       "content": "This tool call was cut off at max_tokens and was not run. "
                       "Call it again with a shorter input."} for i in ids]
            _note_failure(d, f"step {sub.step_id}: tool call truncated at max_tokens")
            _continue(d, sub, blocks)
            return
        d.put_agent(sub, open_calls=ids, results={})
        for use in uses:
            _propose_tool(d, d.agent(sub.step_id), use)
        return
    if resp.stop_reason == "max_tokens":
        _continue(d, sub, [{"type": "text", "text": "Your reply was cut off. Continue."}])
        return
    _end_agent(d, sub, ok=True, output=resp.text())


def _propose_tool(d: Machine, sub: SubAgent, use: dict[str, Any]) -> None:
    call_id = str(use.get("id", ""))
    name = str(use.get("name", ""))
    role = d.config.role(sub.role)
    assert role is not None
    tool = d.config.tool(name)
    tool_input = use.get("input")
    if tool is None or name not in role.tools:
        _tool_result(d, sub.step_id, call_id, {"error": f"unknown tool {name!r}"}, True)
        return
    if not isinstance(tool_input, dict):
        _tool_result(d, sub.step_id, call_id, {"error": "tool input must be a JSON object"}, True)
        return
    eff = from_dict(RunTool, {
        "effect_id": "", "agent": sub.step_id, "issued_at": d.now, "kind": "run_tool",
        "call_id": call_id, "tool": name, "input": tool_input,
        "side_effecting": tool.side_effecting, "affects_production": tool.affects_production,
        "idempotency_key": None, "timeout_s": None, "intent": sub.instruction,
    })
    rules = d.config.escalation
    if (rules.production_actions and tool.affects_production) or name in rules.require_approval:
        why = (f"{name!r} affects production" if tool.affects_production
               else f"{name!r} always needs approval")
        _escalate(d, "production_action", sub.step_id, blocking=False, tool=eff, why=why,
                  decision_needed=f"Allow {name!r} with this input?", proposed=tool_input)
        return
    _run_tool(d, sub, eff, fresh=True)


def _run_tool(d: Machine, sub: SubAgent, eff: RunTool, *, again: bool = False,
              fresh: bool = False) -> None:
    """Issue a tool call within budget; ``again`` keeps the call's own id and key.

    ``fresh``: ``eff`` was built for this call and nothing else holds it, so it is
    completed in place rather than copied."""
    if d.finished:
        # an earlier call of the same reply ended the run: nothing may follow ``Finish``
        return
    try:
        timeout = budget.check_before_tool_call(
            d.config.limits, d.used, d.reserved, elapsed_s=d.now - d.started_at)
    except LimitExceeded as err:
        _finish(d, "budget_exhausted", reason=str(err), limit=err.limit)
        return
    if sub.limits is not None:
        try:
            slice_left = budget.check_before_tool_call(sub.limits, sub.used, sub.reserved,
                                                       elapsed_s=d.now - d.started_at,
                                                       scope=f"step {sub.step_id} ")
        except LimitExceeded as err:
            _tool_result(d, sub.step_id, eff.call_id, {"error": f"budget: {err}"}, True)
            return
        if slice_left is not None:
            timeout = slice_left if timeout is None else min(timeout, slice_left)
    if again:
        effect_id, key = eff.effect_id, eff.idempotency_key
    else:
        effect_id = d.new_id(sub.step_id)
        key = f"{d.run_id}:{effect_id}" if eff.side_effecting else None
    changes = {"effect_id": effect_id, "idempotency_key": key, "timeout_s": timeout,
               "issued_at": d.now}
    if fresh:
        eff.__dict__.update(changes)
    else:
        eff = replace(eff, **changes)
    d.emit(eff, TOOL_RESERVATION)


def _tool_result(d: Machine, agent_id: str, call_id: str, output: Any, is_error: bool) -> None:
    sub = d.agent(agent_id)
    if sub.status != "running" or call_id not in sub.open_calls:
        return
    content = output if isinstance(output, str) else _JSON.encode(output)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id, "content": content}
    if is_error:
        block["is_error"] = True
    results = {**sub.results, call_id: block}
    sub = d.put_agent(sub, results=results)
    if all(c in results for c in sub.open_calls):
        _continue(d, sub, [results[c] for c in sub.open_calls])


def _continue(d: Machine, sub: SubAgent, blocks: list[dict[str, Any]]) -> None:
    msg = {"role": "user", "content": blocks}
    sub = d.put_agent(sub, messages=sub.messages + (msg,), open_calls=(), results={},  # noqa: RUF005
                      message_tokens=sub.message_tokens + count_tokens(msg))
    role = d.config.role(sub.role)
    assert role is not None
    if sub.turns >= role.max_turns:
        _note_failure(d, f"step {sub.step_id}: turn limit")
        _end_agent(d, sub, ok=False, error=f"no answer within {role.max_turns} turns")
        return
    _agent_call(d, sub)


def _end_agent(
    d: Machine, sub: SubAgent, *, ok: bool, output: str = "", error: str = "",
    status: Literal["done", "failed", "skipped"] | None = None,
) -> None:
    sub = d.agent(sub.step_id)
    if sub.status in ("done", "failed", "skipped"):
        return
    final = status or ("done" if ok else "failed")
    d.put_agent(sub, status=final, output=output, error=error, open_calls=(), results={})
    if sub.purpose == "verify":
        if not ok:
            # a failed verdict, or a verification that could not run (its call failed, its
            # slice ran out): either way the answer is unchecked and never becomes ``done``
            _verification_failed(d, error)
        return
    d.set(results=(*d.results, StepResult(step_id=sub.step_id, role=sub.role, ok=ok,
                                          output=output, error=error)))
    _advance(d)


def _result_line(r: StepResult) -> str:
    if r.ok:
        return f"- {r.step_id} ({r.role}): {r.output}"
    return f"- {r.step_id} ({r.role}) FAILED: {r.error}"


# --- reflecting and verifying -----------------------------------------------------------


def _reflect(d: Machine) -> None:
    d.set(phase=State.REFLECTING)
    cfg = d.config
    text = "\n".join([
        f"Task: {d.task}", "", "Step results:", *(_result_line(r) for r in d.results), "",
        "Decide: done (with the final answer), replan, escalate, or fail.",
    ])
    request = _request(
        model=cfg.orchestrator.model, system=cfg.orchestrator.system_prompt,
        messages=({"role": "user", "content": text},), tools=(REFLECTION_TOOL,),
        tool_choice=_forced("submit_reflection"), max_tokens=cfg.orchestrator.max_tokens,
        temperature=None,
    )
    _call(d, ORCHESTRATOR, "reflect", ORCHESTRATOR, request)


def _on_reflection(d: Machine, resp: ModelResponse) -> None:
    try:
        r = _ReflectionInput.model_validate(_tool_input(resp, "submit_reflection"))
    except (ValueError, ValidationError) as err:
        why = _first_error(err) if isinstance(err, ValidationError) else str(err)
        _note_failure(d, f"unusable reflection: {why}")
        attempts = d.plan_attempts + 1
        d.set(plan_attempts=attempts)
        if attempts >= d.config.orchestrator.max_plan_attempts:
            _finish(d, "failed", reason=f"no usable reflection: {why}")
        elif not d.finished:
            _reflect(d)
        return
    d.set(plan_attempts=0, confidence=r.confidence)
    if r.decision == "done":
        d.set(proposed_answer=r.answer)
        threshold = d.config.escalation.min_confidence
        if threshold is not None and r.confidence < threshold:
            _escalate(d, "low_confidence", ORCHESTRATOR, blocking=True, answer=r.answer,
                      why=f"confidence {r.confidence:.0%} is under {threshold:.0%}",
                      decision_needed="Accept this answer (approve), reject it (deny), "
                      "or correct it (edit)?", proposed={"answer": r.answer})
            return
        _verify_or_finish(d, r.answer)
    elif r.decision == "replan":
        _replan(d, r.reason or "the orchestrator asked to replan")
    elif r.decision == "escalate":
        _escalate(d, "agent_request", ORCHESTRATOR, blocking=True, answer=r.answer,
                  why=r.reason or "the agent asked for help",
                  decision_needed="Continue with a new plan (approve), stop (deny), "
                  "or give the answer (edit)?", proposed={"answer": r.answer})
    else:
        _finish(d, "failed", reason=r.reason or "the orchestrator gave up")


def _replan(d: Machine, reason: str) -> None:
    if d.replans >= d.config.orchestrator.max_replans:
        _finish(d, "failed", reason=f"replan limit reached: {reason}")
        return
    summary = f"Attempt {d.replans + 1}: " + "; ".join(
        f"{r.step_id} {'ok' if r.ok else 'failed: ' + r.error}" for r in d.results
    ) + f". Replanned because: {reason}"
    d.set(replans=d.replans + 1, history=(*d.history, summary), phase=State.PLANNING)
    if d.config.orchestrator.mode == "direct":
        _start_direct(d)
        return
    _ask_for_plan(d)


def _verify_or_finish(d: Machine, answer: str) -> None:
    role_name = d.config.verification_role
    if role_name is None:
        _finish(d, "done", answer=answer)
        return
    n = d.verifications + 1
    d.set(verifications=n)
    text = "\n".join([
        f"[step verify-{n}] Check the proposed answer against the step results.",
        f"Task: {d.task}", f"Proposed answer: {answer}", "Step results:",
        *(_result_line(r) for r in d.results),
    ])
    msg = {"role": "user", "content": [{"type": "text", "text": text}]}
    sub = d.put_agent(SubAgent(step_id=f"verify-{n}", role=role_name, instruction=text,
                               purpose="verify", status="running", messages=(msg,),
                               message_tokens=count_tokens(msg)))
    _agent_call(d, sub)


def _on_verdict(d: Machine, sub: SubAgent, resp: ModelResponse) -> None:
    try:
        v = _VerdictInput.model_validate(_tool_input(resp, "submit_verdict"))
        verdict, reason = v.verdict, v.reason
    except (ValueError, ValidationError) as err:
        verdict, reason = "fail", f"no usable verdict: {err}"
    _end_agent(d, sub, ok=verdict == "pass", output=reason, error=reason)
    if verdict == "pass":
        _finish(d, "done", answer=d.proposed_answer)


def _verification_failed(d: Machine, reason: str) -> None:
    _note_failure(d, f"verification failed: {reason}")
    if not d.finished and not d.blocked():
        _replan(d, f"verification failed: {reason}")
    elif not d.finished:
        d.set(plan_feedback=f"verification failed: {reason}")


# --- escalation ------------------------------------------------------------------------


def _escalate(
    d: Machine, rule: str, agent: str, *, blocking: bool, why: str, decision_needed: str,
    tool: RunTool | None = None, answer: str = "", proposed: dict[str, Any] | None = None,
) -> None:
    if d.finished:
        return
    rules = d.config.escalation
    # a person's time is wall time too: the wait may not outlast the run's limit, and with
    # no time left nobody is asked
    try:
        left = budget._check_wall(d.config.limits, d.now - d.started_at, "")
    except LimitExceeded as err:
        _finish(d, "budget_exhausted", reason=str(err), limit=err.limit)
        return
    timeout = rules.timeout_s if left is None else min(rules.timeout_s, left)
    if agent in d.agents:
        doing = f"step {agent} ({d.agent(agent).role}): {d.agent(agent).instruction}"
    else:
        doing = f"orchestrating: {d.task}"
    request = HumanRequest(
        rule=rule, what_doing=doing[:300], why=why, decision_needed=decision_needed,
        proposed_action=({"tool": tool.tool, "input": proposed} if tool else proposed),
        default_on_timeout=rules.on_timeout.get(rule, "deny"), timeout_s=timeout,
        budget=budget.summary(d.config.limits, d.used, d.now - d.started_at),
    )
    effect_id = d.new_id(agent)
    d.approvals[effect_id] = PendingApproval(effect_id=effect_id, rule=rule, agent=agent,
                                             blocking=blocking, tool=tool, answer=answer)
    d.set(escalations=d.escalations + 1)
    d.emit(RequestHuman(effect_id=effect_id, agent=agent, request=request, issued_at=d.now))


def _note_failure(d: Machine, why: str) -> None:
    n = d.failures + 1
    d.set(failures=n)
    limit = d.config.escalation.max_failures
    if limit is None or n < limit or d.finished:
        return
    if any(a.rule == "repeated_failures" for a in d.approvals.values()):
        return
    _escalate(d, "repeated_failures", ORCHESTRATOR, blocking=True,
              why=f"{n} failures since the last check-in; the last: {why}",
              decision_needed="Keep going (approve) or stop the run (deny)?")


def _check_budget_threshold(d: Machine) -> None:
    frac = d.config.escalation.budget_fraction
    if frac is None or d.budget_alerted or d.finished:
        return
    used = budget.fractions_used(d.config.limits, d.used, d.now - d.started_at)
    over = {k: v for k, v in used.items() if v >= frac}
    if not over:
        return
    d.set(budget_alerted=True)
    worst = max(over, key=lambda k: over[k])
    _escalate(d, "budget_threshold", ORCHESTRATOR, blocking=True,
              why=f"{over[worst]:.0%} of the {worst} budget is spent",
              decision_needed="Keep going (approve) or stop the run (deny)?")


def _decide_tool(d: Machine, a: PendingApproval, decision: str, e: HumanDecided) -> None:
    assert a.tool is not None
    sub = d.agent(a.agent)
    if decision == "approve":
        _run_tool(d, sub, a.tool)
    elif decision == "edit" and e.edited_input is not None:
        _run_tool(d, sub, a.tool.model_copy(update={"input": e.edited_input}))
    else:
        note = f": {e.note}" if e.note else ""
        _tool_result(d, a.agent, a.tool.call_id,
                     {"error": f"a human denied {a.tool.tool!r}{note}"}, True)


def _decide_unknown(d: Machine, a: PendingApproval, decision: str, e: HumanDecided) -> None:
    assert a.tool is not None
    if decision == "approve":
        # re-issue the very same effect (same id, same key): the person judged it safe; it
        # is one more tool call, so it passes the budget checks like any other
        _run_tool(d, d.agent(a.agent), a.tool, again=True)
    elif decision == "edit" and e.edited_input is not None:
        _tool_result(d, a.agent, a.tool.call_id, e.edited_input, False)
    else:
        _tool_result(d, a.agent, a.tool.call_id,
                     {"error": f"{a.tool.tool!r} may not have run; not retried"}, True)


def _decide_answer(d: Machine, a: PendingApproval, decision: str, e: HumanDecided) -> None:
    if decision == "approve":
        if a.rule == "agent_request":
            _replan(d, "a human approved another attempt")
        else:
            _verify_or_finish(d, a.answer)
    elif decision == "edit" and e.edited_input is not None:
        _finish(d, "done", answer=str(e.edited_input.get("answer", "")),
                reason="answer given by a human")
    else:
        _finish(d, "escalated", reason=f"a human stopped the run ({a.rule})")


def _decide_continue(d: Machine, a: PendingApproval, decision: str, e: HumanDecided) -> None:
    if decision in ("approve", "edit"):
        if a.rule == "repeated_failures":
            d.set(failures=0)
        if d.plan_feedback.startswith("verification failed"):
            reason, d.f["plan_feedback"] = d.plan_feedback, ""
            _replan(d, reason)
    else:
        _finish(d, "escalated", reason=f"a human stopped the run ({a.rule})")


_DECIDERS: dict[str, Callable[[Machine, PendingApproval, str, HumanDecided], None]] = {
    "production_action": _decide_tool,
    "side_effect_unknown": _decide_unknown,
    "low_confidence": _decide_answer,
    "agent_request": _decide_answer,
    "repeated_failures": _decide_continue,
    "budget_threshold": _decide_continue,
}


# --- effects with budgets ----------------------------------------------------------------


def _call(
    d: Machine, agent: str, purpose: Any, role: str, request: ModelRequest, *,
    attempt: int = 1, not_before: float | None = None, input_tokens: int | None = None,
) -> None:
    """Emit a model call after reserving its worst case in every budget it draws on."""
    if d.finished:
        return
    if input_tokens is None:
        input_tokens = count_request_tokens(request)
    price = d.config.price(request.model)
    elapsed = (not_before or d.now) - d.started_at
    try:
        max_tokens, timeout = budget.check_before_model_call(
            d.config.limits, d.used, d.reserved, input_tokens=input_tokens,
            want_max_tokens=request.max_tokens, price=price, elapsed_s=elapsed)
    except LimitExceeded as err:
        _finish(d, "budget_exhausted", reason=str(err), limit=err.limit)
        return
    cap = d.config.retry.call_timeout_s
    timeout = cap if timeout is None else min(timeout, cap)
    sub = d.agents.get(agent)
    if sub is not None and sub.limits is not None:
        try:
            max_tokens, slice_left = _slice_check(sub, sub.limits, input_tokens, max_tokens,
                                                  price, elapsed)
        except LimitExceeded as err:
            _note_failure(d, str(err))
            _end_agent(d, sub, ok=False, error=f"budget slice exhausted: {err}")
            return
        if slice_left is not None:
            # the step's own wall-time slice bounds the call as well as the run's
            timeout = min(timeout, slice_left)
    if max_tokens != request.max_tokens:
        request = replace(request, max_tokens=max_tokens)
    effect = from_dict(CallModel, {
        "effect_id": d.new_id(agent), "agent": agent, "issued_at": d.now, "kind": "call_model",
        "purpose": purpose, "role": role, "request": request, "attempt": attempt,
        "timeout_s": timeout, "not_before": not_before,
    })
    d.emit(effect, budget.model_reservation(input_tokens, max_tokens, price))


def _slice_check(sub: SubAgent, limits: RunLimits, input_tokens: int, max_tokens: int,
                 price: Any, elapsed: float) -> tuple[int, float | None]:
    return budget.check_before_model_call(
        limits, sub.used, sub.reserved, input_tokens=input_tokens, want_max_tokens=max_tokens,
        price=price, elapsed_s=elapsed, scope=f"step {sub.step_id} ")


def _finish(d: Machine, outcome: Outcome, *, answer: str = "", reason: str = "",
            limit: str | None = None) -> None:
    if d.finished:
        return
    d.set(outcome=outcome, answer=answer, reason=reason, exhausted_limit=limit)
    # whatever is still in flight is abandoned: its answers can no longer change the run
    d.f["pending"] = {}
    d.f["reservations"] = {}
    d.f["approvals"] = {}
    d.set(deferred=(), reserved=budget.ZERO)
    # an escalation raised earlier in this same step (say, the budget alert of the very
    # call that then found the budget spent) can never reach a person: drop it, uncounted
    unsent = [e for e in d.out if isinstance(e, RequestHuman)]
    if unsent:
        d.out[:] = [e for e in d.out if not isinstance(e, RequestHuman)]
        d.set(escalations=d.escalations - len(unsent))
    d.out.append(Finish(effect_id=d.new_id(ORCHESTRATOR), agent=ORCHESTRATOR, outcome=outcome,
                        answer=answer, reason=reason, limit=limit))


def _short(value: Any, n: int = 160) -> str:
    text = value if isinstance(value, str) else _JSON.encode(value)
    return text if len(text) <= n else text[: n - 1] + "…"
