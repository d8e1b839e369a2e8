"""The activities: a trial's effects performed by the local backend's own code.

A worker holds each trial it serves as a *session*: the world, the model client, the
approver and the virtual clock that ``harness run`` would build for it (``trial_world``,
``TrialEnv.model_client``), and performs effects with the local driver's effect code,
so an effect gives the same event on both backends. ``open_session`` runs on the shared
task queue (any worker may take a trial) and answers with the task queue of this worker
alone, where the trial's effects go next: its world lives here.

When a worker dies, the workflow opens the session again on another worker, handing it
the effects performed so far; the new session performs them again, in order, before
the next one. Side-effecting tool calls go again with their idempotency keys, so a world
outside the process (a payment API, a database) answers them from its ledger instead of
acting twice, and a world that lived in the dead process is rebuilt to where it was.
Model calls are performed again on the simulated and replay transports (free and
deterministic: the fault schedule's counters come back with them), not on the live one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from harness.core import CallModel, Effect
from harness.driver import Driver, VirtualClock
from harness.driver._clock import RealClock
from harness.driver._driver import _Run
from harness.errors import HarnessError
from harness.llm import AnthropicClient, ModelProfile
from harness.runner._budgets import ON, check_budgets
from harness.runner._line import check_rows, fault_rows
from harness.runner._trial import TrialEnv, TrialSpec, schedule_of, trial_world
from harness.scenario import ExecutedAction, LoadedScenario, evaluate, load_scenario
from harness.store import MemoryRecorder

_EFFECT: TypeAdapter[Effect] = TypeAdapter(Effect)


def agent_version(path: Path) -> str:
    """What a trial's agent is: its scenario file's bytes (roles, prompts, tools, limits).
    A worker that reads other bytes at that path runs another agent."""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class _Session:
    spec: TrialSpec
    world: Any
    tools: Any
    client: AnthropicClient
    clock: VirtualClock | RealClock
    run: _Run
    done: int = 0
    """Effects performed so far: the workflow sends its own count with each call, and a
    session that disagrees (it ran effects whose results the history lost, when a workflow
    task timed out and came back to this worker) is not used again."""

    async def perform(self, eff: Any, now: float) -> Any:
        self.done += 1
        if isinstance(self.clock, VirtualClock):
            self.clock.advance_to(now)
            return await self.run._timed(eff)
        return await self.run._perform(eff)


class Sessions:
    """The trials this worker holds, and the activities that act on them."""

    def __init__(self, own_queue: str) -> None:
        self.own_queue = own_queue
        self._sessions: dict[str, _Session] = {}
        self._scenarios: dict[tuple[str, str], LoadedScenario] = {}
        self._envs: dict[str, TrialEnv] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    # -- activities -----------------------------------------------------------------------

    @activity.defn(name="open_session")
    async def open_session(self, inp: dict[str, Any]) -> dict[str, Any]:
        ls = self._scenario(inp)
        if ls.parts.entry is not None:
            raise ApplicationError(f"{ls.path}: an agent that brings its own loop runs on the "
                                   "local backend only", type="UsageError", non_retryable=True)
        spec = TrialSpec(ls, inp["model"], inp["profile"], int(inp["trial"]), int(inp["seed"]),
                         check_budgets([inp.get("budgets", ON)])[0])
        env = self._env(inp)
        schedule = schedule_of(spec)
        world, _, tools = trial_world(spec, schedule, None)
        clock: VirtualClock | RealClock = (
            RealClock() if inp["transport"] == "live" else VirtualClock())
        client = env.model_client(spec, schedule, clock)
        human = ls.parts.make_human(ls.scenario.human)
        drv = Driver(model=client, tools=tools, recorder=env.recorder, clock=clock, human=human)
        from harness.core import Machine

        run = _Run(drv, inp["run_id"], Machine(), 0, {})
        session = _Session(spec, world, tools, client, clock, run)
        for done in inp.get("performed", []):  # a failover: back to where the lost worker was
            eff = _EFFECT.validate_python(done["effect"])
            if isinstance(eff, CallModel) and inp["transport"] == "live":
                continue
            await session.perform(eff, float(done["now"]))
        stale = self._sessions.pop(inp["session"], None)
        if stale is not None:  # opened again at the same point: the new one replaces it
            await stale.client.aclose()
        self._sessions[inp["session"]] = session
        config = env.agent_config(spec)
        return {"session": inp["session"], "task_queue": self.own_queue,
                "local": bool(inp.get("local")),
                "config": config.model_dump(mode="json"), "task": ls.scenario.task,
                "now": clock.now(), "human": ls.scenario.human.policy}

    @activity.defn(name="perform")
    async def perform(self, inp: dict[str, Any]) -> dict[str, Any]:
        session = await self._session(inp)
        eff = _EFFECT.validate_python(inp["effect"])
        ev = await _heartbeating(session.perform(eff, float(inp["now"])))
        return {"event": ev.model_dump(mode="json")}

    @activity.defn(name="finish")
    async def finish(self, inp: dict[str, Any]) -> dict[str, Any]:
        """Judge the trial on its world's final state, and let the session go."""
        session = await self._session(inp)
        try:
            s = session.spec.scenario.scenario
            actions = [ExecutedAction(a["tool"], dict(a["input"]), bool(a["approved"]))
                       for a in inp["actions"]]
            checks = check_rows(evaluate(s.goals, session.world.snapshot(), actions,
                                         inp["answer"]))
            faults = fault_rows(getattr(session.tools, "fired", []),
                                getattr(session.client.transport, "fired", []))
        finally:
            await session.client.aclose()
            del self._sessions[inp["session"]]
        # as JSON text: Temporal's converter sorts keys, and the line keeps the local order
        return {"checks": json.dumps(checks),
                "faults": json.dumps(faults)}

    # -- helpers --------------------------------------------------------------------------

    async def _session(self, inp: dict[str, Any]) -> _Session:
        session = self._sessions.get(inp["session"])
        if session is None:
            raise ApplicationError(f"this worker holds no session {inp['session']!r}",
                                   type="SessionLost", non_retryable=True)
        if session.done != int(inp["seq"]):
            del self._sessions[inp["session"]]
            await session.client.aclose()
            raise ApplicationError(
                f"session {inp['session']!r} has performed {session.done} effects, the "
                f"trial's history {inp['seq']}", type="SessionLost", non_retryable=True)
        return session

    def _scenario(self, inp: dict[str, Any]) -> LoadedScenario:
        path = Path(inp["scenario_path"])
        try:
            seen = agent_version(path)
        except OSError as err:
            raise ApplicationError(f"this worker cannot read the scenario {path}: {err.strerror}",
                                   type="AgentVersionMismatch") from None
        if seen != inp["agent_version"]:
            # retried, not failed: a worker that runs the trial's own agent may take it
            why = (f"{path} here is agent version {seen[:19]}, the trial's is "
                   f"{str(inp['agent_version'])[:19]}")
            print(f"harness worker: refused trial {inp['run_id']}: {why}", file=sys.stderr,
                  flush=True)
            raise ApplicationError(f"{why}: this worker refuses it", type="AgentVersionMismatch")
        key = (str(path), seen)
        ls = self._scenarios.get(key)
        if ls is None:
            try:
                ls = self._scenarios[key] = load_scenario(path)
            except HarnessError as err:
                raise ApplicationError(str(err), type="ConfigError", non_retryable=True) from None
        return ls

    def _env(self, inp: dict[str, Any]) -> TrialEnv:
        """One environment per set of run options: it caches agent configurations."""
        key = repr((inp["transport"], inp.get("cassettes"), inp.get("record"),
                    inp.get("profiles")))
        env = self._envs.get(key)
        if env is None:
            profiles = ({p["model"]: ModelProfile.model_validate(p) for p in inp["profiles"]}
                        if inp.get("profiles") else None)
            if profiles is not None:
                from harness.llm import PROFILES

                profiles = {**PROFILES, **profiles}
            env = self._envs[key] = TrialEnv(
                recorder=MemoryRecorder(), transport=inp["transport"],
                cassette_dir=Path(inp["cassettes"]) if inp.get("cassettes") else None,
                record=bool(inp.get("record")), profiles=profiles)
        return env


async def _heartbeating(coro: Any) -> Any:
    """Await ``coro``, heartbeating while it takes long, so a dead worker is noticed within
    the heartbeat timeout while a long model call on a live one is not cut off."""
    if activity.info().is_local:  # the workflow task it runs in is heartbeated instead
        return await coro
    task = asyncio.ensure_future(coro)
    interval = _heartbeat_interval()
    while True:
        done, _ = await asyncio.wait({task}, timeout=interval)
        if done:
            return task.result()
        activity.heartbeat()


def _heartbeat_interval() -> float:
    timeout = activity.info().heartbeat_timeout
    return max(0.05, timeout.total_seconds() / 3) if timeout else 5.0
