"""The local interpreter: asyncio, injected clock, durable log, telemetry."""

from harness.driver._clock import RealClock, VirtualClock
from harness.driver._driver import (
    Crash,
    Driver,
    FeedWatch,
    Human,
    HumanDecision,
    NobodyHome,
    RunResult,
)

__all__ = [
    "Crash",
    "Driver",
    "FeedWatch",
    "Human",
    "HumanDecision",
    "NobodyHome",
    "RealClock",
    "RunResult",
    "VirtualClock",
]
