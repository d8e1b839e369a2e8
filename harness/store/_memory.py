"""An in-memory recorder: the same contract as SQLite, for tests and throwaway runs."""

from __future__ import annotations

from typing import Any

from harness.errors import LogError
from harness.store._recorder import Record


class MemoryRecorder:
    def __init__(self) -> None:
        self._runs: dict[str, list[Record]] = {}
        self.meta: dict[str, dict[str, Any]] = {}

    def open_run(self, run_id: str, meta: dict[str, Any] | None = None) -> None:
        self._runs.setdefault(run_id, [])
        self.meta.setdefault(run_id, dict(meta or {}))

    def append(self, run_id: str, seq: int, kind: str, payload: str) -> None:
        records = self._runs.setdefault(run_id, [])
        if seq != len(records):
            raise LogError(f"run {run_id!r}: append of #{seq} but the log holds {len(records)}")
        records.append(Record(seq, kind, payload))

    def flush(self) -> None:
        return None

    def read_run(self, run_id: str) -> list[Record]:
        return list(self._runs.get(run_id, []))

    def run_ids(self) -> list[str]:
        return sorted(self._runs)

    def close(self) -> None:
        return None
