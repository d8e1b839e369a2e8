"""The local interpreter: performs the core's effects on asyncio and feeds back events.

Loop: append the event to the log, ``step`` the core, launch the effects it asked
for, wait for the next answer, repeat until ``Finish``. Every event is in the log
before the effects it causes are launched, and a side-effecting tool's intent is
committed before it runs, so a crash at any point resumes without repeating a
side effect: ``resume`` folds the log back through the core and launches again
exactly the effects that were in flight.

Time: with a virtual clock each effect runs on its own timeline starting at the
moment the core issued it; results are delivered in order of their virtual
finishing time (ties by issue time, then effect number: an order a resume rebuilds
from the log, which launch order would not survive), which keeps parallel sub-agents
parallel and every trial byte-for-byte reproducible. With the real clock, results are
delivered as they complete.
"""

from __future__ import annotations

import asyncio
import heapq
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from harness.core import (
    AgentConfig,
    AgentContext,
    CallModel,
    Effect,
    Finish,
    HumanDecided,
    HumanRequest,
    Machine,
    ModelFailed,
    ModelReplied,
    RequestHuman,
    RunStarted,
    RunTool,
    SideEffectUnknown,
    ToolReturned,
)
from harness.core._events import _Event
from harness.core._fast import from_dict
from harness.driver._clock import RealClock, VirtualClock, _timeline
from harness.errors import LogDecodeError, ModelError, RuntimeFault, UsageError
from harness.protocols import Clock, Human, ModelClient, Tools
from harness.store import INTENT, Recorder, decode, encode, encode_intent
from harness.telemetry import RunTracer
from harness.tools import ToolRegistry


class HumanDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    decision: Literal["approve", "deny", "edit", "timeout"]
    edited_input: dict[str, Any] | None = None
    note: str = ""


class NobodyHome:
    """The default approver: nobody answers, so every escalation times out."""

    async def decide(self, request: HumanRequest, clock: Clock) -> HumanDecision:
        await clock.sleep(request.timeout_s)
        return HumanDecision(decision="timeout")


class Crash(BaseException):
    """Raised by a crash hook to drop the run on the floor, like SIGKILL would."""


@dataclass
class RunResult:
    run_id: str
    context: AgentContext
    records: int
    """Records in the log (events and tool intents)."""
    resumed: bool = False

    @property
    def outcome(self) -> str | None:
        return self.context.outcome

    @property
    def answer(self) -> str:
        return self.context.answer


@dataclass(order=True)
class _Done:
    at: float
    order: tuple[float, int]
    """(issued_at, effect number): the tie-break, the same in a run and its resume."""
    event: _Event = field(compare=False)


class FeedWatch(Protocol):
    """Feeds the run's machine every event, in log order, and may note what it sees.

    A resume's replay of the log goes through it too, so a watch handed to the driver
    that finishes a run has seen exactly the stored log, crashes or not."""

    def feed(self, m: Machine, ev: Any) -> list[Effect]: ...


class Driver:
    """Runs agents: one driver can run many runs, one at a time per ``run``/``resume`` call."""

    def __init__(
        self,
        *,
        model: ModelClient,
        tools: Tools | None = None,
        recorder: Recorder,
        clock: Clock | None = None,
        human: Human | None = None,
        tracer: RunTracer | None = None,
        crash_hook: Callable[[int, str], None] | None = None,
        watch: FeedWatch | None = None,
    ) -> None:
        self.model = model
        self.tools: Tools = tools if tools is not None else ToolRegistry()
        self.recorder = recorder
        self.clock: Clock = clock or VirtualClock()
        self.human: Human = human or NobodyHome()
        self._tracer = tracer
        self.crash_hook = crash_hook
        """Called with (seq, kind) before each record is appended; may raise ``Crash``."""
        self.watch = watch
        self._feed: Callable[[Machine, Any], list[Effect]] = (
            watch.feed if watch is not None else Machine.feed)

    async def run(self, config: AgentConfig, task: str, *, run_id: str,
                  log_key: str | None = None) -> RunResult:
        """Run to the end, logged under ``log_key`` (default: ``run_id``).

        ``run_id`` is the run's identity, which seeds what the run derives (retry jitter,
        idempotency keys); ``log_key`` only says where its log goes. A run started again
        under another key (its first log kept, since the log is append-only) is then the
        same run, not one whose waits and keys differ by the key's spelling."""
        key = log_key or run_id
        if self.recorder.read_run(key):
            raise UsageError(f"run {key!r} already has a log; resume it instead")
        self.recorder.open_run(key, {"agent": config.name})
        r = _Run(self, key, Machine(), 0, {})
        await r.start(RunStarted(run_id=run_id, task=task, config=config, at=self.clock.now()))
        return RunResult(key, r.ctx, r.seq)

    async def resume(self, run_id: str) -> RunResult:
        """Continue the run logged under ``run_id`` (its log key: the run's identity is
        the one its first record holds)."""
        records = self.recorder.read_run(run_id)
        if not records:
            raise UsageError(f"run {run_id!r} has no log to resume")
        events, intents = decode(run_id, records)
        m = Machine()
        feed = self._feed
        # an intent counts only for the call issued last under its effect id: a keyless
        # call a human approved re-running is issued again under the same id, and an
        # intent logged before that re-issue says nothing about whether the re-run started
        live: dict[str, dict[str, Any]] = {}
        next_event = iter(events)
        for rec in records:
            if rec.kind == INTENT:
                eid = str(json.loads(rec.payload)["effect_id"])
                live[eid] = intents[eid]
                continue
            try:
                issued = feed(m, next(next_event))
            except RuntimeFault as err:
                raise LogDecodeError(run_id, rec.seq, f"event does not fold: {err}") from None
            for eff in issued:
                live.pop(eff.effect_id, None)
        self.recorder.open_run(run_id)
        r = _Run(self, run_id, m, len(records), live)
        if isinstance(self.clock, VirtualClock):
            self.clock.advance_to(m.now)
        await r.resume()
        return RunResult(run_id, r.ctx, r.seq, resumed=True)


