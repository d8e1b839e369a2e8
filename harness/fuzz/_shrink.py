"""A last, schedule-aware shrink pass after Hypothesis's own.

Hypothesis shrinks the choices it drew, and it does that well, but a fault
schedule has one move its choice sequence cannot make in a single step: a fault
dropped from the front of a run shifts every later call number, so "drop this
error and fire the injection at call 2 instead of call 4" is two coupled changes.
This pass tries exactly such moves on the schedule itself and keeps a candidate
only if it is smaller and still shows the same violation kind:

1. drop one fault (tool fault, LLM fault or crash point);
2. drop one fault and move another to an earlier call or record;
3. move one fault earlier;
4. make one fault plainer (any tool instead of a named one, default latency,
   no ``retry-after``).

"Smaller" is: fewer faults, then a lower sum of call numbers and record indices,
then fewer non-default details. The pass is greedy, deterministic, and bounded
by a number of trials; each accepted candidate restarts it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from harness.faults import FaultSchedule, ToolFault, ToolFaultPlan
from harness.fuzz._invariants import Violation
from harness.llm import LLMFault, LLMFaultPlan

Check = Callable[[FaultSchedule], list[Violation]]


@dataclass(frozen=True)
class _Item:
    source: str
    """``tool``, ``llm`` or ``crash``."""
    fault: Any
    """A ``ToolFault``, an ``LLMFault`` or a record index."""

    @property
    def position(self) -> int:
        return int(self.fault) if self.source == "crash" else int(self.fault.at_call)

    def moved(self, to: int) -> _Item:
        if self.source == "crash":
            return _Item("crash", to)
        return _Item(self.source, self.fault.model_copy(update={"at_call": to}))

    def details(self) -> int:
        if self.source == "tool":
            f: ToolFault = self.fault
            return int(f.tool is not None) + int(f.latency_s != 2.0)
        if self.source == "llm":
            m: LLMFault = self.fault
            return int(m.retry_after_s is not None) + int(m.delay_s != 0.0)
        return 0

    def plainer(self) -> Iterator[_Item]:
        if self.source == "tool":
            f: ToolFault = self.fault
            if f.tool is not None:
                yield _Item("tool", f.model_copy(update={"tool": None}))
            if f.latency_s != 2.0:
                yield _Item("tool", f.model_copy(update={"latency_s": 2.0}))
        elif self.source == "llm":
            m: LLMFault = self.fault
            if m.retry_after_s is not None:
                yield _Item("llm", m.model_copy(update={"retry_after_s": None}))


def _items(s: FaultSchedule) -> list[_Item]:
    return ([_Item("tool", f) for f in s.tools.faults] + [_Item("llm", m) for m in s.llm.faults]
            + [_Item("crash", k) for k in s.crash_at])


def _build(base: FaultSchedule, items: list[_Item]) -> FaultSchedule | None:
    """The schedule of ``items``, or ``None`` if it is not a valid one (two LLM faults
    on one call, a crash point twice)."""
    crashes = [int(i.fault) for i in items if i.source == "crash"]
    if len(set(crashes)) != len(crashes):
        return None
    try:
        return FaultSchedule(
            profile=base.profile, seed=base.seed,
            tools=ToolFaultPlan(faults=tuple(i.fault for i in items if i.source == "tool"),
                                injection_action=base.tools.injection_action),
            llm=LLMFaultPlan(faults=tuple(i.fault for i in items if i.source == "llm")),
            crash_at=tuple(sorted(crashes)))
    except ValidationError:
        return None


def size(s: FaultSchedule) -> tuple[int, int, int]:
    """How big a schedule is; shrinking only ever lowers this."""
    items = _items(s)
    return len(items), sum(i.position for i in items), sum(i.details() for i in items)


def _candidates(items: list[_Item]) -> Iterator[list[_Item]]:
    n = len(items)
    for i in range(n):
        yield items[:i] + items[i + 1:]
    for i in range(n):
        rest = items[:i] + items[i + 1:]
        for j, it in enumerate(rest):
            for to in range(1, it.position):
                yield [*rest[:j], it.moved(to), *rest[j + 1:]]
    for j, it in enumerate(items):
        for to in range(1, it.position):
            yield [*items[:j], it.moved(to), *items[j + 1:]]
    for j, it in enumerate(items):
        for simpler in it.plainer():
            yield [*items[:j], simpler, *items[j + 1:]]


def minimise(check: Check, schedule: FaultSchedule, violations: list[Violation], kind: str,
             *, budget: int = 200) -> tuple[FaultSchedule, list[Violation], int]:
    """Shrink ``schedule`` (which shows ``kind``) further; return the smallest schedule found,
    its violations, and the number of trials spent (at most ``budget``)."""
    best, best_v, spent = schedule, violations, 0
    improved = True
    while improved and spent < budget:
        improved = False
        current = size(best)
        for cand_items in _candidates(_items(best)):
            cand = _build(best, cand_items)
            if cand is None or size(cand) >= current:
                continue
            if spent >= budget:
                break
            spent += 1
            found = check(cand)
            if any(v.kind == kind for v in found):
                best, best_v, improved = cand, found, True
                break
    return best, best_v, spent
