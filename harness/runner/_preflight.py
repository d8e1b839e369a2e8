"""What must hold before a run folder is made: a start that would fail, fails here.

A run refused after its folder exists leaves a half-made folder that the corrected
rerun then finds in its way. So every check that does not need the run itself (the
transport's credentials and cassettes, the span exporter) runs before the folder is
created; the runner's own checks (scenarios, models, the folder's path) run before it
too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.llm import LIVE_KEY_MISSING
from harness.runner._trial import TrialSpec, cassette_path

if TYPE_CHECKING:
    from harness.runner._suite import SuiteOptions


def preflight(specs: Sequence[TrialSpec], opts: SuiteOptions) -> None:
    if opts.transport == "live" and not os.environ.get("ANTHROPIC_API_KEY"):
        raise UsageError(LIVE_KEY_MISSING)
    if opts.transport == "replay":
        missing = [p for p in (cassette_path(s, opts.cassettes) for s in specs) if not p.exists()]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise UsageError(f"no cassette {missing[0]}{more}: record them first with "
                             "harness run --record on the simulated or live transport")
    if opts.record and specs:
        folders = sorted({str(cassette_path(s, opts.cassettes).parent) for s in specs})
        print(f"harness: recording cassettes to {', '.join(folders)}", file=sys.stderr)
    if opts.tracing and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
        except ImportError:
            raise UsageError(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed: "
                "pip install 'harness[otlp]'") from None
