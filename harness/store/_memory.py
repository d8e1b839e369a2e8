"""An in-memory recorder: the same contract as SQLite, for tests and throwaway runs."""

from __future__ import annotations

from typing import Any

from harness.errors import LogError
from harness.store._recorder import Record


class MemoryRecorder:
    def __init__(self) -> None:
        self._runs: dict[str, list[Record]] = {}
        self._buffer: list[tuple[str, Record]] = []
        self._next: dict[str, int] = {}
        self.meta: dict[str, dict[str, Any]] = {}

    def open_run(self, run_id: str, meta: dict[str, Any] | None = None) -> None:
        self._runs.setdefault(run_id, [])
        self.meta.setdefault(run_id, dict(meta or {}))

    def append(self, run_id: str, seq: int, kind: str, payload: str) -> None:
        expected = self._next.get(run_id, len(self._runs.get(run_id, [])))
        if seq != expected:
            raise LogError(f"run {run_id!r}: append of #{seq} but the next record is #{expected}")
        self._buffer.append((run_id, Record(seq, kind, payload)))
        self._next[run_id] = seq + 1

    def flush(self, run_id: str | None = None) -> None:
        keep: list[tuple[str, Record]] = []
        for rid, rec in self._buffer:
            if run_id is None or rid == run_id:
                self._runs.setdefault(rid, []).append(rec)
            else:
                keep.append((rid, rec))
        self._buffer = keep

    def discard(self, run_id: str) -> None:
        """Drop one run's unflushed records (an in-process crash of that run alone)."""
        self._buffer = [b for b in self._buffer if b[0] != run_id]
        self._next.pop(run_id, None)

    def abandon(self) -> None:
        self._buffer = []
        self._next = {}

    def read_run(self, run_id: str) -> list[Record]:
        """The committed records only: what a process starting afresh would find."""
        return list(self._runs.get(run_id, []))

    def run_ids(self) -> list[str]:
        return sorted(self._runs)

    def close(self) -> None:
        return None
