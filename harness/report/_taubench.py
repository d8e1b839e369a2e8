"""Import of τ-bench's recorded results into a run folder the report stage reads.

τ-bench's ``historical_trajectories/*.json`` is a list of records ``task_id, trial,
reward, info, traj``; ``traj`` is the conversation in OpenAI chat format. Each record
becomes one line of ``trials.jsonl`` (the task is the scenario, the reward of 1 the goal
met) and one line of ``transcripts.jsonl`` that the HTML drill-down shows.

What τ-bench did not record stays absent: no cost, tokens or duration, no fault
profile; the model calls are the assistant turns and the tool calls those the agent
made. A tool result is paired with the call before it by position, never by
``tool_call_id``: the recorded ids repeat within a conversation.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from pathlib import Path
from typing import Any

from harness._files import write_atomic
from harness.errors import ConfigError

DOMAINS = ("airline", "retail")


def _model_and_suite(path: Path) -> tuple[str, str]:
    """``gpt-4o-airline.json`` -> (``gpt-4o``, ``taubench-airline``)."""
    stem = path.stem
    for d in DOMAINS:
        if stem.endswith(f"-{d}"):
            return stem.removesuffix(f"-{d}"), f"taubench-{d}"
    return stem, "taubench"


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"_raw": raw}


def transcript(traj: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation in the transcript shape; tool results named by position."""
    out: list[dict[str, Any]] = []
    pending: deque[str] = deque()
    for msg in traj:
        role = str(msg.get("role"))
        content = msg.get("content")
        text = content if isinstance(content, str) else ""
        if role == "assistant":
            calls = msg.get("tool_calls") or []
            if not calls:
                out.append({"role": role, "content": text, "tool_call": None,
                            "tool_name": None})
            for i, call in enumerate(calls):
                fn = call.get("function") or {}
                name = str(fn.get("name"))
                pending.append(name)
                out.append({"role": role, "content": text if i == 0 else "",
                            "tool_call": {"name": name,
                                          "arguments": _arguments(fn.get("arguments"))},
                            "tool_name": None})
        elif role == "tool":
            given = msg.get("name")
            tool_name = pending.popleft() if pending else None if given is None else str(given)
            out.append({"role": role, "content": text, "tool_call": None, "tool_name": tool_name})
        else:
            out.append({"role": role, "content": text, "tool_call": None, "tool_name": None})
    return out


def _checks(info: dict[str, Any]) -> list[dict[str, Any]]:
    """τ-bench's two reward parts as goal checks, so failures explain themselves."""
    ri = info.get("reward_info")
    if not isinstance(ri, dict):
        return [{"check": "episode finished with a reward", "ok": False,
                 "detail": "no reward_info: the episode never finished"}]
    parts = ri.get("info") or {}
    out = []
    if "r_actions" in parts:
        out.append({"check": "database equals the one the gold actions produce",
                    "ok": parts["r_actions"] == 1.0, "detail": f"r_actions {parts['r_actions']}"})
    if "r_outputs" in parts:
        out.append({"check": "every expected output appears in a reply",
                    "ok": parts["r_outputs"] == 1.0, "detail": f"r_outputs {parts['r_outputs']}"})
    return out


def _record(path: Path, i: int, rec: Any) -> tuple[int, int, float, dict[str, Any], list[Any]]:
    where = f"record {i}"
    if not isinstance(rec, dict):
        raise ConfigError(f"{where} is not an object", file=str(path))
    for name, kind in (("task_id", int), ("trial", int), ("reward", (int, float)),
                       ("traj", list)):
        v = rec.get(name)
        if v is None or isinstance(v, bool) or not isinstance(v, kind):
            raise ConfigError(f"{where}: missing or of the wrong type", file=str(path),
                              field=f"[{i}].{name}")
    info: dict[str, Any] = rec["info"] if isinstance(rec.get("info"), dict) else {}
    return int(rec["task_id"]), int(rec["trial"]), float(rec["reward"]), info, list(rec["traj"])


def import_taubench(src: str | Path, out: str | Path, *, model: str | None = None,
                    domain: str | None = None) -> tuple[Path, Path]:
    """Write ``trials.jsonl``, ``transcripts.jsonl`` and ``run.json`` into ``out``.

    The model and domain default to those of τ-bench's file name, ``MODEL-DOMAIN.json``."""
    src, out = Path(src), Path(out)
    try:
        raw = src.read_bytes()
        records = json.loads(raw)
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", file=str(src)) from None
    except ValueError as err:
        raise ConfigError(f"not JSON: {err}", file=str(src)) from None
    if not isinstance(records, list):
        raise ConfigError("not a list of τ-bench records", file=str(src))
    named_model, suite = _model_and_suite(src)
    model = model or named_model
    if domain:
        suite = f"taubench-{domain}"
    domain = suite.removeprefix("taubench-").removeprefix("taubench") or "task"
    trials, transcripts = [], []
    seen: set[tuple[int, int]] = set()
    for i, rec in enumerate(records):
        task, trial, reward, info, traj = _record(src, i, rec)
        if (task, trial) in seen:
            raise ConfigError(f"task {task} trial {trial} appears twice", file=str(src),
                              field=f"[{i}]")
        seen.add((task, trial))
        scenario = f"{domain}-{task:03d}"
        log_id = f"taubench/{scenario}/{trial}"
        turns = transcript(traj)
        replies = [t for t in turns if t["role"] == "assistant" and t["content"]]
        finished = isinstance(info.get("reward_info"), dict)
        trials.append({
            "run_id": f"{scenario}/{model}/{trial}", "scenario": scenario, "suite": suite,
            "model": model, "trial": trial, "outcome": "done" if finished else "failed",
            "goal_met": reward == 1.0,
            "llm_calls": sum(1 for m in traj if m.get("role") == "assistant"),
            "tool_calls": sum(len(m.get("tool_calls") or []) for m in traj
                              if m.get("role") == "assistant"),
            "error": None if finished else "the episode never finished (no reward_info)",
            "answer": replies[-1]["content"] if replies else "",
            "checks": _checks(info), "log_id": log_id,
        })
        transcripts.append({"log_id": log_id, "transcript": turns})
    out.mkdir(parents=True, exist_ok=True)
    order = sorted(range(len(trials)), key=lambda k: (trials[k]["scenario"], trials[k]["trial"]))
    tfile = write_atomic(out / "trials.jsonl", "".join(
        json.dumps(trials[k], ensure_ascii=False) + "\n" for k in order))
    write_atomic(out / "transcripts.jsonl", "".join(
        json.dumps(transcripts[k], ensure_ascii=False) + "\n" for k in order))
    run = {"imported": "taubench", "file": src.name,
           "sha256": hashlib.sha256(raw).hexdigest(), "model": model, "suite": suite}
    write_atomic(out / "run.json", json.dumps(run, indent=2, sort_keys=True) + "\n")
    return tfile, out / "transcripts.jsonl"
