"""Scenario files: schema, loading with located errors, goal checks, worlds."""

from harness._world import World
from harness.core._actions import ExecutedAction
from harness.scenario._checks import CheckResult, evaluate, resolve
from harness.scenario._load import (
    LoadedScenario,
    build_agent_config,
    describe,
    discover,
    load_all,
    load_scenario,
)
from harness.scenario._model import (
    ActionCheck,
    AgentSpec,
    AnswerCheck,
    EntryAgentSpec,
    FaultSpec,
    Goals,
    Scenario,
    Thresholds,
    WorldCheck,
    WorldSpec,
)
from harness.scenario._worlds import make_world, world_kinds
from harness.scenario._yaml import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "ActionCheck",
    "AgentSpec",
    "AnswerCheck",
    "CheckResult",
    "EntryAgentSpec",
    "ExecutedAction",
    "FaultSpec",
    "Goals",
    "LoadedScenario",
    "Scenario",
    "Thresholds",
    "World",
    "WorldCheck",
    "WorldSpec",
    "build_agent_config",
    "describe",
    "discover",
    "evaluate",
    "load_all",
    "load_scenario",
    "make_world",
    "resolve",
    "world_kinds",
]
