"""What the bundled worlds share beyond ``harness.World``: id and path helpers.

The base class, its state models and the idempotency ledger live in the harness
(``harness.World``), since every world a user writes subclasses the same class.
"""

from __future__ import annotations

from harness._world import (
    JSON,
    Data,
    Input,
    Latency,
    Refusal,
    World,
    WorldSettings,
    canonical,
)

__test__ = False

__all__ = ["JSON", "Data", "Input", "Latency", "Refusal", "World", "WorldSettings", "canonical",
           "next_id", "normalise_path"]


def next_id(prefix: str, taken: set[str] | list[str]) -> str:
    """``PREFIX-0001``, ``PREFIX-0002``... the first one not yet taken."""
    used = set(taken)
    n = len(used) + 1
    while f"{prefix}-{n:04d}" in used:
        n += 1
    return f"{prefix}-{n:04d}"


def normalise_path(path: str) -> str:
    """Paths as a model might write them (``./src/a.py``, ``/src/a.py``) to ``src/a.py``."""
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")
