"""Hypothesis strategies for fault schedules.

Only *scheduled* faults are drawn (a tool call number, an LLM call number, a log
record index), never rates: a scheduled fault either fires at its call or not at
all, so deleting one or lowering its call number is a shrink step Hypothesis can
take and a person can read. Every field shrinks towards "less": fewer faults,
earlier calls, ``tool=None`` (any tool), default latencies, no ``retry-after``.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from harness.faults import TOOL_FAULT_KINDS, FaultSchedule, ToolFault, ToolFaultPlan
from harness.llm import FAULT_KINDS, LLMFault, LLMFaultPlan

#: Default bounds of what is drawn. The fuzzer narrows them to the calls and records
#: the scenario's fault-free trial makes (plus a margin for retries), since a fault
#: scheduled past the end of a run never fires and only dilutes the search.
MAX_TOOL_CALL = 12
MAX_LLM_CALL = 15
MAX_RECORD = 60
MAX_FAULTS = 3
MAX_CRASHES = 3

_LATENCIES = (2.0, 30.0, 120.0)
_RETRY_AFTER = (0.5, 5.0, 90.0)
_SLOW = (1.0, 30.0, 120.0)


@st.composite
def _tool_fault(draw: st.DrawFn, tools: tuple[str, ...], max_call: int) -> ToolFault:
    kind = draw(st.sampled_from(TOOL_FAULT_KINDS))
    at_call = draw(st.integers(1, max_call))
    tool = draw(st.none() | st.sampled_from(tools)) if tools else None
    latency = draw(st.sampled_from(_LATENCIES)) if kind in ("latency", "timeout") else 2.0
    return ToolFault(kind=kind, at_call=at_call, tool=tool, latency_s=latency)  # type: ignore[arg-type]


@st.composite
def _llm_fault(draw: st.DrawFn, max_call: int) -> LLMFault:
    kind = draw(st.sampled_from(FAULT_KINDS))
    at_call = draw(st.integers(1, max_call))
    retry_after = draw(st.none() | st.sampled_from(_RETRY_AFTER))
    delay = draw(st.sampled_from(_SLOW)) if kind == "slow" else 0.0
    return LLMFault(kind=kind, at_call=at_call, retry_after_s=retry_after,  # type: ignore[arg-type]
                    delay_s=delay)


def fault_schedules(
    tools: Sequence[str] = (), *, seed: int = 0, injection_action: str | None = None,
    max_faults: int = MAX_FAULTS, max_crashes: int = MAX_CRASHES,
    max_tool_call: int = MAX_TOOL_CALL, max_llm_call: int = MAX_LLM_CALL,
    max_record: int = MAX_RECORD,
) -> st.SearchStrategy[FaultSchedule]:
    """Schedules of up to ``max_faults`` tool faults (at tool calls 1..``max_tool_call``)
    and LLM faults (at model calls 1..``max_llm_call``, one per call), and up to
    ``max_crashes`` crash points (log records 1..``max_record``; before record 0 there
    is no log to resume from). ``tools`` are the names a tool fault may be aimed at;
    ``seed`` is the trial seed recorded in the schedule (rate draws would use it)."""
    names = tuple(tools)
    plan_kw = {} if injection_action is None else {"injection_action": injection_action}
    tool_faults = st.lists(_tool_fault(names, max(1, max_tool_call)), max_size=max_faults)
    llm_faults = st.lists(_llm_fault(max(1, max_llm_call)), max_size=max_faults,
                          unique_by=lambda f: f.at_call)
    crashes = st.lists(st.integers(1, max(1, max_record)), max_size=max_crashes, unique=True)
    return st.builds(
        lambda t, m, c: FaultSchedule(
            profile="fuzz", seed=seed, tools=ToolFaultPlan(faults=tuple(t), **plan_kw),
            llm=LLMFaultPlan(faults=tuple(m)), crash_at=tuple(sorted(c))),
        tool_faults, llm_faults, crashes,
    )
