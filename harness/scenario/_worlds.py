"""The fake worlds a scenario can name, and the one shape the runner needs of them."""

from __future__ import annotations

from typing import Any, Protocol

from harness.core import ToolInfo
from harness.errors import UsageError
from harness.tools import Tool


class World(Protocol):
    def tools(self) -> list[Tool]: ...

    def snapshot(self) -> dict[str, Any]: ...


def world_kinds() -> dict[str, type[Any]]:
    from fakes.worlds import WORLDS

    return dict(WORLDS)


def make_world(kind: str, state: dict[str, Any]) -> World:
    """Build a world from its initial state (a pydantic ``ValidationError`` if invalid)."""
    kinds = world_kinds()
    cls = kinds.get(kind)
    if cls is None:
        raise UsageError(f"unknown world {kind!r}; choose one of {', '.join(sorted(kinds))}")
    world: World = cls(state)
    return world


def world_tools(kind: str, state: dict[str, Any]) -> list[ToolInfo]:
    return [t.info() for t in make_world(kind, state).tools()]
