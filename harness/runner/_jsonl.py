"""``trials.jsonl``: one line per finished trial, appended whole or not at all.

Each line is written with a single ``write`` on a file opened for appending, so a
process killed mid-suite leaves at worst one torn final line: a killed process
loses nothing the kernel already has. Reading tolerates exactly that: a last line
without its newline is dropped (and cut off before the next append), and that
trial simply runs again.

Lines are appended in the order trials finish; once every planned trial has its
line, ``rewrite`` puts them in the plan's order, atomically (see ``run_suite``), so a
finished run's file does not depend on workers, concurrency or interruptions.

``fsync`` only matters for power loss or an OS crash. By default lines are synced
in batches: by the first append at least ``fsync_interval_s`` seconds after the
last sync, and on ``close``. Such a loss can cost the lines written since the last
sync, and ``--resume`` runs those trials again (the event log makes the same trade
with SQLite's ``synchronous=NORMAL``). ``fsync_interval_s=0`` syncs after every line
(``harness run --fsync-interval 0``), at the price of a disk flush per trial: on a
typical disk, more than a simulated trial costs itself.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from harness._files import write_atomic
from harness.errors import ConfigError
from harness.runner._result import TrialResult

#: The default bound, in seconds, on how long a written line may wait for its fsync.
DEFAULT_FSYNC_INTERVAL_S = 1.0


class TrialsFile:
    def __init__(self, path: Path, *, fsync_interval_s: float = DEFAULT_FSYNC_INTERVAL_S) -> None:
        self.path = path
        self.fsync_interval_s = fsync_interval_s
        self._fd: int | None = None
        self._unsynced = False
        self._synced_at = 0.0

    def read(self) -> list[TrialResult]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        out: list[TrialResult] = []
        lines = data.split(b"\n")
        complete = lines[:-1]  # the part after the last newline is torn or empty
        for i, raw in enumerate(complete, 1):
            if not raw.strip():
                continue
            try:
                out.append(TrialResult.model_validate_json(raw))
            except ValidationError as err:
                raise ConfigError(f"not a trial record: {err.errors()[0]['msg']}",
                                  file=str(self.path), line=i) from None
        return out

    def repair(self) -> None:
        """Cut a torn last line so the next append starts on a fresh line."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with self.path.open("r+b") as f:
                f.truncate(end)

    def append(self, result: TrialResult) -> None:
        line = _line(result)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._synced_at = time.monotonic()
        os.write(self._fd, line)
        self._unsynced = True
        now = time.monotonic()
        if now - self._synced_at >= self.fsync_interval_s:
            self.sync(now)

    def rewrite(self, results: Sequence[TrialResult]) -> bool:
        """Make the file hold exactly ``results``' lines, in that order; whether it changed.

        Replaced atomically (a temporary file, fsynced, renamed over it): a crash leaves
        the old file or the new one, each made of whole lines. Call it closed."""
        data = b"".join(_line(r) for r in results)
        if self.path.exists() and self.path.read_bytes() == data:
            return False
        write_atomic(self.path, data)
        return True

    def sync(self, now: float | None = None) -> None:
        """Flush what was appended to the disk itself."""
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False
            self._synced_at = time.monotonic() if now is None else now

    def close(self) -> None:
        """Sync and close; a later ``append`` opens the file again."""
        if self._fd is not None:
            try:
                self.sync()
            finally:
                os.close(self._fd)
                self._fd = None


_ON = {"budgets"}


def _line(result: TrialResult) -> bytes:
    # ``budgets`` only when off: a budgeted run's lines stay those of the format before it
    row = result.model_dump(mode="json", exclude=_ON if result.budgets == "on" else None)
    return (json.dumps(row, separators=(",", ":"),
                       ensure_ascii=False) + "\n").encode()
