"""A trial's fault schedule: data drawn from a named profile and the trial's seed.

The schedule is recorded with each trial, so a failing trial can be replayed with
exactly its faults; Hypothesis generates and shrinks schedules of the same shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ConfigError
from harness.faults._tools import ToolFault, ToolFaultPlan
from harness.llm import LLMFault, LLMFaultPlan


class FaultSchedule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: str = "none"
    seed: int = 0
    tools: ToolFaultPlan = ToolFaultPlan()
    llm: LLMFaultPlan = LLMFaultPlan()
    crash_at: tuple[int, ...] = Field(default=(), max_length=8)
    """Log records before which the run is dropped and resumed from its log."""

    @property
    def empty(self) -> bool:
        return not (self.tools.faults or self.llm.faults or self.crash_at)


#: Per-profile rates, by fault name. ``crash`` is the number of crashes per trial.
PROFILES: dict[str, dict[str, float]] = {
    "none": {},
    "flaky-tools": {"tool_error": 0.10, "tool_timeout": 0.05, "tool_latency": 0.10},
    "hostile-tools": {"tool_malformed": 0.10, "tool_injection": 0.25},
    "api-brownout": {"rate_limited": 0.10, "overloaded": 0.10, "server_error": 0.05,
                     "read_timeout": 0.03},
    "crashy": {"crash": 2},
    "chaos": {"tool_error": 0.08, "tool_timeout": 0.04, "tool_latency": 0.05,
              "tool_malformed": 0.05, "tool_injection": 0.10, "rate_limited": 0.05,
              "overloaded": 0.05, "server_error": 0.03, "truncated": 0.02, "crash": 1},
}

_TOOL_KINDS = {"tool_error": "error", "tool_timeout": "timeout", "tool_latency": "latency",
               "tool_malformed": "malformed", "tool_injection": "injection"}
_LLM_KINDS = ("rate_limited", "spend_limit", "overloaded", "server_error", "gateway_timeout",
              "connect_timeout", "read_timeout", "truncated", "malformed_tool_input", "refusal")
RATE_NAMES = (*_TOOL_KINDS, *_LLM_KINDS, "crash")


def profile_rates(profile: str) -> Mapping[str, float]:
    """The rates of a fault profile: a built-in one, one a package registered under the
    ``harness.fault_profiles`` entry points, or an import reference to a mapping."""
    rates = PROFILES.get(profile)
    if rates is not None:
        return rates
    from harness._plugins import PluginError, is_reference, registered, resolve

    if not is_reference(profile) and profile not in registered("fault_profile"):
        raise ConfigError(f"unknown profile {profile!r}; choose one of "
                          f"{', '.join(fault_profile_names())} or give an import reference, "
                          "package.module:attribute", field="faults.profile")
    try:
        found: Mapping[str, float] = resolve("fault_profile", profile)
    except PluginError as err:
        raise ConfigError(str(err), field="faults.profile") from None
    for name, value in found.items():
        if name not in RATE_NAMES or value < 0 or (name != "crash" and value > 1):
            raise ConfigError(f"fault profile {profile!r}: rate {name}={value} is not a known "
                              f"fault with a rate in range; known: {', '.join(RATE_NAMES)}",
                              field="faults.profile")
    return found


def fault_profile_names() -> list[str]:
    """The built-in profiles, then those installed packages registered."""
    from harness._plugins import registered

    return [*PROFILES, *sorted(n for n in registered("fault_profile") if n not in PROFILES)]


def schedule_for(profile: str, seed: int, overrides: Mapping[str, float] | None = None,
                 *, injection_action: str | None = None, crash_window: int = 40) -> FaultSchedule:
    """The schedule of one trial: the profile's rates, with crash points drawn from ``seed``."""
    rates = {**profile_rates(profile), **(overrides or {})}
    for name, value in rates.items():
        if name not in RATE_NAMES:
            raise ConfigError(f"unknown fault {name!r}; known: {', '.join(RATE_NAMES)}",
                              field=f"faults.rates.{name}")
        if value < 0 or (name != "crash" and value > 1):
            raise ConfigError(f"rate {value} out of range", field=f"faults.rates.{name}")
    tool_faults = tuple(ToolFault(kind=_TOOL_KINDS[n], rate=r)  # type: ignore[arg-type]
                        for n, r in rates.items() if n in _TOOL_KINDS and r > 0)
    llm_faults = tuple(LLMFault(kind=n, rate=r)  # type: ignore[arg-type]
                       for n, r in rates.items() if n in _LLM_KINDS and r > 0)
    crashes = int(rates.get("crash", 0))
    points: set[int] = set()
    i = 0
    while len(points) < crashes:
        digest = hashlib.blake2b(f"{seed}:crash:{i}".encode(), digest_size=8).digest()
        points.add(1 + int.from_bytes(digest, "big") % crash_window)
        i += 1
    plan = ToolFaultPlan(faults=tool_faults)
    if injection_action:
        plan = plan.model_copy(update={"injection_action": injection_action})
    return FaultSchedule(profile=profile, seed=seed, tools=plan, llm=LLMFaultPlan(faults=llm_faults),
                         crash_at=tuple(sorted(points)))
