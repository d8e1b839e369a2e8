"""Faults as data: tool faults, LLM faults (from ``harness.llm``) and crash points."""

from harness.faults._schedule import (
    PROFILES,
    RATE_NAMES,
    FaultSchedule,
    fault_profile_names,
    profile_rates,
    schedule_for,
)
from harness.faults._tools import (
    TOOL_FAULT_KINDS,
    FaultyTools,
    FiredToolFault,
    ToolFault,
    ToolFaultPlan,
    WorldTroubles,
)

__all__ = [
    "PROFILES",
    "RATE_NAMES",
    "TOOL_FAULT_KINDS",
    "FaultSchedule",
    "FaultyTools",
    "FiredToolFault",
    "ToolFault",
    "ToolFaultPlan",
    "WorldTroubles",
    "fault_profile_names",
    "profile_rates",
    "schedule_for",
]
