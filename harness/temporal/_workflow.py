"""One trial as one Temporal workflow: the pure core, fed by activities.

Why one workflow per trial and not a child workflow per sub-agent: the core is one
state machine for the whole hierarchy (the orchestrator's plan, the sub-agents' turns,
their joins and the shared budget are one context), and on a virtual clock the order
in which sub-agents' results arrive is decided by their virtual finishing times, across
sub-agents. Splitting sub-agents into child workflows would split that one context into
several and need a protocol to join them again; the result would no longer be the same
run as the local backend's, which parity forbids. Sub-agents still run side by side on
a real clock (their activities are in flight together) and Temporal still schedules,
retries and records every effect.

The loop is the local driver's, effect for effect: every event is fed to the core,
each effect it asks for is performed by an activity on the worker that holds the
trial's world (its session): a local activity on the worker running the workflow task
by default (no server round trip per effect: a whole trial is a workflow task or two),
or an activity on that worker's own task queue. Results are delivered in virtual
finishing order, so the same seed gives the same events as ``harness run`` without
Temporal. This module imports the pure core and nothing that performs I/O: Temporal's
sandbox replays it.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from pydantic import TypeAdapter

    from harness.core import (
        ActionLog,
        AgentConfig,
        Effect,
        Finish,
        HumanDecided,
        Machine,
        RequestHuman,
        RunStarted,
        RunTool,
        event_adapter,
    )

_EFFECT: TypeAdapter[Effect] = TypeAdapter(Effect)

WORKFLOW_NAME = "harness-trial"
DECIDE_SIGNAL = "decide"
PENDING_QUERY = "pending_requests"
OUTSIDE_POLICY = "outside"
"""The approver policy whose decisions come from a person outside, by ``harness approve``."""

#: Infrastructure errors are retried by Temporal; these are the runtime's own verdicts and
#: a usage mistake, which no retry can change.
NON_RETRYABLE = ["UsageError", "ConfigError", "PlugInError", "BudgetExhausted"]

_OPEN_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                          maximum_interval=timedelta(seconds=5),
                          non_retryable_error_types=NON_RETRYABLE)
_SESSION_RETRY = RetryPolicy(maximum_attempts=1)
"""An effect is tried once on its session's worker: if that worker is gone, the workflow
opens the session again elsewhere and performs the effect there (see ``_perform``)."""


def _issue_order(eff: Any) -> tuple[float, int]:
    return (float(eff.issued_at), int(eff.effect_id.rsplit("#", 1)[1]))


@workflow.defn(name=WORKFLOW_NAME)
class TrialWorkflow:
    def __init__(self) -> None:
        self._decisions: dict[str, dict[str, Any]] = {}
        self._local_calls = 0
        self._effects_here = 0
        self._waiting: dict[str, dict[str, Any]] = {}

    @workflow.signal(name=DECIDE_SIGNAL)
    def decide(self, decision: dict[str, Any]) -> None:
        """A person's decision on a pending request (``harness approve``)."""
        self._decisions[str(decision.get("effect_id", ""))] = decision

    @workflow.query(name=PENDING_QUERY)
    def pending_requests(self) -> list[dict[str, Any]]:
        return [{"effect_id": k, **v} for k, v in sorted(self._waiting.items())]

    @workflow.run
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        carry = inp.pop("carry", None)
        self._inp = inp
        m = Machine()
        watch = ActionLog()
        queue: list[Any] = []
        queued: list[Any] = []
        ready: list[tuple[float, tuple[float, int], int, Any]] = []
        if carry is None:
            self._performed: list[dict[str, Any]] = []
            self._session: dict[str, Any] = await self._open()
            config = AgentConfig.model_validate(self._session["config"])
            records: list[list[str]] = []
            # the budgeted twin's id: an unbudgeted trial's keys and retry waits are its twin's
            first = RunStarted(run_id=inp.get("identity", inp["run_id"]), task=self._session["task"],
                               config=config, at=float(self._session["now"]))
            queue.append(first)
            now = first.at
        else:  # continued as new: the log so far folds back into the same machine
            self._performed, self._session = carry["performed"], carry["session"]
            records = carry["records"]
            for kind, payload in records:
                if kind != "tool_intent":
                    watch.feed(m, event_adapter.validate_json(payload))
            queued = [_EFFECT.validate_python(e) for e in carry["queued"]]
            ready = [(at, (o[0], o[1]), n, event_adapter.validate_python(ev))
                     for at, o, n, ev in carry["ready"]]
            heapq.heapify(ready)
            now = float(carry["now"])
        error: str | None = None
        try:
            while True:
                new: list[Any] = []
                for ev in queue:
                    records.append([ev.kind, ev.model_dump_json()])
                    new += watch.feed(m, ev)
                if m.terminal:
                    break
                for eff in new:
                    if isinstance(eff, RunTool) and eff.side_effecting:
                        records.append(["tool_intent", _intent(eff)])
                queued += [e for e in new if not isinstance(e, Finish)]
                if self._history_full():
                    workflow.continue_as_new({**inp, "carry": {
                        "performed": self._performed, "session": self._session,
                        "records": records, "now": now,
                        "queued": [e.model_dump(mode="json") for e in queued],
                        "ready": [[at, list(o), n, ev.model_dump(mode="json")]
                                  for at, o, n, ev in ready]}})
                if len(queued) == 1 and not ready:
                    ev = await self._perform(queued.pop(), now)
                    now = max(now, ev.at)
                    queue = [ev]
                    continue
                for eff in sorted(queued, key=_issue_order):
                    ev = await self._perform(eff, now)
                    heapq.heappush(ready, (ev.at, _issue_order(eff), len(ready), ev))
                queued = []
                if not ready:
                    raise RuntimeError(f"run {inp['run_id']!r} is stuck: nothing in flight")
                at, _, _, ev = heapq.heappop(ready)
                now = max(now, at)
                queue = [ev]
        except _TrialCrashed as err:
            error = str(err)
        except Exception as err:  # the runtime broke: the trial is crashed, the suite goes on
            error = f"{type(err).__name__}: {err}"
        ctx = m.context()
        actions = [asdict(a) for a in watch.actions]
        judged = await self._call("finish", {"actions": actions, "answer": ctx.answer})
        return {"crashed": error, "records": records, "actions": actions,
                "context": {"outcome": ctx.outcome, "answer": ctx.answer, "reason": ctx.reason,
                            "exhausted_limit": ctx.exhausted_limit,
                            "used": ctx.used.model_dump(mode="json"),
                            "elapsed_s": ctx.elapsed_s, "escalations": ctx.escalations,
                            "retries": ctx.retries},
                **judged}

    def _history_full(self) -> bool:
        """Whether to continue as new: the server suggests it (its history limits near), or
        the history passed the run's own limit. Checked between effects, where the whole
        state is the log so far and the effects in flight: nothing is waited on."""
        if not self._effects_here:  # a new run goes one effect further at least
            return False
        info = workflow.info()
        limit = int(self._inp.get("history_limit") or 0)
        # a local activity's marker joins the history only when its workflow task completes:
        # count each one as an event already there (an overestimate, never an underestimate)
        length = info.get_current_history_length() + self._local_calls
        return info.is_continue_as_new_suggested() or (limit > 0 and length >= limit)

    # -- sessions -------------------------------------------------------------------------

    async def _open(self) -> dict[str, Any]:
        """Open the trial's session: build the world, the model client and the approver,
        replay the effects performed so far (after a failover), and answer where the
        trial's effects go next.

        With local activities the session is opened on the worker running this workflow
        task, and effects run there as local activities: no server round trip per effect,
        only a marker in the history. If that worker refuses the trial (another agent
        version) the session opens on the shared queue instead, on whichever worker runs
        the trial's own agent, and effects go to that worker's queue as activities."""
        inp = self._inp
        timeout = timedelta(seconds=float(inp.get("open_timeout_s", 600)))
        arg = {**inp, "performed": self._performed,
               "session": f"{workflow.info().workflow_id}/{workflow.info().run_id}/"
                          f"{len(self._performed)}"}
        if inp.get("local_activities"):
            try:
                local: dict[str, Any] = await workflow.execute_local_activity(
                    "open_session", {**arg, "local": True}, start_to_close_timeout=timeout,
                    retry_policy=_SESSION_RETRY)
                return local
            except _FAILED as err:
                if not _is(err, "AgentVersionMismatch"):
                    raise
        session: dict[str, Any] = await workflow.execute_activity(
            "open_session", arg, task_queue=inp["task_queue"], start_to_close_timeout=timeout,
            retry_policy=_OPEN_RETRY)
        return session

    async def _call(self, name: str, arg: dict[str, Any], *,
                    timeout_s: float | None = None) -> dict[str, Any]:
        """One activity on the session's worker; a lost worker (or a session that is not
        where the history says it is) reopens the session and tries again."""
        failover = timedelta(seconds=float(self._inp.get("failover_s", 10)))
        for _ in range(int(self._inp.get("max_failovers", 20))):
            sent = {**arg, "session": self._session["session"], "seq": len(self._performed)}
            try:
                if self._session.get("local"):
                    self._local_calls += 1
                    out: dict[str, Any] = await workflow.execute_local_activity(
                        name, sent, start_to_close_timeout=timedelta(seconds=timeout_s or 3600),
                        retry_policy=_SESSION_RETRY)
                else:
                    out = await workflow.execute_activity(
                        name, sent, task_queue=self._session["task_queue"],
                        schedule_to_start_timeout=failover, heartbeat_timeout=failover,
                        start_to_close_timeout=timedelta(seconds=timeout_s or 3600),
                        retry_policy=_SESSION_RETRY)
            except _FAILED as err:
                if isinstance(_cause(err), ActivityTimeout) or _is(err, "SessionLost"):
                    self._session = await self._open()  # the worker went away: rebuild
                    continue
                raise _TrialCrashed(_message(err)) from None
            return out
        raise _TrialCrashed(f"the trial's worker was lost more than "
                            f"{self._inp.get('max_failovers', 20)} times")

    async def _perform(self, eff: Any, now: float) -> Any:
        if isinstance(eff, RequestHuman) and self._session.get("human") == OUTSIDE_POLICY:
            return await self._ask_outside(eff)
        arg = {"effect": eff.model_dump(mode="json"), "now": now}
        out = await self._call("perform", arg, timeout_s=_timeout_of(eff))
        self._performed.append(arg)
        self._effects_here += 1
        return event_adapter.validate_python(out["event"])

    async def _ask_outside(self, eff: RequestHuman) -> HumanDecided:
        """Wait (durably: a server timer) for a person's decision delivered as a signal."""
        req = eff.request
        self._waiting[eff.effect_id] = {"request": req.model_dump(mode="json"),
                                        "text": req.render()}
        started = workflow.now()
        try:
            await workflow.wait_condition(lambda: eff.effect_id in self._decisions,
                                          timeout=timedelta(seconds=req.timeout_s))
            d = self._decisions[eff.effect_id]
        except TimeoutError:  # nobody answered in time: the request's default applies
            d = {"decision": "timeout"}
        finally:
            self._waiting.pop(eff.effect_id, None)
        waited = (workflow.now() - started).total_seconds()
        return HumanDecided(effect_id=eff.effect_id, at=eff.issued_at + min(waited, req.timeout_s),
                            decision=d.get("decision", "timeout"),
                            edited_input=d.get("edited_input"), note=str(d.get("note", "")))


class _TrialCrashed(Exception):
    pass


_FAILED = (ActivityError, ApplicationError)
"""How a failed activity reaches the workflow: an activity's error wrapped in an
``ActivityError``; a local activity's, as the error it raised."""


def _cause(err: Exception) -> BaseException | None:
    return err.cause if isinstance(err, ActivityError) else err


def _message(err: Exception) -> str:
    """The activity's error as the local runner words a crash: ``Type: message``."""
    cause = _cause(err)
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}" if cause.type else cause.message
    return str(cause or err)


def _is(err: Exception, kind: str) -> bool:
    cause = _cause(err)
    return isinstance(cause, ApplicationError) and cause.type == kind


def _timeout_of(eff: Any) -> float | None:
    t = getattr(eff, "timeout_s", None)
    return None if t is None else float(t) + 60.0


def _intent(eff: RunTool) -> str:
    return json.dumps({"effect_id": eff.effect_id, "tool": eff.tool,
                       "idempotency_key": eff.idempotency_key}, sort_keys=True)
