"""The seams through which the runtime touches the world: one small protocol per kind of I/O.

The driver accepts any object with these methods, the way an HTTP client accepts
any transport. Real SDK clients, cassettes, simulators and test fakes all stand
behind the same four shapes, so a chaos wrapper can sit around any of them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from harness.core._llm_types import ModelRequest, ModelResponse


@runtime_checkable
class ModelClient(Protocol):
    """Answers one Messages API request.

    Raises ``harness.errors.ModelError`` (with ``kind`` from ``MODEL_ERROR_KINDS``) on
    failure; never retries on its own: the runtime owns retries and counts them.
    Simulated latency is spent with ``clock.sleep`` so virtual time advances.
    """

    async def complete(
        self, request: ModelRequest, *, timeout_s: float | None = None
    ) -> ModelResponse: ...


@runtime_checkable
class Clock(Protocol):
    """Real or virtual time. Nothing in the runtime reads time any other way."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class ToolCall(Protocol):
    name: str
    input: dict[str, Any]
    idempotency_key: str | None
