"""harness: put an LLM agent on trial: faults, budgets, crashes and resumes, costs.

The public API is this flat namespace; every module under it is private unless named
here (``harness.protocols`` holds the seams, and is public too). In Python::

    import harness

    result = harness.run_suite(harness.SuiteOptions(paths=("scenarios",), trials=20))
    print(result.passed, result.out / "report.html")
    trials = harness.load_trials(result.out)  # a pandas DataFrame, one row per trial

Your own parts plug in by name or import reference from a scenario file: a world
(subclass ``harness.World``), tools (plain functions under ``@harness.tool``), an
approver policy, fault and model profiles, a price table, and an agent that brings
its own loop (``agent: {entry: "my_pkg.agent:run"}``: an async function called with the
task, an ``anthropic.AsyncAnthropic`` held to the trial's limits, an ``AgentTools`` and
the model id).

Names resolve on first use, so ``import harness`` stays cheap (the CLI, the pytest
plugin and worker processes import it before they know what they need).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness._world import Input, Refusal, World, WorldSettings
    from harness.core import (
        AgentConfig,
        EscalationRules,
        OrchestratorConfig,
        RetryPolicy,
        RoleConfig,
        RunLimits,
    )
    from harness.driver import Driver, HumanDecision, RealClock, RunResult, VirtualClock
    from harness.errors import (
        ApprovalTimeout,
        ConfigError,
        EffectError,
        HarnessError,
        IllegalTransition,
        LimitExceeded,
        LogDecodeError,
        LogError,
        LogSchemaError,
        ModelError,
        RuntimeFault,
        TerminalRun,
        ToolError,
        UsageError,
    )
    from harness.external import AgentTools, BudgetExhausted, ToolResult
    from harness.llm import ModelProfile, PriceTable
    from harness.protocols import Clock, Human, ModelClient, Recorder, Tools
    from harness.report import Verdict, build_report, write_report
    from harness.report._load import load_trials
    from harness.runner import SuiteOptions, SuiteResult, TrialResult
    from harness.runner import run_suite as run_suite
    from harness.scenario import LoadedScenario, Scenario, load_all, load_scenario
    from harness.store import MemoryRecorder, SQLiteRecorder
    from harness.tools import Tool, ToolContext, ToolRegistry, tool

#: Where each public name is defined; ``harness.NAME`` imports its module on first use.
_WHERE: dict[str, str] = {
    # scenarios
    "LoadedScenario": "harness.scenario",
    "Scenario": "harness.scenario",
    "load_all": "harness.scenario",
    "load_scenario": "harness.scenario",
    # running a suite
    "SuiteOptions": "harness.runner",
    "SuiteResult": "harness.runner",
    "TrialResult": "harness.runner",
    "run_suite": "harness.runner",
    # reading results back and reporting them (pandas is imported only when asked for)
    "Verdict": "harness.report",
    "build_report": "harness.report",
    "load_trials": "harness.report._load",
    "write_report": "harness.report",
    # tools and worlds
    "Input": "harness._world",
    "Refusal": "harness._world",
    "Tool": "harness.tools",
    "ToolContext": "harness.tools",
    "ToolRegistry": "harness.tools",
    "World": "harness._world",
    "WorldSettings": "harness._world",
    "tool": "harness.tools",
    # agents that bring their own loop: what their function is handed
    "AgentTools": "harness.external",
    "BudgetExhausted": "harness.external",
    "ToolResult": "harness.external",
    # the agent's configuration and limits
    "AgentConfig": "harness.core",
    "EscalationRules": "harness.core",
    "OrchestratorConfig": "harness.core",
    "RetryPolicy": "harness.core",
    "RoleConfig": "harness.core",
    "RunLimits": "harness.core",
    # the driver, its clocks and stores
    "Driver": "harness.driver",
    "HumanDecision": "harness.driver",
    "MemoryRecorder": "harness.store",
    "RealClock": "harness.driver",
    "RunResult": "harness.driver",
    "SQLiteRecorder": "harness.store",
    "VirtualClock": "harness.driver",
    # the seams
    "Clock": "harness.protocols",
    "Human": "harness.protocols",
    "ModelClient": "harness.protocols",
    "Recorder": "harness.protocols",
    "Tools": "harness.protocols",
    # simulated models and prices
    "ModelProfile": "harness.llm",
    "PriceTable": "harness.llm",
    # errors
    "ApprovalTimeout": "harness.errors",
    "ConfigError": "harness.errors",
    "EffectError": "harness.errors",
    "HarnessError": "harness.errors",
    "IllegalTransition": "harness.errors",
    "LimitExceeded": "harness.errors",
    "LogDecodeError": "harness.errors",
    "LogError": "harness.errors",
    "LogSchemaError": "harness.errors",
    "ModelError": "harness.errors",
    "RuntimeFault": "harness.errors",
    "TerminalRun": "harness.errors",
    "ToolError": "harness.errors",
    "UsageError": "harness.errors",
}

__all__ = [
    "AgentConfig",
    "AgentTools",
    "ApprovalTimeout",
    "BudgetExhausted",
    "Clock",
    "ConfigError",
    "Driver",
    "EffectError",
    "EscalationRules",
    "HarnessError",
    "Human",
    "HumanDecision",
    "IllegalTransition",
    "Input",
    "LimitExceeded",
    "LoadedScenario",
    "LogDecodeError",
    "LogError",
    "LogSchemaError",
    "MemoryRecorder",
    "ModelClient",
    "ModelError",
    "ModelProfile",
    "OrchestratorConfig",
    "PriceTable",
    "RealClock",
    "Recorder",
    "Refusal",
    "RetryPolicy",
    "RoleConfig",
    "RunLimits",
    "RunResult",
    "RuntimeFault",
    "SQLiteRecorder",
    "Scenario",
    "SuiteOptions",
    "SuiteResult",
    "TerminalRun",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "Tools",
    "TrialResult",
    "UsageError",
    "Verdict",
    "VirtualClock",
    "World",
    "WorldSettings",
    "build_report",
    "load_all",
    "load_scenario",
    "load_trials",
    "run_suite",
    "tool",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
