"""``trials.jsonl``: one line per finished trial, appended whole or not at all.

Each line is written with a single ``write`` on a file opened for appending, then
flushed to disk, so a process killed mid-suite leaves at worst one torn final
line. Reading tolerates exactly that: a last line without its newline is dropped
(and cut off before the next append), and that trial simply runs again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from harness.errors import ConfigError
from harness.runner._result import TrialResult


class TrialsFile:
    def __init__(self, path: Path) -> None:
        self.path = path

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
        line = (json.dumps(result.model_dump(mode="json"), separators=(",", ":"),
                           ensure_ascii=False) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
