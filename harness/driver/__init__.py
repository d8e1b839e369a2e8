"""The local interpreter: asyncio, injected clock, durable log, telemetry."""

from harness.driver._clock import RealClock, VirtualClock
from harness.driver._driver import (
    Crash,
    Driver,
    FeedWatch,
    HumanDecision,
    NobodyHome,
    RunResult,
)
from harness.protocols import Human

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
