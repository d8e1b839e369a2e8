"""A tool that belongs to no world: plain Python under ``@harness.tool``.

Registered by entry point as ``sla_policy`` (see ``pyproject.toml``), so a scenario
adds it with ``tools: [sla_policy]``; ``ticket_desk.tools:sla_policy`` names it too.
Its typed parameters become the input schema the model sees.
"""

from __future__ import annotations

from typing import Literal

import harness

#: Hours within which a ticket of each priority must be answered, and whether the
#: on-call engineer is paged for it.
SLA = {
    "P1": (1, True),
    "P2": (4, False),
    "P3": (24, False),
    "P4": (72, False),
}


@harness.tool
def sla_policy(priority: Literal["P1", "P2", "P3", "P4"]) -> dict[str, object]:
    """The desk's service levels for a priority: hours to first response, and whether the
    on-call engineer must be paged."""
    hours, page = SLA[priority]
    return {"priority": priority, "respond_within_hours": hours, "page_oncall": page}
