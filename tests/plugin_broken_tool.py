"""A tool whose input model cannot be built: importing this module fails, as a user's
would (``test_plugins`` names it from a scenario and expects exit 2, not a traceback)."""

from __future__ import annotations

import harness

__test__ = False


class Widget:
    """Not a type pydantic can validate or describe."""


@harness.tool
def adjust(widget: Widget) -> dict[str, str]:
    return {}
