"""Case files: one shrunk, replayable fuzzing failure as readable JSON.

A case holds everything that decides the trial: the scenario file (and a hash of
its bytes, to warn when it has changed since), the model override, the trial
seed and the fault schedule, plus the violation it showed and the harness
version that found it. Field order is the file format. Cases are written
atomically (a temporary file renamed into place), so a crash never leaves half
a case behind.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness._files import read_regular, write_atomic
from harness.errors import ConfigError
from harness.faults import FaultSchedule
from harness.scenario import MAX_FILE_BYTES

CASE_FORMAT = "harness-fuzz-case"
CASE_VERSION = 1
"""Bumped when a field changes meaning; a reader refuses versions it does not know."""
MAX_CASE_BYTES = 1 << 20
"""A case is a schedule and a message, a few kilobytes: 1 MiB is far beyond any of them."""


class CaseViolation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(min_length=1)
    message: str


class FuzzCase(BaseModel):
    """One replayable fuzzing failure. ``harness replay CASE`` runs exactly this trial."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["harness-fuzz-case"] = "harness-fuzz-case"
    version: Literal[1] = 1
    harness_version: str
    scenario: str = Field(min_length=1)
    """The scenario file, as given to ``harness fuzz`` (relative to where it ran)."""
    scenario_name: str
    scenario_sha256: str | None = None
    model: str | None = None
    """The model every role ran on; ``None`` = as the scenario configures."""
    fuzz_seed: int
    """``harness fuzz --seed``: the seed of the search that found the case."""
    trial_seed: int
    """The seed of the trial itself (simulated model, retry jitter)."""
    schedule: FaultSchedule
    violation: CaseViolation
    examples: int = Field(0, ge=0)
    """Examples the search ran until it found the violation (0: the fault-free trial)."""
    trials: int = Field(0, ge=0)
    """Trials run in all, shrinking included."""


def harness_version() -> str:
    try:
        return metadata.version("harness")
    except metadata.PackageNotFoundError:
        return "unknown"


def file_sha256(path: Path) -> str | None:
    """The hash of a scenario file, read as the loader reads it (never a FIFO, never huge)."""
    try:
        return hashlib.sha256(read_regular(path, limit=MAX_FILE_BYTES, what="a scenario file")
                              ).hexdigest()
    except ConfigError:
        return None


def case_path(out: Path, case: FuzzCase) -> Path:
    return out / f"{case.scenario_name}-{case.violation.kind}-seed{case.fuzz_seed}.json"


def write_case(case: FuzzCase, out: Path) -> Path:
    """Write ``case`` under ``out`` atomically; return its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = case_path(out, case)
    text = json.dumps(case.model_dump(mode="json", exclude_defaults=False), indent=2) + "\n"
    return write_atomic(path, text)


def load_case(path: str | Path) -> FuzzCase:
    """Read a case file; a bad one is a ``ConfigError`` naming the file, field and line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("no such case file", file=str(path))
    raw = read_regular(path, limit=MAX_CASE_BYTES, what="a case file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"cannot read the case file: {err}", file=str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"not JSON: {err.msg}", file=str(path), line=err.lineno) from None
    if not isinstance(data, dict):
        raise ConfigError("a case file is a JSON object", file=str(path), line=1)
    if data.get("format") != CASE_FORMAT:
        raise ConfigError(f"not a fuzzing case (format should be {CASE_FORMAT!r})",
                          file=str(path), field="format")
    try:
        return FuzzCase.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        msg = "required field is missing" if first["type"] == "missing" else first["msg"]
        raise ConfigError(msg, file=str(path), field=loc or None) from None
