"""The trial runner: one trial, a matrix of them, and the verdict on thresholds."""

from harness.runner._folder import check_name, default_name
from harness.runner._jsonl import TrialsFile
from harness.runner._result import TrialOutcome, TrialResult, trial_run_id, trial_seed
from harness.runner._suite import (
    GroupSummary,
    SuiteOptions,
    SuiteResult,
    plan,
    render_summary,
    run_suite,
    summarize,
)
from harness.runner._trial import (
    CONFIGURED,
    TrialEnv,
    TrialProbe,
    TrialSpec,
    fold_with_actions,
    make_spec,
    run_trial,
    schedule_of,
)

__all__ = [
    "CONFIGURED",
    "GroupSummary",
    "SuiteOptions",
    "SuiteResult",
    "TrialEnv",
    "TrialOutcome",
    "TrialProbe",
    "TrialResult",
    "TrialSpec",
    "TrialsFile",
    "check_name",
    "default_name",
    "fold_with_actions",
    "make_spec",
    "plan",
    "render_summary",
    "run_suite",
    "run_trial",
    "schedule_of",
    "summarize",
    "trial_run_id",
    "trial_seed",
]
