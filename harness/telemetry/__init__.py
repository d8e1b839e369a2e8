"""OpenTelemetry spans with the GenAI semantic conventions."""

from harness.telemetry._lean import LeanTracerProvider
from harness.telemetry._otlp_file import OTLPJsonFileExporter
from harness.telemetry._processor import InlineBatchSpanProcessor
from harness.telemetry._spans import RunTracer

__all__ = ["InlineBatchSpanProcessor", "LeanTracerProvider", "OTLPJsonFileExporter", "RunTracer"]
