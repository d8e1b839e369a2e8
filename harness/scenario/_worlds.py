"""Worlds by name: those installed packages registered, the bundled ones among them."""

from __future__ import annotations

from typing import Any

from harness._plugins import PluginError, registered, resolve
from harness._world import World
from harness.errors import UsageError


def world_kinds() -> dict[str, Any]:
    """Every registered world (the bundled ``support``, ``repo`` and ``research`` too)."""
    return {name: resolve("world", name) for name in sorted(registered("world"))}


def make_world(kind: str, state: dict[str, Any]) -> World:
    """Build a world from its initial state (a pydantic ``ValidationError`` if invalid).

    ``kind`` is a registered name or an import reference ``package.module:attribute``."""
    try:
        factory = resolve("world", kind)
    except PluginError as err:
        raise UsageError(str(err)) from None
    world = factory(state)
    if not isinstance(world, World):
        raise UsageError(f"world {kind!r} made {type(world).__name__}, not a harness.World")
    return world
