"""Per-trial detail for the HTML drill-down, read back from what a run stored.

A trial's story is its event log replayed through the same ``Machine`` the run used:
the state after each event gives the state path, and the effect each event answers
(looked up among the machine's pending effects before the event is fed) gives the
model call or tool call it belongs to, so nothing here re-implements the core's
accounting. Imported runs have no event log; their ``transcripts.jsonl`` is shown
instead. Which trials get detail is decided here too (``choose_trials``): every
trial that did not pass (up to a cap) and an evenly spaced sample of the rest.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core import (
    CallModel,
    Event,
    HumanDecided,
    Machine,
    ModelFailed,
    ModelReplied,
    RequestHuman,
    RunTool,
    SideEffectUnknown,
    ToolReturned,
)
from harness.errors import HarnessError
from harness.store import SQLiteRecorder, decode

#: Longest text kept from one answer, tool result or model reply: the page must stay
#: small when a run has thousands of failed trials, and the log keeps the whole text.
TEXT_LIMIT = 400
#: A model's reply text and each tool call it asked for are cut shorter: a trial may
#: make dozens of calls, and the tool call's own row shows its input again.
REPLY_LIMIT = 240
#: At most this many trials that did not pass get detail (all of them below it).
MAX_FAILED = 20_000
#: And this many of the others, evenly spaced over the sorted rows.
MAX_PASSED_SAMPLE = 1_000
#: Longest state path and call lists kept per trial (their first and last parts).
MAX_STATES = 200
MAX_CALLS = 120
#: From this many logs to replay, each extra core takes a share (up to ``MAX_WORKERS``).
PARALLEL_FROM = 1_000
MAX_WORKERS = 4


@dataclass(frozen=True)
class Selection:
    """Which rows of the trials table the page details, and the counts it must state."""

    rows: np.ndarray[Any, np.dtype[np.int64]]
    """Row positions, ascending."""
    total: int
    failed: int
    failed_shown: int
    passed: int
    passed_shown: int


def passed_mask(trials: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """A trial passed when it finished ``done`` with its goal met; anything else is worth
    a look (a failed goal, a budget that ran out, an escalation, a crash)."""
    goal = trials["goal_met"].fillna(False).astype(bool).to_numpy()
    done = (trials["outcome"] == "done").to_numpy(dtype=bool, na_value=False)
    return np.asarray(goal & done, dtype=np.bool_)


def _spread(positions: np.ndarray[Any, np.dtype[np.int64]], k: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """``k`` evenly spaced picks from ``positions``: deterministic, and since the rows are
    sorted by suite, scenario, model and fault profile, spread over all of them."""
    if k >= len(positions):
        return positions
    if k <= 0:
        return positions[:0]
    picks = np.linspace(0, len(positions) - 1, k).round().astype(np.int64)
    return positions[np.unique(picks)]


def choose_trials(trials: pd.DataFrame, *, max_failed: int = MAX_FAILED,
                  max_passed: int = MAX_PASSED_SAMPLE) -> Selection:
    ok = passed_mask(trials)
    idx = np.arange(len(trials), dtype=np.int64)
    failed, passed = idx[~ok], idx[ok]
    f_rows, p_rows = _spread(failed, max_failed), _spread(passed, max_passed)
    rows = np.sort(np.concatenate([f_rows, p_rows]))
    return Selection(rows=rows, total=len(trials), failed=len(failed), failed_shown=len(f_rows),
                     passed=len(passed), passed_shown=len(p_rows))


def clip(value: Any, limit: int = TEXT_LIMIT) -> str:
    """Text for the page: JSON for structured values, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if len(text) > limit:
        return text[:limit] + f"… [{len(text) - limit} more characters]"
    return text


def _reply_text(content: tuple[dict[str, Any], ...]) -> tuple[str, list[str]]:
    texts: list[str] = []
    uses: list[str] = []
    for block in content:
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            uses.append(f"{block.get('name')}({clip(block.get('input', {}), REPLY_LIMIT // 2)})")
    return clip("\n".join(texts), REPLY_LIMIT), uses


