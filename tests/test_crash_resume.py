"""Crash the agent at every record of its log, resume it, and get the very same run.

The agent (``crash_agent``) plans four steps over three roles, runs three of them in
parallel and joins them in a fourth, records five notes and deploys to production
after a human approves, and verifies its answer before ``done``; it runs on a virtual
clock with model and human latency, a SQLite log and a SQLite-backed ``Ledger``.

What is shown, for a crash just before *every* record (and for two crashes in one run,
and for a real process killed with SIGKILL):

- what survives in the log is a prefix of the uninterrupted run's log, and the only
  records a crash can lose are read-only tool results (committed lazily);
- the world never acted on a call whose intent was not committed;
- the resumed run ends in exactly the uninterrupted run's context (``model_dump``
  equal, virtual times included) and writes exactly the uninterrupted run's log;
- every side effect happened exactly once: a keyed call found in doubt was re-run
  with its key and answered from the ledger (counted), never executed twice;
- a keyless side effect found in doubt goes to a human as ``side_effect_unknown``,
  and approve / deny / edit / silence do what the core's ``_decide_unknown`` says.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from crash_agent import (
    ANSWER,
    RUN_ID,
    Agent,
    UnknownAnswer,
    committed,
    crash_at,
    executions,
    ledger_keys,
)

from harness.core import State, fold
from harness.driver import Crash, RunResult
from harness.errors import UsageError
from harness.store import INTENT, Record, decode

RECORDS = 28
"""Records in the uninterrupted run's log (asserted, so a changed agent is noticed)."""
NOTIFY_RECORDS = 31
"""The same, for the variant whose communication step also pages on-call (keyless)."""
WORKER = Path(__file__).with_name("crash_worker.py")
_SHM = Path("/dev/shm")
NOTIFY_INPUT = {"text": "v2 is coming"}
NOTIFY = ("notify", json.dumps(NOTIFY_INPUT, sort_keys=True))


@dataclass
class Reference:
    result: RunResult
    context: dict[str, Any]
    log: list[Record]
    executions: list[tuple[str, str]]


def _reference(tmp: Path, *, notify: bool = False) -> Reference:
    agent = Agent(tmp / "log.db", tmp / "ledger.db", notify=notify)
    result = agent.run()
    agent.close()
    return Reference(result, result.context.model_dump(), committed(tmp / "log.db"),
                     executions(tmp / "ledger.db"))


def _scratch(fallback: Path) -> Iterator[Path]:
    """A scratch directory in memory (``/dev/shm``) where there is one, else ``fallback``.

    A process killed with SIGKILL leaves the kernel's page cache intact, so a tmpfs shows
    exactly the crashes a disk does; what it saves is an fsync per Ledger commit (SQLite's
    default ``synchronous=FULL``), which made this file several times slower on a busy disk.
    """
    if not (_SHM.is_dir() and os.access(_SHM, os.W_OK)):
        yield fallback
        return
    path = Path(tempfile.mkdtemp(prefix="harness-crash-", dir=_SHM))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    yield from _scratch(tmp_path)


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    for tmp in _scratch(tmp_path_factory.mktemp("reference")):
        r = _reference(tmp)
        assert r.result.records == RECORDS, "the agent changed: update RECORDS"
        yield r


@pytest.fixture(scope="module")
def notify_ref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    for tmp in _scratch(tmp_path_factory.mktemp("notify-reference")):
        r = _reference(tmp, notify=True)
        assert r.result.records == NOTIFY_RECORDS, "the agent changed: update NOTIFY_RECORDS"
        yield r


# --- reading logs ---------------------------------------------------------------------


def _payload(rec: Record) -> dict[str, Any]:
    return json.loads(rec.payload)  # type: ignore[no-any-return]


def _intents(log: list[Record]) -> dict[str, Record]:
    return {_payload(r)["effect_id"]: r for r in log if r.kind == INTENT}


def _intent_keys(log: list[Record]) -> set[str]:
    return {_payload(r)["idempotency_key"] for r in log if r.kind == INTENT}


def _returned_keys(log: list[Record]) -> set[str]:
    return {f"{RUN_ID}:{_payload(r)['effect_id']}" for r in log if r.kind == "tool_returned"}


