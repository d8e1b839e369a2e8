"""The local interpreter: asyncio, injected clock, durable log, telemetry."""

from harness.driver._clock import RealClock, VirtualClock
from harness.driver._driver import (
    Crash,
    Driver,
    Human,
    HumanDecision,
    NobodyHome,
    RunResult,
)

__all__ = [
    "Crash",
    "Driver",
    "Human",
    "HumanDecision",
    "NobodyHome",
    "RealClock",
    "RunResult",
    "VirtualClock",
]