def trial_story(events: list[Event]) -> dict[str, Any]:
    """Fold one trial's events and keep what a person needs to see why it ended as it did."""
    m = Machine()
    states: list[str] = []
    model_calls: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    escalations: list[dict[str, Any]] = []
    problem = ""

    def note_state() -> None:
        s = str(m.state.value)
        if not states or states[-1] != s:
            states.append(s)

    note_state()
    for ev in events:
        effect_id = getattr(ev, "effect_id", None)
        asked = m.pending.get(effect_id) if effect_id is not None else None
        before = m.used
        try:
            m.feed(ev)
        except (HarnessError, Exception) as err:  # a log the core refuses: show what came before
            problem = f"the log stops making sense at a {ev.kind} event: {err}"
            break
        after = m.used
        note_state()
        if isinstance(ev, ModelReplied | ModelFailed) and isinstance(asked, CallModel):
            call: dict[str, Any] = {
                "agent": asked.agent, "purpose": asked.purpose, "attempt": asked.attempt,
                "model": asked.request.model,
                "tokens_in": after.tokens_in - before.tokens_in,
                "tokens_out": after.tokens_out - before.tokens_out,
                "cost_usd": round(after.cost_usd - before.cost_usd, 10),
            }
            if isinstance(ev, ModelReplied):
                text, uses = _reply_text(ev.response.content)
                call.update(result=ev.response.stop_reason, text=text, tool_uses=uses)
            else:
                call.update(result=f"error: {ev.error_kind}", text=clip(ev.message), tool_uses=[])
            model_calls.append(call)
        elif isinstance(ev, ToolReturned) and isinstance(asked, RunTool):
            tool_calls.append({
                "agent": asked.agent, "tool": asked.tool, "input": clip(asked.input, REPLY_LIMIT),
                "output": clip(ev.output), "is_error": ev.is_error,
                "error_kind": ev.error_kind or "",
            })
        elif isinstance(ev, HumanDecided) and isinstance(asked, RequestHuman):
            req = asked.request
            escalations.append({
                "rule": req.rule, "what": clip(req.what_doing, 300), "why": clip(req.why, 300),
                "asked": clip(req.decision_needed, 300), "decision": ev.decision,
                "note": clip(ev.note, 300),
                "edited": clip(ev.edited_input, 300) if ev.edited_input is not None else "",
            })
        elif isinstance(ev, SideEffectUnknown) and isinstance(asked, RunTool):
            tool_calls.append({
                "agent": asked.agent, "tool": asked.tool, "input": clip(asked.input, 300),
                "output": "unknown: the run crashed while this call was under way",
                "is_error": True, "error_kind": "side_effect_unknown",
            })
    # requests still open when the log ends (a person never answered)
    for eff in m.pending.values():
        if isinstance(eff, RequestHuman):
            escalations.append({
                "rule": eff.request.rule, "what": clip(eff.request.what_doing, 300),
                "why": clip(eff.request.why, 300), "asked": clip(eff.request.decision_needed, 300),
                "decision": "(none recorded)", "note": "", "edited": "",
            })
    return {"kind": "events", "states": _ends(states, MAX_STATES),
            "model_calls": _ends(model_calls, MAX_CALLS), "model_calls_total": len(model_calls),
            "tool_calls": _ends(tool_calls, MAX_CALLS), "tool_calls_total": len(tool_calls),
            "escalations": _ends(escalations, MAX_CALLS), "problem": problem}


