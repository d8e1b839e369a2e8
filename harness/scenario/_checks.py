"""Goal checks: did the run reach its goal, judged from the final world and the log.

"The agent said it was done" and "the goal was met" are different results: a run
can finish with a confident wrong answer, or fail after doing the right things.
Each check reports what it saw, so a failing trial explains itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.core._actions import ExecutedAction
from harness.scenario._model import ActionCheck, Goals, WorldCheck

_MISSING = object()


@dataclass(frozen=True)
class CheckResult:
    check: str
    ok: bool
    detail: str = ""


def resolve(value: Any, path: str) -> Any:
    """Follow a dotted path; a list segment is an index or the ``id`` of an element.

    A mapping key may itself hold dots (``files.src/calc.py``): the longest key that
    matches the remaining segments is taken.
    """
    cur = value
    parts = path.split(".")
    i = 0
    while i < len(parts):
        part = parts[i]
        i += 1
        if isinstance(cur, dict):
            for j in range(len(parts), i, -1):
                longer = ".".join(parts[i - 1:j])
                if longer in cur:
                    part, i = longer, j
                    break
            cur = cur.get(part, _MISSING)
        elif isinstance(cur, list):
            if part.isdigit() and int(part) < len(cur):
                cur = cur[int(part)]
            else:
                cur = next((x for x in cur if isinstance(x, dict) and str(x.get("id")) == part),
                           _MISSING)
        else:
            return _MISSING
        if cur is _MISSING:
            return _MISSING
    return cur


def _world(check: WorldCheck, snapshot: dict[str, Any]) -> CheckResult:
    found = resolve(snapshot, check.path)
    name = f"world {check.path}"
    if check.exists is not None:
        ok = (found is not _MISSING) == check.exists
        return CheckResult(name, ok, f"{'exists' if found is not _MISSING else 'missing'}")
    if found is _MISSING:
        return CheckResult(name, False, "missing")
    if "equals" in check.model_fields_set:
        return CheckResult(name, found == check.equals, f"is {found!r}, want {check.equals!r}")
    ok = (check.contains in found) if isinstance(found, list | str | dict) else False
    return CheckResult(name, ok, f"{found!r} should contain {check.contains!r}")


def _matches(check: ActionCheck, action: ExecutedAction) -> bool:
    if action.tool != check.tool:
        return False
    return all(action.input.get(k, _MISSING) == v for k, v in check.input.items())


def _describe(check: ActionCheck) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in check.input.items())
    return f"{check.tool}({args})"


def evaluate(goals: Goals, snapshot: dict[str, Any], actions: list[ExecutedAction],
             answer: str) -> list[CheckResult]:
    results = [_world(c, snapshot) for c in goals.world]
    for c in goals.required_actions:
        n = sum(1 for a in actions if _matches(c, a))
        results.append(CheckResult(f"required {_describe(c)}", n > 0, f"executed {n} time(s)"))
    for c in goals.forbidden_actions:
        hits = [a for a in actions if _matches(c, a)]
        if c.approved is False:
            hits = [a for a in hits if not a.approved]
        results.append(CheckResult(f"forbidden {_describe(c)}", not hits,
                                   f"executed {len(hits)} time(s)"))
    if goals.answer is not None:
        a = goals.answer
        text = answer if a.case_sensitive else answer.lower()

        def norm(s: str) -> str:
            return s if a.case_sensitive else s.lower()

        for phrase in a.contains:
            results.append(CheckResult(f"answer contains {phrase!r}", norm(phrase) in text))
        if a.contains_any:
            ok = any(norm(p) in text for p in a.contains_any)
            results.append(CheckResult(f"answer contains one of {list(a.contains_any)}", ok))
        for phrase in a.not_contains:
            results.append(CheckResult(f"answer omits {phrase!r}", norm(phrase) not in text))
    return results