class _Run:
    """One run's loop; lives only as long as one ``run`` or ``resume`` call."""

    def __init__(self, drv: Driver, run_id: str, machine: Machine, seq: int,
                 intents: dict[str, dict[str, Any]]) -> None:
        self.drv = drv
        self.run_id = run_id
        self.m = machine
        """The run's state, fed in place: a snapshot (``ctx``) is taken only when needed."""
        self.seq = seq
        self.intents = intents
        self.uncertain: set[str] = set()
        """Side-effecting calls relaunched on resume that may already have run."""
        self.virtual = isinstance(drv.clock, VirtualClock)
        self.launches = 0
        self.ready: list[_Done] = []
        self.tasks: dict[asyncio.Task[_Event], int] = {}
        self.queued: list[Effect] = []
        self.tracer = drv._tracer or RunTracer()

    @property
    def ctx(self) -> AgentContext:
        return self.m.context()

    # -- log --------------------------------------------------------------------------

    def _append(self, kind: str, payload: str) -> None:
        if self.drv.crash_hook is not None:
            self.drv.crash_hook(self.seq, kind)
        self.drv.recorder.append(self.run_id, self.seq, kind, payload)
        self.seq += 1

    # -- loop -------------------------------------------------------------------------

    async def start(self, first: RunStarted) -> None:
        self.tracer.start_run(first.config.name, self.run_id)
        try:
            await self._loop(first, [])
        except BaseException as err:
            self._abandon(err)
            raise
        self.tracer.end_run(self.ctx)

    async def resume(self) -> None:
        m = self.m
        name = m.config.name if m.config else "agent"
        self.tracer.start_run(name, self.run_id, resumed=True)
        try:
            if m.terminal:
                self.tracer.end_run(self.ctx)
                return
            relaunch: list[Effect] = []
            unknown: list[SideEffectUnknown] = []
            for eff in sorted(m.pending.values(), key=_effect_order):
                if isinstance(eff, RunTool) and eff.side_effecting and eff.effect_id in self.intents:
                    tool_ok = eff.tool in self.drv.tools and (
                        self.drv.tools.get(eff.tool).accepts_idempotency_key)
                    if not tool_ok:
                        unknown.append(SideEffectUnknown(effect_id=eff.effect_id, at=m.now))
                        continue
                relaunch.append(eff)
            self.uncertain = {e.effect_id for e in relaunch if isinstance(e, RunTool)
                              and e.side_effecting and e.effect_id in self.intents}
            # a crash between an event's commit and its intents' commit leaves side-effecting
            # calls that never ran and have no intent: log it now, before they run, or a
            # second crash would find no intent and re-run a keyless tool blindly
            missing = [e for e in relaunch if isinstance(e, RunTool) and e.side_effecting
                       and e.effect_id not in self.intents]
            for eff in missing:
                self._append(INTENT, encode_intent(eff.effect_id, eff.tool, eff.idempotency_key))
                self.intents[eff.effect_id] = {"effect_id": eff.effect_id, "tool": eff.tool}
            if missing:
                self.drv.recorder.flush(self.run_id)
            await self._loop(None, relaunch, unknown)
        except BaseException as err:
            self._abandon(err)
            raise
        self.tracer.end_run(self.ctx)

    def _abandon(self, err: BaseException) -> None:
        for t in self.tasks:
            t.cancel()
        self.tracer.end_run(self.ctx, error=err)

    async def _loop(self, first: _Event | None, relaunch: list[Effect],
                    injected: list[SideEffectUnknown] | None = None) -> None:
        recorder, key = self.drv.recorder, self.run_id
        m = self.m
        feed = self.drv._feed
        tracer = self.tracer
        traced = tracer.recording
        # effects that were in flight at a crash are launched again, intents already logged
        for eff in relaunch:
            self._launch(eff, log_intent=False)
        queue: list[_Event] = [first] if first is not None else []
        queue.extend(injected or [])
        while True:
            must_flush = False
            for ev in queue:
                kind: str = ev.kind  # type: ignore[attr-defined]
                self._append(kind, encode(ev))  # type: ignore[arg-type]
                must_flush = must_flush or self._durable_now(kind, ev)
            if must_flush:
                recorder.flush(key)
            new_effects: list[Effect] = []
            for ev in queue:
                before = m.state
                new_effects += feed(m, ev)
                if traced and m.state != before:
                    tracer.state_changed(before, m.state, ev.kind)  # type: ignore[attr-defined]
            if m.terminal:
                recorder.flush(key)
                return
            intents = [e for e in new_effects if isinstance(e, RunTool) and e.side_effecting]
            for eff in intents:
                self._append(INTENT, encode_intent(eff.effect_id, eff.tool, eff.idempotency_key))
            if intents:
                recorder.flush(key)
            for eff in new_effects:
                if not isinstance(eff, Finish):
                    self._launch(eff)
            queue = [await self._next()]

    def _durable_now(self, kind: str, ev: _Event) -> bool:
        """Whether this record must be committed before anything else happens.

        Everything that cost money (a model reply), took a person's time, or changed the
        world is committed at once. A read-only tool's result may wait for the next
        commit: if a crash loses it, the resume runs that harmless call again. This
        halves the commits of a typical agent loop without risking a repeated side
        effect or an unrecorded model bill.
        """
        if kind != "tool_returned":
            return True
        eff = self.m.pending.get(ev.effect_id)  # type: ignore[attr-defined]
        return eff is None or bool(getattr(eff, "side_effecting", True))

    # -- effects ----------------------------------------------------------------------

    def _launch(self, eff: Effect, log_intent: bool = True) -> None:
        self.tracer.effect_started(eff, self.m)
        n = self.launches
        self.launches += 1
        if self.virtual:
            self.queued.append(eff)
            return
        task = asyncio.get_running_loop().create_task(self._perform(eff))
        self.tasks[task] = n

    async def _timed(self, eff: Effect) -> _Event:
        """Perform one effect on its own virtual timeline, starting when it was issued.

        Exactly ``issued_at``, not the current time: an effect relaunched by ``resume``
        was issued before the last logged event, and starting it late would change when
        it finishes, hence the order of events and the resumed run's outcome.
        """
        token = _timeline.set([eff.issued_at])
        try:
            return await self._perform(eff)
        finally:
            _timeline.reset(token)

    async def _next(self) -> _Event:
        if self.virtual:
            # nothing really waits on a virtual clock: perform every launched effect now,
            # then deliver the one whose virtual finishing time comes first
            queued = self.queued
            if len(queued) == 1 and not self.ready:
                # the only effect in flight: its answer is the next event, no ordering needed
                self.queued = []
                ev = await self._timed(queued[0])
                clock = self.drv.clock
                assert isinstance(clock, VirtualClock)
                clock.advance_to(ev.at)
                return ev
            if queued:
                self.queued = []
                # performed in (issued_at, effect number) order, not launch order: a resume
                # relaunches in that order, and a world's answers (receipt numbers) may
                # depend on the order its calls arrive
                for eff in sorted(queued, key=_issue_order):
                    ev = await self._timed(eff)
                    heapq.heappush(self.ready, _Done(ev.at, _issue_order(eff), ev))
            if not self.ready:
                raise RuntimeFault(f"run {self.run_id!r} is stuck: nothing in flight")
            done = heapq.heappop(self.ready)
            clock = self.drv.clock
            assert isinstance(clock, VirtualClock)
            clock.advance_to(done.at)
            return done.event
        if not self.tasks:
            raise RuntimeFault(f"run {self.run_id!r} is stuck: nothing in flight")
        finished, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
        task = min(finished, key=lambda t: self.tasks[t])
        del self.tasks[task]
        return task.result()

    async def _perform(self, eff: Effect) -> _Event:
        clock = self.drv.clock
        if isinstance(eff, CallModel):
            if eff.not_before is not None:
                await clock.sleep(eff.not_before - clock.now())
            start = clock.now()
            try:
                call = self.drv.model.complete(eff.request, timeout_s=eff.timeout_s)
                if self.virtual or eff.timeout_s is None:
                    resp = await call  # no wrapper coroutine on the hot path
                else:
                    resp = await asyncio.wait_for(call, eff.timeout_s)
                if self.virtual and eff.timeout_s is not None and (
                        clock.now() - start > eff.timeout_s):
                    _rewind(clock, start + eff.timeout_s)
                    raise TimeoutError
            except ModelError as err:
                self.tracer.failed(eff.effect_id, err.kind, str(err))
                return ModelFailed(effect_id=eff.effect_id, at=clock.now(), error_kind=err.kind,
                                   message=err.message, status=err.status,
                                   retry_after_s=err.retry_after_s, usage=err.usage)
            except TimeoutError:
                self.tracer.failed(eff.effect_id, "timeout")
                return ModelFailed(effect_id=eff.effect_id, at=clock.now(), error_kind="timeout",
                                   message="the call outlived the wall-time budget")
            self.tracer.model_replied(eff.effect_id, resp)
            return from_dict(ModelReplied, {"at": clock.now(), "kind": "model_replied",
                                            "effect_id": eff.effect_id, "response": resp})
        if isinstance(eff, RunTool):
            start = clock.now()
            out, is_error, kind = await self.drv.tools.run(eff, run_id=self.run_id, clock=clock)
            if self.virtual and eff.timeout_s is not None and clock.now() - start > eff.timeout_s:
                # a virtual call that overran its timeout ends at the timeout (the registry
                # already answered ``timeout``), as a real one cancelled by ``wait_for`` would
                _rewind(clock, start + eff.timeout_s)
            if is_error and eff.effect_id in self.uncertain and kind in _IN_TRANSIT:
                # it may have run before the crash, and its keyed retry failed on the way:
                # nobody knows whether it took effect. "Failed" would invite the model to do
                # it again under a new key (a second email, a second refund); a person decides
                self.tracer.failed(eff.effect_id, kind or "tool_error", str(out))
                return SideEffectUnknown(effect_id=eff.effect_id, at=clock.now())
            if is_error:
                self.tracer.failed(eff.effect_id, kind or "tool_error", str(out))
            else:
                self.tracer.tool_returned(eff.effect_id)
            return from_dict(ToolReturned, {"at": clock.now(), "kind": "tool_returned",
                                            "effect_id": eff.effect_id, "output": out,
                                            "is_error": is_error, "error_kind": kind})
        if isinstance(eff, RequestHuman):
            start = clock.now()
            timeout = eff.request.timeout_s
            try:
                dec = await _with_timeout(self.drv.human.decide(eff.request, clock),
                                          timeout, self.virtual)
                if self.virtual and clock.now() - start > timeout:
                    _rewind(clock, start + timeout)
                    dec = HumanDecision(decision="timeout")
            except TimeoutError:
                dec = HumanDecision(decision="timeout")
            return HumanDecided(effect_id=eff.effect_id, at=clock.now(), decision=dec.decision,
                                edited_input=dec.edited_input, note=dec.note)
        raise RuntimeFault(f"cannot perform effect {eff.kind!r}")


async def _with_timeout(aw: Awaitable[Any], timeout: float | None, virtual: bool) -> Any:
    if timeout is None or virtual:
        return await aw
    return await asyncio.wait_for(aw, timeout)


def _rewind(clock: Clock, t: float) -> None:
    """A virtual effect that overran its timeout ends at the timeout, not after it."""
    line = _timeline.get()
    if line is not None:
        line[0] = t


#: Tool error kinds that say nothing about whether the call took effect (the world's own
#: refusals, bad input and key conflicts say it did not).
_IN_TRANSIT = frozenset({"tool_error", "timeout"})


def _effect_order(eff: Effect) -> int:
    return int(eff.effect_id.rsplit("#", 1)[1])


def _issue_order(eff: Effect) -> tuple[float, int]:
    """(issued_at, effect number): when several effects wait, the order they are performed
    and delivered in on a virtual clock, the same in a run and its resume."""
    return (eff.issued_at, _effect_order(eff))


def real_clock() -> RealClock:
    return RealClock()
