"""Where a run's trials go when a Temporal server runs them (``--backend temporal``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_NAMESPACE = "default"
DEFAULT_TASK_QUEUE = "harness"


@dataclass(frozen=True)
class TemporalOptions:
    address: str
    """``HOST:PORT`` of the Temporal frontend (a local dev server, a cluster, Temporal Cloud)."""
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE
    connect_timeout_s: float = 10.0
    """How long to try reaching the server before giving up with exit 2."""
    failover_s: float = 10.0
    """How long a trial waits for its worker (to pick up an effect, or to heartbeat during
    a long one) before another worker rebuilds the trial and carries on."""
    outage_s: float = 300.0
    """How long the run waits for a server that went away (a restart) before giving up;
    the trials it did not see finish are found on the server by ``--resume``."""
    history_limit: int = 10_000
    """Events in a trial's workflow history past which it continues as new (the server's
    own suggestion, near its limits, applies too)."""
    payload_store: Path | None = None
    """The folder, shared by the run and all its workers, where payloads too large for
    the history are kept by reference (``None``: the per-user cache folder)."""
    local_activities: bool | None = None
    """Perform a trial's effects as local activities on the worker that runs its workflow
    (one marker per effect in the history, no server round trip) rather than as activities
    through its worker's own task queue (each one scheduled, started and completed on the
    server, heartbeated while it runs). None: local, except on the live transport, whose
    calls take seconds and are better heartbeated and retried by the server."""

    def local_for(self, transport: str) -> bool:
        return transport != "live" if self.local_activities is None else self.local_activities
