"""harness: evaluation and chaos testing for LLM agents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.report._load import load_trials

__all__ = ["load_trials"]


def __getattr__(name: str) -> Any:
    # imported on first use: pandas is not needed by the runtime, the runner or a worker
    if name == "load_trials":
        from harness.report._load import load_trials

        return load_trials
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
