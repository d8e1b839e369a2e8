"""Worlds: stateful fake tool environments an agent (scripted or a real model) can use.

Each world is built from a scenario's initial world state (validated; unknown keys
are errors), exposes ``tools()`` for a ``ToolRegistry`` and ``snapshot()`` for goal
checks, honours idempotency keys on every side-effecting tool, and counts real
executions per tool in ``executions``. Each subclasses ``harness.World`` and is
registered under the ``harness.worlds`` entry points (see ``pyproject.toml``), which is
how scenarios find them: the harness itself never imports this package.

    ======== ==================== ================================================
    kind     class                tools (S = side-effecting, P = affects production)
    ======== ==================== ================================================
    support  ``SupportWorld``     lookup_order, list_orders, read_inbox,
                                  refund_order S, refund_order_large S P (only with
                                  ``settings.refund_approval_threshold``),
                                  send_email S, update_order_status S
    repo     ``RepoWorld``        list_files, read_file, view_diff,
                                  add_review_comment S, submit_review S,
                                  write_file S, apply_patch S, run_tests,
                                  merge_diff S, deploy S P
    research ``ResearchWorld``    search, fetch, save_note S
    ======== ==================== ================================================
"""

from collections.abc import Callable, Mapping
from typing import Any, cast

from fakes.worlds._base import Refusal, World, WorldSettings, canonical
from fakes.worlds._patch import PatchError, apply_patch, parse_patch
from fakes.worlds._repo import RepoSettings, RepoState, RepoWorld
from fakes.worlds._research import ResearchSettings, ResearchState, ResearchWorld
from fakes.worlds._support import SupportSettings, SupportState, SupportWorld

__test__ = False

WORLDS: dict[str, type[World]] = {
    "support": SupportWorld,
    "repo": RepoWorld,
    "research": ResearchWorld,
}


def make_world(kind: str, initial: Mapping[str, Any] | None = None) -> World:
    """The world of ``kind`` (``support``, ``repo``, ``research``) built from ``initial``.

    Every class in ``WORLDS`` is called as ``cls(initial_state)``.
    """
    try:
        cls = cast(Callable[[Mapping[str, Any] | None], World], WORLDS[kind])
    except KeyError:
        raise ValueError(f"unknown world kind {kind!r}; known: {sorted(WORLDS)}") from None
    return cls(initial)


__all__ = [
    "WORLDS",
    "PatchError",
    "Refusal",
    "RepoSettings",
    "RepoState",
    "RepoWorld",
    "ResearchSettings",
    "ResearchState",
    "ResearchWorld",
    "SupportSettings",
    "SupportState",
    "SupportWorld",
    "World",
    "WorldSettings",
    "apply_patch",
    "canonical",
    "make_world",
    "parse_patch",
]