def _is_read_only_result(rec: Record, full_log: list[Record]) -> bool:
    """A tool result with no intent anywhere in the run: a read-only tool's."""
    return rec.kind == "tool_returned" and _payload(rec)["effect_id"] not in _intents(full_log)


def _seq_of(log: list[Record], kind: str, effect_id: str, after: int = -1) -> int:
    return next(r.seq for r in log
                if r.seq > after and r.kind == kind and _payload(r)["effect_id"] == effect_id)


def _notify_effect(log: list[Record]) -> str:
    return next(eid for eid, r in _intents(log).items() if _payload(r)["tool"] == "notify")


def _tool_result(ctx: Any, step: str, call_id: str) -> dict[str, Any]:
    for msg in ctx.agents[step].messages:
        if msg["role"] == "user" and isinstance(msg["content"], list):
            for block in msg["content"]:
                if block.get("type") == "tool_result" and block["tool_use_id"] == call_id:
                    return block  # type: ignore[no-any-return]
    raise AssertionError(f"no tool_result for {call_id} in step {step}")


# --- crashing -------------------------------------------------------------------------


@dataclass
class Crashed:
    log: Path
    ledger: Path
    crashed: bool
    kept: list[Record]
    """What a new process finds in the log."""
    acted: set[str]
    """Idempotency keys the world has acted on."""

    @property
    def in_doubt(self) -> set[str]:
        """Keyed calls that took effect but whose result the log does not hold."""
        return self.acted - _returned_keys(self.kept)


def _crash(tmp: Path, k: int, *, notify: bool = False, resume: bool = False,
           human: Any = None) -> Crashed:
    """Run (or resume) the agent in ``tmp``, dropping it just before record ``k``."""
    tmp.mkdir(parents=True, exist_ok=True)
    log, ledger = tmp / "log.db", tmp / "ledger.db"
    agent = Agent(log, ledger, notify=notify, human=human, crash_hook=crash_at(k))
    try:
        agent.resume() if resume else agent.run()
        crashed = False
    except Crash:
        crashed = True
    agent.crash()  # recorder.abandon(): unflushed records die with the "process"
    return Crashed(log, ledger, crashed, committed(log), ledger_keys(ledger))


def _check_crash_left_a_sound_log(c: Crashed, k: int, full: list[Record]) -> None:
    assert len(c.kept) <= k
    # deterministic up to the crash: what survived is the uninterrupted run's log, cut short
    assert c.kept == full[: len(c.kept)]
    # only read-only results are committed lazily; every other record was committed at once,
    # except that the intents one step asks for are committed together, before any runs:
    # a crash in the middle of writing them loses the whole batch
    lost = full[len(c.kept):k]
    while lost and lost[-1].kind == INTENT and k < len(full) and full[k].kind == INTENT:
        lost = lost[:-1]
    assert all(_is_read_only_result(r, full) for r in lost), [(r.seq, r.kind) for r in lost]
    # the world acted only on calls whose intent had been committed first
    assert c.acted <= _intent_keys(c.kept)


# --- the agent itself -----------------------------------------------------------------


def test_the_reference_run_exercises_the_whole_runtime(ref: Reference) -> None:
    ctx = ref.result.context
    assert (ctx.outcome, ctx.answer) == ("done", ANSWER)
    assert [(r.step_id, r.role, r.ok) for r in ctx.results] == [
        ("s3", "communication", True), ("s1", "research", True), ("s2", "code", True),
        ("s4", "communication", True)]
    assert ctx.agents["verify-1"].status == "done"  # verified before done
    assert ctx.escalations == 1  # the production deploy, approved by the human
    kinds = Counter(r.kind for r in ref.log)
    assert kinds == {"run_started": 1, "model_replied": 13, "tool_returned": 8, INTENT: 5,
                     "human_decided": 1}
    # s1, s2, s3 ran side by side: their first replies all came back at t=3.0
    first = {_payload(r)["effect_id"]: _payload(r)["at"] for r in ref.log[2:6]
             if r.kind == "model_replied"}
    assert set(first.values()) == {3.0} and len(first) == 3
    # five distinct side effects, one of them the deploy
    assert len(ref.executions) == len(set(ref.executions)) == 5
    assert ("deploy", '{"text": "v2"}') in ref.executions
    # the sweep below meets every kind of boundary: right after an intent, while a side
    # effect has run but its result is not committed, after a lazily committed result,
    # and while a human is deciding
    intents = {eid: r.seq for eid, r in _intents(ref.log).items()}
    results = {_payload(r)["effect_id"]: r.seq for r in ref.log if r.kind == "tool_returned"}
    assert any(ref.log[k - 1].kind == INTENT for k in range(1, RECORDS))
    assert any(_is_read_only_result(ref.log[k - 1], ref.log) for k in range(1, RECORDS))
    assert any(intents[e] < k <= results[e] for e in intents for k in range(RECORDS))
    assert any(r.kind == "human_decided" for r in ref.log)


