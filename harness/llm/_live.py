"""The switch that keeps paid, networked model calls out of test suites.

Every live transport calls ``check_live_calls_allowed()`` before each request.
Left at its default (``None``), the switch allows live calls except while pytest
is running a test, so an accidental live client in a unit test fails loudly
instead of spending money; a test (or the pytest plugin's ``live`` marker) turns
it on explicitly with ``live_calls_allowed(True)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2

from harness.errors import UsageError

_allow: bool | None = None


class LiveCallsForbidden(UsageError):
    """A live model call was attempted while live calls are switched off."""


def set_live_calls_allowed(allowed: bool | None) -> None:
    """Switch live calls on (``True``), off (``False``) or back to the default (``None``)."""
    global _allow
    _allow = allowed


def live_calls_allowed_now() -> bool:
    if _allow is not None:
        return _allow
    return "PYTEST_CURRENT_TEST" not in os.environ


@contextmanager
def live_calls_allowed(allowed: bool = True) -> Iterator[None]:
    """Temporarily set the switch; restores the previous setting on exit."""
    global _allow
    previous = _allow
    _allow = allowed
    try:
        yield
    finally:
        _allow = previous


def check_live_calls_allowed() -> None:
    """Raise ``LiveCallsForbidden`` unless live model calls are switched on."""
    if not live_calls_allowed_now():
        raise LiveCallsForbidden(
            "live model calls are disabled (running under pytest or switched off); "
            "use harness.llm.live_calls_allowed(True), a `live` test marker or --live "
            "to allow them, or use the 'simulated' or 'replay' transport"
        )


class LiveTransport(httpx2.AsyncBaseTransport):
    """The network, behind the live-call switch: every request checks it first."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self.inner = inner if inner is not None else httpx2.AsyncHTTPTransport()
        self.calls = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        check_live_calls_allowed()
        self.calls += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
