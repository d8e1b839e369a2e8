"""OpenTelemetry spans with the GenAI semantic conventions."""

from harness.telemetry._spans import RunTracer

__all__ = ["RunTracer"]
