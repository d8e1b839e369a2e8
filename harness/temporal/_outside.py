"""The ``outside`` approver policy: a person outside the run decides.

On the Temporal backend the trial's workflow waits, durably, for the decision that
``harness approve`` delivers as a signal, at most the request's ``timeout_s``. On the
local backend nobody can reach the run from outside, so every request times out and
its default applies (as with no approver at all).
"""

from __future__ import annotations

from typing import Any

from harness.core import HumanRequest
from harness.driver import HumanDecision
from harness.protocols import Clock


class OutsidePerson:
    def __init__(self, spec: Any = None) -> None:
        self.spec = spec

    async def decide(self, request: HumanRequest, clock: Clock) -> HumanDecision:
        await clock.sleep(request.timeout_s)
        return HumanDecision(decision="timeout")
