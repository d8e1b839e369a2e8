"""Limits from a measured run: a quantile of what the trials that met their goal used,
times a margin, and what each limit would have cost in completion in that run.

The quantile is taken over the trials that met their goal, not over all trials: a
budget exists to let the tasks that succeed finish and to stop the ones that spiral,
and a failing trial that ran on for a hundred calls says nothing about what success
needs. Pure: plain values in, plain values out (no files, no pandas).

Numbers are worked in decimal so that ``10 x 1.2`` is 12, not 12.000000000000002
rounded up to 13: counts are rounded up to whole numbers, dollars and seconds up to
three significant figures, and every rounding is upwards, so a proposed limit is never
below the quantile it came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction

from harness.metrics import percentile, wilson

#: Significant figures a dollar or second limit is rounded up to (at most 1% over).
SIGNIFICANT = 3


@dataclass(frozen=True)
class Kind:
    """One kind of limit: its key in ``agent.limits`` and the trials field it bounds."""

    limit: str
    field: str
    integer: bool


#: The limits the runtime enforces (``RunLimits``), in the order they are shown and written.
KINDS: tuple[Kind, ...] = (
    Kind("llm_calls", "llm_calls", True),
    Kind("tool_calls", "tool_calls", True),
    Kind("tokens_in", "tokens_in", True),
    Kind("tokens_out", "tokens_out", True),
    Kind("cost_usd", "cost_usd", False),
    Kind("wall_time_s", "duration_s", False),
)


@dataclass(frozen=True)
class Trial:
    """What one trial used (``None``: not measured), and whether it met its goal."""

    goal_met: bool
    used: Mapping[str, float | None]
    """By limit key (``llm_calls`` ... ``wall_time_s``)."""
    exhausted_limit: str | None = None


@dataclass(frozen=True)
class LimitProposal:
    kind: Kind
    quantile_value: float | None
    """The quantile of what goal-met trials used; ``None`` when none measured it."""
    limit: Decimal | None
    """The proposed limit; ``None`` when nothing measured this kind (no limit proposed)."""
    measured: int
    """Goal-met trials that measured this kind."""
    cut: int
    """Goal-met trials whose use exceeds the limit: this limit would have stopped them."""

    @property
    def value(self) -> int | float | None:
        if self.limit is None:
            return None
        return int(self.limit) if self.kind.integer else float(self.limit)

    def text(self) -> str:
        """The limit as written into a scenario file: plain decimal, never an exponent."""
        return "" if self.limit is None else format(self.limit, "f")


@dataclass(frozen=True)
class Proposal:
    trials: int
    goal_met: int
    kept: int
    """Trials that met their goal within every proposed limit."""
    limits: tuple[LimitProposal, ...]
    exhausted: int
    """Trials that ran out of a limit in this run (so its distribution is censored)."""

    @property
    def completion(self) -> float:
        return self.goal_met / self.trials

    @property
    def completion_ci(self) -> tuple[float, float]:
        return wilson(self.goal_met, self.trials)

    @property
    def projected(self) -> float:
        return self.kept / self.trials

    @property
    def projected_ci(self) -> tuple[float, float]:
        return wilson(self.kept, self.trials)

    def values(self) -> dict[str, int | float]:
        return {p.kind.limit: v for p in self.limits if (v := p.value) is not None}

    def texts(self) -> dict[str, str]:
        return {p.kind.limit: p.text() for p in self.limits if p.limit is not None}


class TooFewTrials(ValueError):
    def __init__(self, have: int, need: int) -> None:
        super().__init__(f"{have} trials met their goal, {need} needed")
        self.have = have
        self.need = need


def needed_trials(quantile: float) -> int:
    """Goal-met trials needed to estimate ``quantile``: ``ceil(1 / (1 - q))``.

    With fewer, not one trial is expected above the quantile, so the estimate is only the
    largest value seen: 100 for the 0.99 quantile, 10 for 0.9, 2 for the median. Worked
    on the decimal the user typed, so 0.99 needs 100, not the 101 that ``1 / (1 - 0.99)``
    in binary floating point rounds up to."""
    q = Fraction(repr(quantile))
    if not 0 < q < 1:
        raise ValueError(f"quantile must be between 0 and 1, not {quantile}")
    return math.ceil(1 / (1 - q))


def round_up(value: Decimal, integer: bool) -> Decimal:
    """Upwards: to a whole number, or to ``SIGNIFICANT`` figures."""
    if integer or value <= 0:
        return value.to_integral_value(rounding=ROUND_CEILING)
    step = Decimal(1).scaleb(value.adjusted() - (SIGNIFICANT - 1))
    return value.quantize(step, rounding=ROUND_CEILING).normalize()


def limit_for(quantile_value: float, margin: float, integer: bool) -> Decimal:
    exact = Decimal(repr(float(quantile_value))) * Decimal(repr(float(margin)))
    out = round_up(exact, integer)
    # normalize() may leave an exponent form (1.2E+3): give it back as a plain number
    return out.quantize(Decimal(1)) if out == out.to_integral_value() else out


def propose(trials: Sequence[Trial], quantile: float, margin: float) -> Proposal:
    """Limits at ``quantile`` of the goal-met trials' use, times ``margin``.

    Raises ``TooFewTrials`` when fewer goal-met trials than ``needed_trials`` are given,
    ``ValueError`` for a quantile outside (0, 1) or a margin below 1 or not finite."""
    need = needed_trials(quantile)
    if not (math.isfinite(margin) and margin >= 1):
        raise ValueError(f"margin must be a finite number of at least 1, not {margin}")
    met = [t for t in trials if t.goal_met]
    if len(met) < need:
        raise TooFewTrials(len(met), need)
    out: list[LimitProposal] = []
    for kind in KINDS:
        seen = [float(v) for t in met if (v := t.used.get(kind.limit)) is not None]
        if not seen:
            out.append(LimitProposal(kind, None, None, 0, 0))
            continue
        qv = percentile(seen, quantile * 100)
        limit = limit_for(qv, margin, kind.integer)
        cap = float(limit)
        out.append(LimitProposal(kind, qv, limit, len(seen), sum(v > cap for v in seen)))
    caps = {p.kind.limit: float(p.limit) for p in out if p.limit is not None}
    kept = sum(1 for t in met if not cut_off(t, caps))
    return Proposal(trials=len(trials), goal_met=len(met), kept=kept, limits=tuple(out),
                    exhausted=sum(t.exhausted_limit is not None for t in trials))


def cut_off(trial: Trial, caps: Mapping[str, float]) -> bool:
    """Whether any limit would have stopped the trial: a use over it (reaching it is fine,
    as the runtime lets a run reach a limit but never pass it)."""
    return any((v := trial.used.get(k)) is not None and float(v) > cap
               for k, cap in caps.items())


def passing(trials: Sequence[Trial], caps: Mapping[str, float], fraction: float) -> int:
    """Goal-met trials that would pass ``fraction`` of a limit while within all of them.

    The runtime asks a person once a run has spent ``budget_fraction`` of any limit (the
    ``budget_threshold`` rule, 0.8 by default): under limits this close, such a trial is
    no longer the one measured, as it now waits on a person and their time counts
    against the wall-time limit."""
    return sum(1 for t in trials if t.goal_met and not cut_off(t, caps) and any(
        (v := t.used.get(k)) is not None and cap > 0 and float(v) >= fraction * cap
        for k, cap in caps.items()))
