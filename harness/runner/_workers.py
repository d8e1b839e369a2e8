"""Spreading a run's trials over processes, which live exactly as long as their parent.

The parent alone writes ``trials.jsonl``; workers send it each finished trial's line
over a queue and write their own span files and the shared event log. A worker must
never outlive the run: one left behind (the parent killed by SIGKILL or SIGTERM, as CI
stops a job) would block forever on a queue nobody reads, while holding the parent's
stdout open, so ``harness run ... | tee`` would never end. So each worker asks the
kernel to kill it when its parent dies (Linux ``PR_SET_PDEATHSIG``), or else watches
its parent's pid; and a parent that stops early (Ctrl-C, SIGTERM, an error) kills its
workers at once: the trials they had in hand run again on ``--resume``.

How many: CPU-bound runs (simulated and replay transports) default to one process per
usable core, capped by the trials to run; live runs, which wait on the network, to one.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any

from harness._cpus import usable_cpus
from harness.runner._budgets import Budgets
from harness.runner._result import TrialResult
from harness.runner._trial import TrialSpec, make_spec
from harness.scenario import load_all
from harness.store import SQLiteRecorder

if TYPE_CHECKING:
    from harness.runner._suite import SuiteOptions

#: Transports whose trials keep a core busy (no network wait): worth a process per core.
CPU_BOUND_TRANSPORTS = frozenset({"simulated", "replay"})

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PARENT_POLL_S = 0.2


def default_workers(transport: str, trials: int) -> int:
    """Processes for a run whose ``--workers`` was not given."""
    if transport not in CPU_BOUND_TRANSPORTS:
        return 1
    return max(1, min(usable_cpus(), trials))


# --- the worker's side -----------------------------------------------------------------


def _die_with(parent: int) -> None:
    """Make this worker die with ``parent``; the parent alone decides when a run stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # parent handles it and ends the workers
    if not _parent_death_signal():
        threading.Thread(target=watch_parent, args=(parent,), daemon=True,
                         name="harness-parent-watch").start()
    if os.getppid() != parent:  # it died before the kernel (or the thread) was watching
        os._exit(1)


def _parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; whether it could."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def watch_parent(parent: int, interval_s: float = _PARENT_POLL_S) -> None:
    """Poll the parent's pid and end this process once it is gone (an orphan is
    adopted by another process, so its parent pid changes): the portable fallback."""
    while os.getppid() == parent:
        time.sleep(interval_s)
    os._exit(1)


def _worker(index: int, keys: list[tuple[str, str | None, str, int, Budgets]], opts: SuiteOptions,
            out: Path, queue: Any, parent: int) -> None:
    _die_with(parent)
    from harness.runner._suite import _run_specs

    loaded = {ls.scenario.name: ls for ls in load_all(opts.paths)}
    specs = [make_spec(loaded[name], model, profile, trial, opts.seed, budgets)
             for name, model, profile, trial, budgets in keys]
    asyncio.run(_run_specs(specs, opts, out, f"spans-w{index}.jsonl",
                           lambda r: queue.put(r.model_dump_json())))
    queue.put(None)


# --- the parent's side -----------------------------------------------------------------


def _forkable() -> bool:
    """Whether workers may be forked (else they are spawned).

    A forked worker starts at once with everything this process imported (the SDK alone
    takes seconds to import, in every spawned worker). Fork is only safe in a process
    with no other thread, whose locks a child could inherit held; so a process with any
    other thread running, and any platform without fork, spawns.
    """
    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1


def run_in_workers(todo: list[TrialSpec], opts: SuiteOptions, workers: int, out: Path,
                   on_result: Callable[[TrialResult], None]) -> None:
    # Create the shared event log (WAL mode, schema) before any worker opens it: workers
    # starting together would otherwise race to create it, and the loser's switch to WAL
    # can fail with "database is locked" without waiting (SQLite does not wait where
    # waiting could deadlock). Opening an existing log only reads.
    SQLiteRecorder(out / "events.sqlite").close()
    ctx = mp.get_context("fork") if _forkable() else mp.get_context("spawn")
    queue = ctx.Queue()
    n = min(workers, len(todo))
    chunks: list[list[tuple[str, str | None, str, int, Budgets]]] = [[] for _ in range(n)]
    for i, s in enumerate(todo):
        chunks[i % n].append((s.scenario.scenario.name, s.model, s.profile, s.trial,
                              s.budgets))
    parent = os.getpid()
    procs = [ctx.Process(target=_worker, args=(i, chunks[i], opts, out, queue, parent),
                         daemon=True)
             for i in range(n)]
    ended = False
    try:
        for p in procs:
            p.start()
        running = n
        while running:
            try:
                item = queue.get(timeout=0.5)
            except Empty:
                if not any(p.is_alive() for p in procs):
                    break  # a worker died before its end marker: nothing more will come
                continue
            if item is None:
                running -= 1
                continue
            on_result(TrialResult.model_validate_json(item))
        ended = True
    finally:
        for p in procs:
            if not ended and p.pid is not None:
                p.kill()  # stopped early: the workers' trials in hand run again on --resume
            if p.pid is not None:
                p.join(timeout=5)
                if p.is_alive():
                    p.kill()
                    p.join()
    bad = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if bad:
        raise RuntimeError(f"a worker process failed (exit codes {bad})")
