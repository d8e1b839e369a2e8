"""The trial runner: one trial, and a matrix of them into a run folder."""

from harness.runner._budgets import BUDGET_VARIANTS, Budgets, parse_budgets, unbudgeted
from harness.runner._folder import check_name, default_name
from harness.runner._jsonl import TrialsFile
from harness.runner._result import TrialOutcome, TrialResult, trial_run_id, trial_seed
from harness.runner._suite import (
    SuiteOptions,
    SuiteResult,
    plan,
    run_suite,
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
    "BUDGET_VARIANTS",
    "CONFIGURED",
    "Budgets",
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
    "parse_budgets",
    "plan",
    "run_suite",
    "run_trial",
    "schedule_of",
    "trial_run_id",
    "trial_seed",
    "unbudgeted",
]
