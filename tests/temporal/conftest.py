"""A real Temporal server for the backend's tests: one per test session, from the binary the
``temporal`` extra installs (never downloaded), on free loopback ports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

pytest.importorskip("temporalio", reason="the Temporal backend's extra is not installed: "
                    "pip install -e '.[temporal]' (make test installs it)")

from temporal_support import start_worker, stop, wait_ready

from harness.temporal._server import DevServer


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = DevServer(db=tmp_path_factory.mktemp("temporal") / "dev.db")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def temporal_worker(temporal_server: DevServer, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[str]:
    """One worker process for the session's ordinary tests; yields its task queue."""
    queue = f"tests-{uuid.uuid4().hex[:8]}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = start_worker(temporal_server.address, queue, log)
    try:
        wait_ready(proc, log)
        yield queue
    finally:
        stop(proc)
