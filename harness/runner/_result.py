"""One finished trial, as one line of ``trials.jsonl``. Field order is the file format."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from harness.runner._budgets import Budgets

#: ``done``: the agent finished; ``failed``: it gave up or a step failed it;
#: ``budget_exhausted``: a limit ran out; ``escalated``: a person stopped it;
#: ``crashed``: the runtime itself raised (a harness or agent bug, see ``error``).
TrialOutcome = Literal["done", "failed", "budget_exhausted", "escalated", "crashed"]


class TrialResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    scenario: str
    suite: str
    model: str
    fault_profile: str
    trial: int
    seed: int
    outcome: TrialOutcome
    goal_met: bool
    cost_usd: float
    llm_calls: int
    tool_calls: int
    tokens_in: int
    tokens_out: int
    duration_s: float
    """Virtual (or, on a live run, real) seconds from start to finish."""
    escalations: int
    retries: int
    faults: list[dict[str, Any]]
    """The faults actually injected, in order."""
    error: str | None = None
    exhausted_limit: str | None = None
    answer: str = ""
    checks: list[dict[str, Any]] = []
    log_id: str = ""
    """The key of this trial's event log in the run's ``events.sqlite``."""
    transport: str = "simulated"
    budgets: Budgets = "on"
    """Whether the agent's limits held (``off``: every limit removed, see
    ``harness.runner._budgets``). Written only when ``off``, so a budgeted run's lines
    are what they were before the axis existed; a line without it is ``on``."""

    @property
    def key(self) -> tuple[str, str, str, int, str]:
        return (self.scenario, self.model, self.fault_profile, self.trial, self.budgets)


def trial_seed(base: int, scenario: str, trial: int) -> int:
    """The same scenario and trial get the same seed whatever the model or fault profile,
    so comparisons between them are paired."""
    digest = hashlib.blake2b(f"{base}:{scenario}:{trial}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def trial_run_id(scenario: str, model: str, profile: str, trial: int,
                 budgets: str = "on") -> str:
    """A trial's id (and log key); a trial without budgets is told apart by a ``nobudget``
    part, so every budgeted trial keeps the id it always had."""
    if budgets == "off":
        return f"{scenario}/{model}/{profile}/nobudget/{trial}"
    return f"{scenario}/{model}/{profile}/{trial}"
