"""Clocks: wall time for live runs, virtual time for simulated and replayed ones.

The virtual clock keeps one timeline per effect. Effects that run in parallel each
start at the moment they were launched and advance only their own timeline when
they "sleep" (simulated latency), so two sub-agents working side by side finish
at max(latencies), not their sum, and nothing ever really waits. The driver reads
each effect's finishing time and delivers results in virtual-time order, which is
what makes a trial reproducible from its seed.
"""

from __future__ import annotations

import asyncio
import contextvars
import time

_timeline: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "harness_virtual_timeline", default=None
)


class RealClock:
    """Wall-clock time (monotonic, so a clock step cannot make a budget go backwards)."""

    virtual = False

    def __init__(self) -> None:
        self._origin = time.time() - time.monotonic()

    def now(self) -> float:
        return self._origin + time.monotonic()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)


class VirtualClock:
    """Simulated time: ``sleep`` advances the current effect's timeline and returns at once."""

    virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        line = _timeline.get()
        return line[0] if line is not None else self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        line = _timeline.get()
        if line is None:
            self._now += seconds
        else:
            line[0] += seconds

    def advance_to(self, t: float) -> None:
        """Move the global time forward (never back) to an effect's finishing time."""
        if t > self._now:
            self._now = t

    def begin_effect(self) -> list[float]:
        """Give the current task its own timeline starting now; returns it for reading."""
        line = [self._now]
        _timeline.set(line)
        return line