def _ends(items: list[Any], limit: int) -> list[Any]:
    """The first and last of a long list, with one marker between them: how a run began
    and how it ended are what explain it, and one trial must not fill the page."""
    if len(items) <= limit:
        return items
    head, tail = items[: limit * 3 // 4], items[len(items) - limit // 4:]
    gap = len(items) - len(head) - len(tail)
    marker: Any = f"… {gap} more …"
    if items and isinstance(items[0], dict):
        marker = {"gap": gap}
    return [*head, marker, *tail]


def read_stories(run_dir: Path | None, log_ids: list[str], *, parallel_from: int = PARALLEL_FROM
                 ) -> tuple[dict[str, dict[str, Any]], str]:
    """Detail for each log id that has any, and a sentence saying where it came from (or
    why there is none): the event log first, then an import's transcripts."""
    if run_dir is None:
        return {}, "no run folder was given (a bare trials.jsonl), so the drill-down is absent"
    db = run_dir / "events.sqlite"
    if db.is_file():
        return _from_events(db, log_ids, parallel_from=parallel_from)
    transcripts = run_dir / "transcripts.jsonl"
    if transcripts.is_file():
        return _from_transcripts(transcripts, log_ids)
    return {}, ("the run folder holds neither events.sqlite nor transcripts.jsonl, "
                "so the drill-down is absent")


def _stories_in(db: Path, log_ids: list[str]) -> dict[str, dict[str, Any]]:
    rec = SQLiteRecorder(db)
    out: dict[str, dict[str, Any]] = {}
    try:
        for log_id in log_ids:
            records = rec.read_run(log_id)
            if not records:
                continue
            try:
                events, _ = decode(log_id, records)
            except HarnessError as err:
                out[log_id] = {"kind": "events", "states": [], "model_calls": [],
                               "tool_calls": [], "escalations": [], "problem": str(err)}
                continue
            out[log_id] = trial_story(events)
    finally:
        rec.close()
    return out


def _pool_context() -> Any:
    """Fork when it is safe (no other thread whose locks a child could inherit held)."""
    forkable = "fork" in mp.get_all_start_methods() and threading.active_count() == 1
    return mp.get_context("fork" if forkable else "spawn")


def _from_events(db: Path, log_ids: list[str], *, parallel_from: int = PARALLEL_FROM
                 ) -> tuple[dict[str, dict[str, Any]], str]:
    """Replaying a log costs milliseconds, so a page detailing tens of thousands of
    trials spreads the replays over the machine's cores."""
    try:
        SQLiteRecorder(db).close()
    except HarnessError as err:
        return {}, f"the event log could not be opened ({err}), so the drill-down is absent"
    ids = list(dict.fromkeys(i for i in log_ids if i))
    workers = min(os.cpu_count() or 1, MAX_WORKERS, max(1, len(ids) // max(parallel_from, 1)))
    if workers <= 1:
        out = _stories_in(db, ids)
    else:
        out = {}
        with ProcessPoolExecutor(workers, mp_context=_pool_context()) as pool:
            for part in pool.map(_stories_in, [db] * workers,
                                 [ids[k::workers] for k in range(workers)]):
                out.update(part)
        out = {i: out[i] for i in ids if i in out}
    return out, "from the run's event log (events.sqlite), replayed through the agent's state machine"


def _from_transcripts(path: Path, log_ids: list[str]) -> tuple[dict[str, dict[str, Any]], str]:
    wanted = set(log_ids)
    out: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
                log_id = str(rec["log_id"])
                turns = rec["transcript"]
            except (ValueError, KeyError, TypeError):
                continue  # a transcript line is detail only; the trial rows stand without it
            if log_id not in wanted or not isinstance(turns, list):
                continue
            shown = []
            for turn in turns:
                if not isinstance(turn, dict):
                    continue
                call = turn.get("tool_call")
                shown.append({
                    "role": str(turn.get("role", "")),
                    "content": clip(turn.get("content") or ""),
                    "tool_call": (f"{call.get('name')}({clip(call.get('arguments', {}), 300)})"
                                  if isinstance(call, dict) else ""),
                    "tool_name": str(turn.get("tool_name") or ""),
                })
            out[log_id] = {"kind": "transcript", "turns": shown}
    return out, "from the imported run's transcripts (transcripts.jsonl); there is no event log"
