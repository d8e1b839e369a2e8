"""Scripted and function-backed models (they live in ``harness._scripted``, beside the
demo that uses one; the tests import them from here)."""

from harness._scripted import (
    Call,
    FailingModel,
    FunctionModel,
    ScriptedModel,
    reply,
    step_id_of,
    text,
    tool_use,
    turn_of,
    usage_for,
)

__test__ = False

__all__ = ["Call", "FailingModel", "FunctionModel", "ScriptedModel", "reply", "step_id_of",
           "text", "tool_use", "turn_of", "usage_for"]
