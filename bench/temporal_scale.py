"""Trials per second on the Temporal backend, with one and with two worker processes.

One suite: the bundled ``refund-broken-mug`` scenario, ``--trials 200``, on the simulated
transport (modelled model behaviour, not a real model: this measures the backend's
throughput, not an agent's quality). A local Temporal dev server (the ``temporal`` binary
of the ``temporal`` extra, in memory, on loopback) runs it three ways:

- **one**: one ``harness worker`` process;
- **two**: two ``harness worker`` processes on the same task queue;
- **local**: the local backend on the same suite (``harness run``'s default workers, one
  per usable core), for scale: what Temporal's durability costs per trial.

Each figure is wall time from "run these trials" to "every line is in trials.jsonl"
(the report stage is off), after a small warm-up run on the same workers. The worker
processes are separate processes; on a 2-core machine the server, the client and the
workers share the two cores, so two workers cannot double one. On a cluster the server
runs elsewhere and each worker gets its own cores: throughput grows with workers until
the server's persistence (its database's write rate) is the bottleneck.

Each Temporal row also says where the CPU went during the measured run (seconds of CPU
of the worker processes, the server and this client, from ``psutil``, which the
``bench`` extra installs): it shows which process is the bottleneck.

Ends with ``temporal_scale: one=X two=Y speedup=Z local=W`` (trials per second).
Run: ``.venv/bin/python bench/temporal_scale.py [--trials 200] [--local-activities off]``;
needs the ``temporal`` extra (and ``bench``, for ``psutil``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from harness.runner import SuiteOptions, run_suite
from harness.temporal import TemporalOptions
from harness.temporal._server import DevServer

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "customer-support" / "refund-broken-mug.yaml"


def _workers(address: str, queue: str, n: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(n):
        log = (logs / f"worker-{queue}-{i}.log").open("wb")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "worker", "--temporal-address", address,
             "--task-queue", queue], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
        log.close()
    deadline = time.monotonic() + 60
    for i in range(n):
        path = logs / f"worker-{queue}-{i}.log"
        while "ready" not in path.read_text():
            if time.monotonic() > deadline:
                raise SystemExit(f"worker {i} did not start: {path.read_text()}")
            time.sleep(0.1)
    return procs


def _cpu(pids: list[int]) -> float:
    """CPU seconds (user and system) the processes ``pids`` have used so far."""
    import psutil

    return sum(sum(psutil.Process(p).cpu_times()[:2]) for p in pids)


def _suite(out: Path, trials: int, temporal: TemporalOptions | None) -> float:
    opts = SuiteOptions(paths=(str(SCENARIO),), trials=trials, out=out, tracing=False,
                        progress=False, report_files=False, temporal=temporal,
                        concurrency=trials, workers=None)
    start = time.perf_counter()
    result = run_suite(opts)
    took = time.perf_counter() - start
    if len(result.results) != trials:
        raise SystemExit(f"{len(result.results)} trials of {trials}")
    return trials / took


def _on_workers(server: DevServer, n: int, trials: int, tmp: Path, local_activities: bool
                ) -> tuple[float, tuple[float, float, float]]:
    """Trials per second on ``n`` worker processes, and the CPU seconds the workers, the
    server and this client used during the measured run."""
    queue = f"bench-{n}-{uuid.uuid4().hex[:6]}"
    procs = _workers(server.address, queue, n, tmp)
    try:
        topts = TemporalOptions(server.address, task_queue=queue,
                                local_activities=local_activities)
        _suite(tmp / f"warm-{n}", 10, topts)
        assert server.proc is not None
        workers, srv = [p.pid for p in procs], [server.proc.pid]
        before = (_cpu(workers), _cpu(srv), sum(os.times()[:2]))
        rate = _suite(tmp / f"run-{n}", trials, topts)
        after = (_cpu(workers), _cpu(srv), sum(os.times()[:2]))
        return rate, (after[0] - before[0], after[1] - before[1], after[2] - before[2])
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--local-activities", choices=("on", "off"), default="on",
                    help="effects as local activities (the default) or as activities")
    args = ap.parse_args()
    local_activities = args.local_activities == "on"
    with tempfile.TemporaryDirectory() as d, DevServer() as server:
        tmp = Path(d)
        one, cpu1 = _on_workers(server, 1, args.trials, tmp, local_activities)
        two, cpu2 = _on_workers(server, 2, args.trials, tmp, local_activities)
        _suite(tmp / "warm-local", 10, None)
        local = _suite(tmp / "local", args.trials, None)
    print(f"{'backend':<24}{'trials/s':>10}{'wall s':>8}   CPU s: {'workers':>8}{'server':>8}"
          f"{'client':>8}")
    for name, rate, cpu in (("temporal, 1 worker", one, cpu1),
                            ("temporal, 2 workers", two, cpu2)):
        print(f"{name:<24}{rate:>10.1f}{args.trials / rate:>8.1f}   {'':7}{cpu[0]:>8.1f}"
              f"{cpu[1]:>8.1f}{cpu[2]:>8.1f}")
    print(f"{'local (default workers)':<24}{local:>10.1f}{args.trials / local:>8.1f}")
    print(f"temporal_scale: one={one:.1f} two={two:.1f} speedup={two / one:.2f} "
          f"local={local:.1f}")


if __name__ == "__main__":
    main()