# --- 1. an in-process crash before every record -----------------------------------------


@pytest.mark.parametrize("k", range(RECORDS + 1))
def test_crash_before_record_k_then_resume_is_the_uninterrupted_run(
        k: int, ref: Reference, scratch: Path) -> None:
    c = _crash(scratch, k)
    assert c.crashed == (k < RECORDS)
    _check_crash_left_a_sound_log(c, k, ref.log)
    agent = Agent(c.log, c.ledger)  # a new process: new recorder, driver, clock, model, tools
    if not c.kept:
        # the crash came before run_started was committed: the run never began
        with pytest.raises(UsageError, match="no log"):
            agent.resume()
        result = agent.run()
    else:
        result = agent.resume()
    agent.close()
    assert result.resumed == bool(c.kept)
    assert result.context.model_dump() == ref.context
    assert result.records == RECORDS
    assert committed(c.log) == ref.log  # record for record, the uninterrupted log
    assert Counter(executions(c.ledger)) == Counter(ref.executions)  # exactly once each
    # every keyed call in doubt was re-run with its key and answered from the ledger
    assert agent.seen.replays == len(c.in_doubt)


@pytest.mark.parametrize("k1", range(1, RECORDS))
def test_crash_resume_crash_again_resume(k1: int, ref: Reference, scratch: Path) -> None:
    first = _crash(scratch / "probe", k1)
    c1 = len(first.kept)  # the first record the resumed run writes
    for k2 in sorted({c1, c1 + 1, (c1 + RECORDS) // 2, RECORDS - 1}):
        if not c1 <= k2 < RECORDS:
            continue
        tmp = scratch / f"k2-{k2}"
        _crash(tmp, k1)
        c = _crash(tmp, k2, resume=True)
        assert c.crashed, k2
        _check_crash_left_a_sound_log(c, k2, ref.log)
        agent = Agent(c.log, c.ledger)
        result = agent.resume()
        agent.close()
        assert result.context.model_dump() == ref.context, (k1, k2)
        assert committed(c.log) == ref.log, (k1, k2)
        assert Counter(executions(c.ledger)) == Counter(ref.executions), (k1, k2)


# --- 2. a real process, killed with SIGKILL -----------------------------------------------

KILL_POINTS = {
    "after-run-started": 1,
    "after-a-reply-before-its-intent": 4,
    "right-after-a-tool-intent": 5,
    "side-effect-ran-result-not-committed": 7,
    "read-only-result-lost": 10,
    "while-a-human-decides": 18,
    "deploy-ran-result-not-committed": 20,
    "before-the-last-record": RECORDS - 1,
}


def _worker(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(WORKER), *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("k", KILL_POINTS.values(), ids=KILL_POINTS.keys())
def test_sigkill_then_resume_in_a_new_process(k: int, ref: Reference, scratch: Path) -> None:
    intents = {eid: r.seq for eid, r in _intents(ref.log).items()}
    # each kill point is the boundary its name says (the agent is deterministic)
    name = next(n for n, v in KILL_POINTS.items() if v == k)
    at = ref.log[k]
    if name == "after-a-reply-before-its-intent":
        assert ref.log[k - 1].kind == "model_replied" and at.kind == INTENT
    elif name == "right-after-a-tool-intent":
        assert ref.log[k - 1].kind == INTENT
    elif name.endswith("result-not-committed"):
        eid = _payload(at)["effect_id"]
        assert at.kind == "tool_returned" and eid in intents
        assert (_payload(ref.log[intents[eid]])["tool"] == "deploy") == name.startswith("deploy")
    elif name == "read-only-result-lost":
        assert _is_read_only_result(ref.log[k - 1], ref.log)
    elif name == "while-a-human-decides":
        assert at.kind == "human_decided"
    log, ledger = scratch / "log.db", scratch / "ledger.db"

    killed = _worker("run", log, ledger, "--kill-at", k)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert killed.stdout == ""
    c = Crashed(log, ledger, True, committed(log), ledger_keys(ledger))
    _check_crash_left_a_sound_log(c, k, ref.log)
    if name == "read-only-result-lost":
        assert len(c.kept) == k - 1  # the lazily committed lookup result died with the process
    if name.endswith("result-not-committed"):
        assert c.in_doubt  # the world acted; the log does not know

    resumed = _worker("resume", log, ledger)
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    expected = json.loads(json.dumps(ref.result.context.model_dump(mode="json")))
    ctx = out["context"]
    assert (ctx["outcome"], ctx["answer"], ctx["used"]) == (
        expected["outcome"], expected["answer"], expected["used"])
    assert ctx == expected
    assert out["resumed"] and out["records"] == RECORDS
    assert out["replays"] == len(c.in_doubt)
    assert committed(log) == ref.log
    assert Counter(executions(ledger)) == Counter(ref.executions)


# --- 3. a keyless side effect in doubt goes to a human ------------------------------------

EDITED = {"ok": True, "paged": "v2 is coming", "entered_by": "a human"}


@pytest.mark.parametrize("decision", ["approve", "deny", "edit", "timeout"])
def test_keyless_side_effect_in_doubt_is_escalated_not_rerun(
        decision: str, notify_ref: Reference, scratch: Path) -> None:
    eid = _notify_effect(notify_ref.log)
    k = _seq_of(notify_ref.log, "tool_returned", eid)  # notify ran; its result is not logged
    c = _crash(scratch, k, notify=True)
    assert c.crashed
    _check_crash_left_a_sound_log(c, k, notify_ref.log)
    assert eid in _intents(c.kept)
    assert executions(c.ledger).count(NOTIFY) == 1

    human = UnknownAnswer(decision, EDITED if decision == "edit" else None)
    agent = Agent(c.log, c.ledger, notify=True, human=human)
    result = agent.resume()
    agent.close()
    ctx = result.context

    # the resume's first record says what it found: a call nobody can vouch for
    new = committed(c.log)[len(c.kept):]
    assert new[0].kind == "side_effect_unknown" and _payload(new[0])["effect_id"] == eid
    asked = [r for r in human.requests if r.rule == "side_effect_unknown"]
    assert len(asked) == 1
    req = asked[0]
    assert req.what_doing.startswith("step s3 (communication): Draft the announcement")
    assert "crashed" in req.why and "'notify'" in req.why and "idempotency key" in req.why
    assert "Re-run 'notify' (approve)" in req.decision_needed
    assert req.proposed_action == {"tool": "notify", "input": NOTIFY_INPUT}
    assert req.default_on_timeout == "deny"
    assert req.options == ("approve", "deny", "edit")
    assert "[side_effect_unknown]" in req.render()
    # the escalation blocks the run: nothing new is issued until the person answers
    events, _ = decode(RUN_ID, committed(c.log))
    n = next(i for i, ev in enumerate(events) if ev.kind == "side_effect_unknown")
    waiting = fold(events[: n + 1])
    assert waiting.state == State.AWAITING_HUMAN
    assert [a.rule for a in waiting.approvals.values()] == ["side_effect_unknown"]
    assert eid not in waiting.pending  # the call in doubt is not re-run behind the human's back

    # the escalation is s3's (the deploy's approval is s2's)
    decided = next(p for r in new
                   if r.kind == "human_decided" and (p := _payload(r))["effect_id"][:3] == "s3#")
    assert decided["decision"] == decision

    block = _tool_result(ctx, "s3", "s3-t0-0")
    notified = executions(c.ledger).count(NOTIFY)
    if decision == "approve":
        # the same effect, issued again: notify really runs a second time, as approved
        assert notified == 2
        assert agent.seen.notify_runs == ["v2 is coming"]
        assert not block.get("is_error")
        assert json.loads(block["content"]) == {"ok": True, "paged": "v2 is coming"}
    elif decision == "edit":
        # the human's word is the result; notify is not run again
        assert notified == 1 and agent.seen.notify_runs == []
        assert not block.get("is_error")
        assert json.loads(block["content"]) == EDITED
    else:
        # deny, and silence past the deadline (on_timeout: deny): reported as not done
        assert notified == 1 and agent.seen.notify_runs == []
        assert block.get("is_error") is True
        assert "'notify' may not have run; not retried" in block["content"]
    if decision == "timeout":
        asked_at = next(_payload(r)["at"] for r in new if r.kind == "side_effect_unknown")
        assert decided["at"] == asked_at + req.timeout_s
    # the rest of the run is untouched: every other side effect exactly once, same answer
    others = [e for e in executions(c.ledger) if e != NOTIFY]
    assert Counter(others) == Counter(e for e in notify_ref.executions if e != NOTIFY)
    assert (ctx.outcome, ctx.answer) == ("done", ANSWER)
    assert ctx.escalations == 2  # side_effect_unknown, then the deploy's approval
    assert [r.ok for r in ctx.results] == [True] * 4


@pytest.mark.parametrize("decision", ["approve", "deny", "edit"])
def test_keyless_side_effect_in_doubt_then_a_second_crash(
        decision: str, notify_ref: Reference, scratch: Path) -> None:
    eid = _notify_effect(notify_ref.log)
    k1 = _seq_of(notify_ref.log, "tool_returned", eid)
    edited = EDITED if decision == "edit" else None
    # the run with one crash is the reference for the runs with two
    once = _crash(scratch / "once", k1, notify=True)
    agent = Agent(once.log, once.ledger, notify=True, human=UnknownAnswer(decision, edited))
    expected = agent.resume()
    agent.close()
    expected_log = committed(once.log)
    expected_runs = Counter(executions(once.ledger))
    c1 = len(once.kept)
    for k2 in range(c1, expected.records):
        tmp = scratch / f"k2-{k2}"
        _crash(tmp, k1, notify=True)
        c = _crash(tmp, k2, notify=True, resume=True, human=UnknownAnswer(decision, edited))
        assert c.crashed
        _check_crash_left_a_sound_log(c, k2, expected_log)
        human = UnknownAnswer(decision, edited)
        agent = Agent(c.log, c.ledger, notify=True, human=human)
        result = agent.resume()
        agent.close()
        intents = [r for r in c.kept[c1:] if r.kind == INTENT and _payload(r)["effect_id"] == eid]
        rerun_in_doubt = bool(intents) and not any(
            r.kind == "tool_returned" and _payload(r)["effect_id"] == eid for r in c.kept[c1:])
        if rerun_in_doubt:
            # the approved re-run had started and its result was lost: in doubt again,
            # so the person is asked again (and, approving again, it runs a third time)
            assert decision == "approve"
            assert [r.rule for r in human.requests][:1] == ["side_effect_unknown"], k2
            assert executions(c.ledger).count(NOTIFY) == 3
            assert (result.outcome, result.answer) == ("done", ANSWER)
            continue
        assert result.context.model_dump() == expected.context.model_dump(), k2
        assert committed(c.log) == expected_log, k2
        assert Counter(executions(c.ledger)) == expected_runs, k2
        # the person is asked (again) only if their answer never reached the log
        answered = any(r.kind == "human_decided" and _payload(r)["effect_id"][:3] == "s3#"
                       for r in c.kept)
        asked = "side_effect_unknown" in [r.rule for r in human.requests]
        assert asked == (not answered), k2


@pytest.mark.parametrize("k", range(NOTIFY_RECORDS + 1))
def test_keyless_tool_crash_at_every_boundary(k: int, notify_ref: Reference,
                                              scratch: Path) -> None:
    """Only a crash between notify's committed intent and its committed result puts it in
    doubt; anywhere else the resumed run is the uninterrupted one."""
    eid = _notify_effect(notify_ref.log)
    c = _crash(scratch, k, notify=True)
    _check_crash_left_a_sound_log(c, k, notify_ref.log)
    in_doubt = eid in _intents(c.kept) and not any(
        r.kind == "tool_returned" and _payload(r)["effect_id"] == eid for r in c.kept)
    human = UnknownAnswer("deny")
    agent = Agent(c.log, c.ledger, notify=True, human=human)
    result = agent.run() if not c.kept else agent.resume()
    agent.close()
    asked = [r.rule for r in human.requests if r.rule == "side_effect_unknown"]
    assert executions(c.ledger).count(NOTIFY) == 1  # never twice without a person's say-so
    if in_doubt:
        assert asked == ["side_effect_unknown"]
        assert _tool_result(result.context, "s3", "s3-t0-0").get("is_error") is True
    else:
        assert asked == []
        assert result.context.model_dump() == notify_ref.context
        assert committed(c.log) == notify_ref.log
        assert Counter(executions(c.ledger)) == Counter(notify_ref.executions)


def test_keyless_call_whose_intent_was_lost_is_logged_again_before_it_runs(
        notify_ref: Reference, scratch: Path) -> None:
    """Crash after the reply that asked for notify but before its intent was committed:
    notify never ran. The resume must commit the intent before running it, so that a
    second crash, after notify ran, is escalated instead of re-running it blindly."""
    eid = _notify_effect(notify_ref.log)
    k1 = _intents(notify_ref.log)[eid].seq
    first = _crash(scratch, k1, notify=True)
    assert eid not in _intents(first.kept)
    assert executions(first.ledger).count(NOTIFY) == 0
    # the resume re-logs the intent, runs notify, and dies before notify's result is logged
    k2 = _seq_of(notify_ref.log, "tool_returned", eid)
    second = _crash(scratch, k2, notify=True, resume=True)
    assert second.crashed
    assert eid in _intents(second.kept)
    assert second.kept == notify_ref.log[: len(second.kept)]
    assert executions(second.ledger).count(NOTIFY) == 1
    human = UnknownAnswer("deny")
    agent = Agent(second.log, second.ledger, notify=True, human=human)
    result = agent.resume()
    agent.close()
    assert [r.rule for r in human.requests].count("side_effect_unknown") == 1
    assert executions(second.ledger).count(NOTIFY) == 1
    assert result.outcome == "done"


# --- 4. what resume and run refuse, and what they leave alone ------------------------------


def test_resume_of_a_finished_run_returns_its_result_and_appends_nothing(
        ref: Reference, scratch: Path) -> None:
    log, ledger = scratch / "log.db", scratch / "ledger.db"
    agent = Agent(log, ledger)
    agent.run()
    agent.close()
    for _ in range(2):
        again = Agent(log, ledger)
        result = again.resume()
        again.close()
        assert result.resumed and result.records == RECORDS
        assert result.context.model_dump() == ref.context
        assert (result.outcome, result.answer) == ("done", ANSWER)
        assert again.driver.model.calls == 0  # type: ignore[attr-defined]
        assert again.human.requests == []  # type: ignore[attr-defined]
        assert committed(log) == ref.log
        assert Counter(executions(ledger)) == Counter(ref.executions)


def test_resume_without_a_log_is_a_usage_error(ref: Reference, scratch: Path) -> None:
    agent = Agent(scratch / "empty.db", scratch / "ledger.db")
    with pytest.raises(UsageError, match=f"run '{RUN_ID}' has no log to resume"):
        agent.resume()
    agent.close()
    assert executions(scratch / "ledger.db") == []
    # a file that holds another run's log has no log for this one either
    other = Agent(scratch / "log.db", scratch / "ledger2.db")
    other.run()
    with pytest.raises(UsageError, match="'nobody' has no log"):
        asyncio.run(other.driver.resume("nobody"))
    other.close()


def test_running_the_same_run_id_twice_is_a_usage_error(ref: Reference, scratch: Path) -> None:
    log, ledger = scratch / "log.db", scratch / "ledger.db"
    agent = Agent(log, ledger)
    agent.run()
    agent.close()
    twice = Agent(log, ledger)
    with pytest.raises(UsageError, match="already has a log; resume it instead"):
        twice.run()
    twice.close()
    assert committed(log) == ref.log
    assert Counter(executions(ledger)) == Counter(ref.executions)
    # a crashed run is no different: it is resumed, never started over
    c = _crash(scratch / "crashed", 12)
    again = Agent(c.log, c.ledger)
    with pytest.raises(UsageError, match="already has a log"):
        again.run()
    again.close()
    assert committed(c.log) == c.kept
