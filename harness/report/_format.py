"""How the text reports spell numbers: one place, so the table, Markdown and JUnit agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pct(x: Any) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def usd(x: Any, places: int = 5) -> str:
    return "n/a" if x is None else f"${x:.{places}f}"


def num(x: Any, places: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{places}f}"


def interval(ci: Sequence[Any] | None, places: int = 2) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"[{ci[0]:.{places}f}, {ci[1]:.{places}f}]"


def completion(g: dict[str, Any]) -> str:
    return f"{pct(g['goal_completion_rate'])} {interval(g['goal_completion_ci'])}"


def pooled(by: dict[str, Any], *keep: str) -> bool:
    """Whether a group's key sets exactly the dimensions ``keep`` (scenario implies suite)."""
    want = set(keep) | ({"suite"} if "scenario" in keep else set())
    return {k for k, v in by.items() if v is not None} == want
