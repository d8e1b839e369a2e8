"""A real Temporal server for the backend's tests: one per test session, from the binary the
``temporal`` extra installs (never downloaded), on free loopback ports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

pytest.importorskip("temporalio", reason="the Temporal backend's extra is not installed: "
                    "pip install -e '.[temporal]' (make test installs it)")

from temporal_support import ENV, Server, start_worker, stop, wait_ready

from harness.temporal._server import ONE_PARTITION, binary, free_port


@pytest.fixture(scope="session", autouse=True)
def _payload_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The runs and workers the tests start keep large payloads in a cache folder of the
    session's own (the default store, found through ``XDG_CACHE_HOME``), not the user's."""
    ENV["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The SDK's own local environment, handed the installed ``temporal`` binary (so it
    downloads nothing), keeping its state in a file as a real deployment would."""
    from temporalio.testing import WorkflowEnvironment

    port = free_port()
    loop = asyncio.new_event_loop()
    env = loop.run_until_complete(WorkflowEnvironment.start_local(
        dev_server_existing_path=str(binary("temporal")), ip="127.0.0.1", port=port,
        ui=False, dev_server_log_level="error",
        dev_server_extra_args=["--db-filename",
                               str(tmp_path_factory.mktemp("temporal") / "dev.db"),
                               *ONE_PARTITION]))
    try:
        yield Server(f"127.0.0.1:{port}")
    finally:
        loop.run_until_complete(env.shutdown())
        loop.close()


@pytest.fixture(scope="session")
def temporal_worker(temporal_server: Server, tmp_path_factory: pytest.TempPathFactory
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
