"""The run folder's life: checked before it exists, locked while a run writes it, and
kept to the inputs it was started with.

A run folder belongs to one run. Three things guard that:

- **Checked first.** Everything about the path that can fail (an existing file, a
  file where a parent folder should be, no permission to write) is checked before
  anything is created, so a refused start leaves nothing behind.
- **One writer.** A process holds an exclusive ``flock`` on ``.lock`` in the folder
  for the life of its run (worker processes share the parent's lock); a second
  ``harness run`` into the same folder is refused naming the holder. The kernel
  drops the lock when the holder dies, however it dies.
- **The same inputs.** ``run.json`` records the options and a content hash of every
  scenario file and of the price table. ``--resume`` compares them and refuses a
  run whose inputs changed, naming what changed, so results from two agents never
  mix under one label. Paths are not part of the identity: the same scenarios given
  as relative or absolute paths, with or without a trailing slash, are the same run.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from harness._files import write_atomic
from harness.errors import UsageError
from harness.scenario import LoadedScenario

#: The version of ``run.json``'s layout; a folder written with another one is not resumed.
RUN_FORMAT = 2
LOCK_NAME = ".lock"
LATEST = "latest"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def price_table_hash() -> str:
    raw = resources.files("harness").joinpath("data", "prices.json").read_bytes()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _table_hash(ls: LoadedScenario) -> str:
    """The content of the price table a scenario runs on (its own ``prices:``, or the
    default), so a price file edited beside the scenario is a changed input too."""
    raw = ls.parts.prices.model_dump_json().encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def run_identity(options: dict[str, Any], loaded: Sequence[LoadedScenario]) -> dict[str, Any]:
    """What ``run.json`` holds: the options and the content of every input."""
    return {
        "format": RUN_FORMAT,
        "options": options,
        "scenarios": {ls.scenario.name: {"sha256": sha256_file(ls.path), "file": str(ls.path),
                                         "prices": _table_hash(ls)}
                      for ls in sorted(loaded, key=lambda ls: ls.scenario.name)},
        "prices": price_table_hash(),
    }


def identity_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between a stored identity and this run's, in words a user acts on."""
    if old.get("format") != RUN_FORMAT:
        return ["run.json was written by another version of harness, so its inputs cannot "
                "be checked"]
    changes: list[str] = []
    o_opts, n_opts = old.get("options", {}), new["options"]
    for key in sorted(set(o_opts) | set(n_opts)):
        if o_opts.get(key) != n_opts.get(key):
            changes.append(f"option {key}: was {o_opts.get(key)!r}, now {n_opts.get(key)!r}")
    o_sc, n_sc = old.get("scenarios", {}), new["scenarios"]
    for name in sorted(set(o_sc) | set(n_sc)):
        if name not in n_sc:
            changes.append(f"scenario {name} is no longer given")
        elif name not in o_sc:
            changes.append(f"scenario {name} is new ({n_sc[name]['file']})")
        elif o_sc[name].get("sha256") != n_sc[name]["sha256"]:
            changes.append(f"scenario {name} changed since the run started "
                           f"({n_sc[name]['file']})")
        elif o_sc[name].get("prices") != n_sc[name]["prices"]:
            changes.append(f"the price table of scenario {name} changed since the run started")
    if old.get("prices") != new["prices"]:
        changes.append("the price table changed since the run started")
    return changes


def check_name(name: str) -> str:
    """A run name is one plain folder name: it never reaches outside the reports folder."""
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise UsageError(f"--name {name!r}: use letters, digits, '.', '_' and '-' only, "
                         "starting with a letter or digit")
    return name


def default_name(paths: Sequence[str]) -> str:
    stems = [re.sub(r"[^A-Za-z0-9._-]+", "-", Path(p).stem).strip("-.") for p in paths[:3]]
    return "-".join(s for s in stems if s) or "run"


def check_out(path: Path) -> None:
    """Refuse, before creating anything, a path no run folder can be made at."""
    if str(path) == "":
        raise UsageError("--out: the path is empty")
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path}: this is a file, not a folder")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UsageError(f"--out {path}: {probe} is a file, so no folder can be made under it")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: no permission to write in {probe}")


def fresh_default(base: Path, now: _dt.datetime | None = None) -> Path:
    """A new folder under ``base`` named for the time, claimed atomically; ``latest`` follows.

    Each run without ``--out`` gets a folder of its own, so running the same command
    twice never meets "already holds a run", and earlier runs stay to compare with."""
    check_out(base)
    stamp = (now or _dt.datetime.now(_dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    base.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        folder = base / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            n += 1
            continue
        break
    link = base / LATEST
    tmp = base / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(folder.name)
    os.replace(tmp, link)
    return folder


def latest(base: Path) -> Path:
    link = base / LATEST
    if not link.exists():
        raise UsageError(f"--resume: {base} has no run to resume (no {LATEST} link); "
                         "give the run's folder with --out")
    return base / os.readlink(link)


class RunLock:
    """An exclusive lock on a run folder for the life of one run.

    Forked workers share it (their copy of the descriptor keeps it held), so a folder
    stays locked until its last writer is gone. A killed run's workers die with it,
    a moment later: ``acquire`` waits up to ``wait_s`` for such a holder to go before
    it refuses, so a ``--resume`` straight after a kill is not refused by the dying."""

    def __init__(self, folder: Path, *, wait_s: float = 3.0) -> None:
        self.path = folder / LOCK_NAME
        self.wait_s = wait_s
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # no flock on this platform: one writer is the user's to keep
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise UsageError(f"{self.path.parent} is in use by another harness run "
                                 f"({holder}); wait for it to end or choose another --out"
                                 ) from None
        started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {started}: "
                     f"{' '.join(sys.argv[:1] + sys.argv[1:])[:300]}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays for the next run
            self._fd = None


def holds_run(folder: Path) -> bool:
    """Whether a folder already holds trials: a start that failed before any left none."""
    trials = folder / "trials.jsonl"
    if trials.exists() and trials.stat().st_size > 0:
        return True
    events = folder / "events.sqlite"
    if not events.exists():
        return False
    from harness.store import SQLiteRecorder

    recorder = SQLiteRecorder(events)
    try:
        return bool(recorder.run_ids())
    finally:
        recorder.close()


def write_identity(folder: Path, identity: dict[str, Any]) -> None:
    write_atomic(folder / "run.json", json.dumps(identity, indent=2, sort_keys=True) + "\n")


def read_identity(folder: Path) -> dict[str, Any] | None:
    p = folder / "run.json"
    if not p.exists():
        return None
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"{p}: not readable as a run description ({err})") from None
    return data if isinstance(data, dict) else {}
