"""The budgets axis: the same trials with every budget limit on, or with all of them off.

Limits are what a team sets to hold an agent's cost; the unbudgeted variant shows what
they hold back (the cost tail without them) and what they cost (the completion they
take). A trial without budgets differs from its budgeted twin in its limits alone: the
same seed (so the same simulated model, fault schedule and retry waits) and the same
structure (turns, steps, replans, retries are how the agent is written, not a budget).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast

from harness.core import AgentConfig, RunLimits
from harness.errors import UsageError

Budgets = Literal["on", "off"]
#: The variants, in the order a run plans them.
BUDGET_VARIANTS: tuple[Budgets, ...] = ("on", "off")
ON: Budgets = "on"
OFF: Budgets = "off"
#: A trial's limits when its budgets are off: none.
NO_LIMITS = RunLimits()


def parse_budgets(text: str, option: str = "--budgets") -> tuple[Budgets, ...]:
    """``on``, ``off`` or ``on,off``: the variants to run, each once, in the order given."""
    return check_budgets([p.strip() for p in text.split(",")], option, text)


def check_budgets(variants: Iterable[str], option: str = "budgets",
                  given: str | None = None) -> tuple[Budgets, ...]:
    """The variants named, checked (a typo never runs as "on"), each once, in order."""
    names = list(variants)
    if not names or any(v not in BUDGET_VARIANTS for v in names):
        shown = given if given is not None else ",".join(names)
        raise UsageError(f"{option} {shown!r}: give on, off or both (on,off)")
    return tuple(cast(Budgets, v) for v in dict.fromkeys(names))


def unbudgeted(config: AgentConfig) -> AgentConfig:
    """The same agent with no limit anywhere: the run's, every role's slice, and so no
    fraction of a limit for the ``budget_threshold`` rule to cross."""
    roles = tuple(r.model_copy(update={"limits": None, "budget_share": None})
                  for r in config.roles)
    return config.model_copy(update={
        "limits": NO_LIMITS, "roles": roles,
        "escalation": config.escalation.model_copy(update={"budget_fraction": None})})
