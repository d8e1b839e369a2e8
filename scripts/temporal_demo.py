"""The Temporal backend on one machine, start to finish: ``make demo-temporal``.

Starts a local Temporal dev server (the ``temporal`` binary of the ``temporal`` extra,
keeping its state in a file), two ``harness worker`` processes, and runs the bundled
suites on them with ``harness run --backend temporal``; then runs the same suites on
the local backend and says whether the two ``trials.jsonl`` are the same, byte for
byte. Everything runs on the simulated transport (modelled model behaviour: this shows
the backend, not a model's quality). The servers and workers are stopped at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.temporal._server import DevServer

ROOT = Path(__file__).resolve().parents[1]


def _harness(*args: str, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, text=True,
                          capture_output=quiet)
    if quiet and done.returncode not in (0, 1):
        print(done.stderr, file=sys.stderr)
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "demo-temporal")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with DevServer(db=tmp / "temporal.db") as server:
            print(f"temporal dev server at {server.address} (state in {tmp / 'temporal.db'})")
            workers = []
            for i in range(args.workers):
                log = tmp / f"worker-{i}.log"
                with log.open("wb") as f:
                    workers.append(subprocess.Popen(
                        [sys.executable, "-m", "harness.cli", "worker", "--temporal-address",
                         server.address], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT))
                deadline = time.monotonic() + 60
                while "harness worker: ready" not in log.read_text():
                    if workers[-1].poll() is not None or time.monotonic() > deadline:
                        print(log.read_text(), file=sys.stderr)
                        return 1
                    time.sleep(0.1)
            print(f"{args.workers} harness worker processes ready")
            try:
                on_temporal = _harness("run", "scenarios", "--trials", str(args.trials),
                                       "--out", str(args.out), "--backend", "temporal",
                                       "--temporal-address", server.address)
            finally:
                for w in workers:
                    w.terminate()
                for w in workers:
                    w.wait(30)
        if on_temporal.returncode not in (0, 1):
            return on_temporal.returncode
        print("the same suites on the local backend, for comparison ...")
        local = _harness("run", "scenarios", "--trials", str(args.trials), "--out",
                         str(tmp / "local"), quiet=True)
        if local.returncode not in (0, 1):
            return local.returncode
        same = (args.out / "trials.jsonl").read_bytes() == (tmp / "local" / "trials.jsonl"
                                                             ).read_bytes()
        print(f"trials.jsonl on Temporal and on the local backend: "
              f"{'identical' if same else 'DIFFERENT'}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
