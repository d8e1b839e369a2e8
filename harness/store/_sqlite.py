"""The embedded default log: one SQLite file in WAL mode, one row per record.

Only ``INSERT`` ever touches the ``events`` table, so the bytes written per step
do not grow with the run (no state is rewritten). The file carries a schema
version that is checked on open; a file from another version is refused rather
than misread. ``synchronous=NORMAL`` in WAL mode survives a killed process (the
crash tests kill it with SIGKILL); pass ``synchronous="FULL"`` to also survive
power loss at the cost of an fsync per commit.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from harness.errors import LogError, LogSchemaError
from harness.store._recorder import SCHEMA_VERSION, Record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
"""


_INSERT = "INSERT INTO events VALUES (?, ?, ?, ?)"
#: Up to this many records go in as one multi-row ``INSERT``: one autocommitted
#: statement (atomic on its own) instead of BEGIN, the inserts and COMMIT.
_MAX_ROWS_PER_STATEMENT = 64
_INSERTS = [""] + [_INSERT + ", (?, ?, ?, ?)" * (k - 1)
                   for k in range(1, _MAX_ROWS_PER_STATEMENT + 1)]


class SQLiteRecorder:
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=30000")  # worker processes share the file
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as err:
            raise LogError(f"{self.path}: not a usable event log: {err}") from None
        self._buffer: list[tuple[str, int, str, str]] = []
        self._next: dict[str, int] = {}

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise LogSchemaError(
                f"{self.path}: event log schema version {row[0]}, this harness reads "
                f"version {SCHEMA_VERSION}"
            )

    def open_run(self, run_id: str, meta: dict[str, Any] | None = None) -> None:
        self._db.execute("INSERT OR IGNORE INTO runs VALUES (?, ?)",
                         (run_id, json.dumps(meta or {}, sort_keys=True)))
        row = self._db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM events WHERE run_id=?",
                               (run_id,)).fetchone()
        self._next[run_id] = int(row[0])

    def append(self, run_id: str, seq: int, kind: str, payload: str) -> None:
        expected = self._next.get(run_id)
        if expected is None:
            self.open_run(run_id)
            expected = self._next[run_id]
        if seq != expected:
            raise LogError(f"run {run_id!r}: append of #{seq} but the next record is #{expected}")
        self._buffer.append((run_id, seq, kind, payload))
        self._next[run_id] = seq + 1

    def flush(self, run_id: str | None = None) -> None:
        """Commit what was appended (every run's, or ``run_id``'s alone): one autocommitted
        INSERT of every record (the common case: one statement instead of three), one
        transaction for a long backlog."""
        buf = self._buffer
        if not buf:
            return
        if run_id is None:
            self._buffer = []
        else:
            buf, self._buffer = _split(buf, run_id)
            if not buf:
                return
        try:
            n = len(buf)
            if n == 1:
                self._db.execute(_INSERT, buf[0])
            elif n <= _MAX_ROWS_PER_STATEMENT:
                self._db.execute(_INSERTS[n], [v for row in buf for v in row])
            else:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany(_INSERT, buf)
        except sqlite3.IntegrityError as err:
            raise LogError(f"{self.path}: another writer appended to the same run: {err}") from None

    def read_run(self, run_id: str) -> list[Record]:
        self.flush(run_id)
        rows = self._db.execute(
            "SELECT seq, kind, payload FROM events WHERE run_id=? ORDER BY seq", (run_id,)
        ).fetchall()
        return [Record(int(s), str(k), str(p)) for s, k, p in rows]

    def run_ids(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT run_id FROM runs ORDER BY run_id")]

    def run_meta(self, run_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT meta FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def close(self) -> None:
        self.flush()
        self._db.close()

    def discard(self, run_id: str) -> None:
        """Drop one run's unflushed records (an in-process crash of that run alone)."""
        self._buffer = [b for b in self._buffer if b[0] != run_id]
        self.open_run(run_id)

    def abandon(self) -> None:
        self._buffer = []
        self._db.close()


def _split(buffer: list[tuple[str, int, str, str]], run_id: str
           ) -> tuple[list[tuple[str, int, str, str]], list[tuple[str, int, str, str]]]:
    """(run_id's records, everyone else's), each in append order."""
    mine = [b for b in buffer if b[0] == run_id]
    if len(mine) == len(buffer):
        return mine, []
    return mine, [b for b in buffer if b[0] != run_id]
