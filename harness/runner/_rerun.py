"""A trial cut off by a killed run, run again under its own log key and checked against it.

The killed process left a prefix of the trial's log (what it had committed); its world
died with it, so the trial runs again from its start. On a deterministic transport
(simulated, replay) that re-run is the same trial and writes the same records, so it
runs under the same key instead of a fresh one: each record it commits that the first
attempt had committed is compared with the stored one, and only the records past that
prefix are appended. The log stays append-only, the trial's line names the same log as
an uninterrupted run's would (so a resumed run's ``trials.jsonl`` is that run's, byte
for byte), and a re-run that departs from its first attempt (a determinism bug) cannot
pass unnoticed: it fails the trial, naming the first record that differs.
"""

from __future__ import annotations

from typing import Any

from harness.errors import LogError
from harness.store import Record, Recorder

#: Transports on which a trial run again is the same trial, record for record.
DETERMINISTIC_TRANSPORTS = frozenset({"simulated", "replay"})


class RerunDiverged(LogError):
    """A re-run trial wrote something else than its cut-off attempt had logged."""


class CheckedRerun:
    """A recorder for one trial's re-run: ``key``'s records are checked against ``stored``
    up to its length and appended after it; every other key goes straight through."""

    def __init__(self, inner: Recorder, key: str, stored: list[Record]) -> None:
        self.inner = inner
        self.key = key
        self.stored = stored
        self._committed: list[Record] = []
        """What this attempt has committed: a prefix of ``stored``, then what it appended."""
        self._pending: list[Record] = []

    def open_run(self, run_id: str, meta: dict[str, Any] | None = None) -> None:
        if run_id != self.key:  # the key's run exists already: the first attempt opened it
            self.inner.open_run(run_id, meta)

    def append(self, run_id: str, seq: int, kind: str, payload: str) -> None:
        if run_id != self.key:
            self.inner.append(run_id, seq, kind, payload)
            return
        expected = len(self._committed) + len(self._pending)
        if seq != expected:
            raise LogError(f"run {run_id!r}: append of #{seq} but the next record is #{expected}")
        self._pending.append(Record(seq, kind, payload))

    def flush(self, run_id: str | None = None) -> None:
        if run_id is not None and run_id != self.key:
            self.inner.flush(run_id)
            return
        pending, self._pending = self._pending, []
        for rec in pending:
            if rec.seq < len(self.stored):
                if rec != self.stored[rec.seq]:
                    raise RerunDiverged(
                        f"run {self.key!r}: re-run after a cut-off wrote another record #"
                        f"{rec.seq} ({rec.kind}) than its first attempt logged "
                        f"({self.stored[rec.seq].kind}): the trial is not deterministic")
            else:
                self.inner.append(self.key, rec.seq, rec.kind, rec.payload)
        self._committed += pending
        self.inner.flush(run_id)

    def shortfall(self) -> str | None:
        """Why the finished re-run is not its first attempt continued, if it is not: it
        ended before reaching the end of what that attempt had logged."""
        if len(self._committed) < len(self.stored):
            return (f"RerunDiverged: run {self.key!r}: re-run after a cut-off ended at record "
                    f"#{len(self._committed)}, its first attempt had logged "
                    f"{len(self.stored)}: the trial is not deterministic")
        return None

    def discard(self, run_id: str) -> None:
        if run_id == self.key:
            self._pending = []
        else:
            self.inner.discard(run_id)

    def abandon(self) -> None:
        self._pending = []

    def read_run(self, run_id: str) -> list[Record]:
        if run_id != self.key:
            return self.inner.read_run(run_id)
        self.flush()
        return list(self._committed)

    def run_ids(self) -> list[str]:
        return self.inner.run_ids()

    def close(self) -> None:
        self.flush()
