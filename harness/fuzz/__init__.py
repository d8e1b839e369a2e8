"""Fuzzing: Hypothesis searches fault schedules for broken runtime invariants.

    harness fuzz SCENARIO [--examples N] [--seed S] [--out DIR] [--model M]
    harness replay CASE

Each example is one trial of the scenario with a generated ``FaultSchedule``
(scheduled tool faults, LLM faults, crash points), run in-process on an
in-memory log and judged by ``check_trial`` against the log, the world's own
counters and the runtime's final context. The first violation is shrunk to a
minimal schedule and written as a replayable case file.
"""

from harness.fuzz._case import (
    CASE_FORMAT,
    CASE_VERSION,
    CaseViolation,
    FuzzCase,
    load_case,
    write_case,
)
from harness.fuzz._invariants import (
    VIOLATION_KINDS,
    Execution,
    LogView,
    Observation,
    Violation,
    check_approvals,
    check_budget,
    check_goal,
    check_log,
    check_outcome,
    check_side_effects,
    check_trial,
    read_log,
)
from harness.fuzz._search import (
    DEFAULT_EXAMPLES,
    FuzzReport,
    FuzzTarget,
    check_schedule,
    describe_schedule,
    fuzz,
    fuzz_main,
    observe,
    replay_main,
)
from harness.fuzz._shrink import minimise

__all__ = [
    "CASE_FORMAT",
    "CASE_VERSION",
    "DEFAULT_EXAMPLES",
    "VIOLATION_KINDS",
    "CaseViolation",
    "Execution",
    "FuzzCase",
    "FuzzReport",
    "FuzzTarget",
    "LogView",
    "Observation",
    "Violation",
    "check_approvals",
    "check_budget",
    "check_goal",
    "check_log",
    "check_outcome",
    "check_schedule",
    "check_side_effects",
    "check_trial",
    "describe_schedule",
    "fuzz",
    "fuzz_main",
    "load_case",
    "minimise",
    "observe",
    "read_log",
    "replay_main",
    "write_case",
]
