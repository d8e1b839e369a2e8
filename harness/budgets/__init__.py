"""``harness budgets``: limits proposed from a measured run, and written into scenarios."""

from harness.budgets._propose import (
    KINDS,
    Kind,
    LimitProposal,
    Proposal,
    TooFewTrials,
    Trial,
    needed_trials,
    propose,
)
from harness.budgets._write import set_limits

__all__ = [
    "KINDS",
    "Kind",
    "LimitProposal",
    "Proposal",
    "TooFewTrials",
    "Trial",
    "needed_trials",
    "propose",
    "set_limits",
]
