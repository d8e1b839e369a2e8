"""The build id a worker reports: the harness version and the bytes of the workflow code.

Temporal shows it per poller in its UI, so an operator sees which workers run which
code. A workflow replayed by other workflow code that decides differently fails its
workflow task with a non-determinism error, and Temporal retries that task (it does not
fail the workflow): the trial waits for a worker with the right code instead of going
on corrupted. The agent itself (its scenario file) is checked by ``open_session``.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


@functools.cache
def build_id() -> str:
    import harness.core
    import harness.temporal._workflow as wf

    h = hashlib.sha256()
    core = Path(harness.core.__file__).parent
    for f in sorted(core.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    h.update(Path(wf.__file__).read_bytes())
    return f"harness-{_version()}-{h.hexdigest()[:12]}"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("harness")
    except Exception:
        return "unknown"
