"""The exception tree. Everything the package raises on purpose lives here.

    HarnessError
    ├── RuntimeFault            the agent runtime broke one of its own rules
    │   ├── IllegalTransition   an event the transition table does not allow
    │   ├── LimitExceeded       a budget check refused an effect (caught inside the core)
    │   └── TerminalRun         an event fed to a run that has already finished
    ├── EffectError             the world refused: an effect could not be carried out
    │   ├── ModelError          an LLM call failed (status, kind, retry-after)
    │   ├── ToolError           a tool raised or returned garbage
    │   └── ApprovalTimeout     nobody answered an escalation in time
    ├── LogError                the durable event log cannot be trusted
    │   ├── LogDecodeError      a stored event will not decode (names run and seq)
    │   ├── LogSchemaError      the file was written by an incompatible version
    │   └── PayloadStoreError   a payload kept by reference is missing or corrupt
    └── UsageError              the caller misused the API or gave bad input
        └── ConfigError         bad configuration or scenario (names file, field, line)

"The network failed" (EffectError) is kept apart from "you misused the API"
(UsageError): the first is something a chaos test injects and the runtime must
survive; the second is a bug in the caller and should stop the run at once.
Lower-layer exceptions (sqlite3, anthropic, httpx2) are translated at the module
that talks to them; nothing above that module catches them.
"""

from __future__ import annotations

from typing import Any


class HarnessError(Exception):
    """Root of every error the package raises on purpose."""


class RuntimeFault(HarnessError):
    """The runtime broke one of its own invariants: a bug, never a world fault."""


class IllegalTransition(RuntimeFault):
    def __init__(self, state: str, event_kind: str, target: str | None = None) -> None:
        self.state = state
        self.event_kind = event_kind
        self.target = target
        if target is None:
            msg = f"event {event_kind!r} is not allowed in state {state!r}"
        else:
            msg = f"event {event_kind!r} may not move state {state!r} to {target!r}"
        super().__init__(msg)


class LimitExceeded(RuntimeFault):
    def __init__(self, limit: str, observed: float, maximum: float) -> None:
        self.limit = limit
        self.observed = observed
        self.maximum = maximum
        super().__init__(f"budget {limit!r} exhausted: needs {observed:g}, limit {maximum:g}")


class TerminalRun(RuntimeFault):
    def __init__(self, state: str, event_kind: str) -> None:
        self.state = state
        self.event_kind = event_kind
        super().__init__(f"run already finished in state {state!r}; got event {event_kind!r}")


class EffectError(HarnessError):
    """An effect could not be carried out by the world (model, tool, human)."""


class ModelError(EffectError):
    """An LLM call failed. ``kind`` is one of the names in ``harness.core.MODEL_ERROR_KINDS``."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        usage: Any = None,
    ) -> None:
        self.kind = kind
        self.status = status
        self.retry_after_s = retry_after_s
        self.message = message
        self.usage = usage
        """The ``harness.core.Usage`` a reply that arrived but could not be used was billed
        for (a malformed reply still costs its tokens); ``None`` when nothing was billed."""
        super().__init__(f"{kind}: {message}")


class ToolError(EffectError):
    def __init__(self, tool: str, message: str, *, kind: str = "tool_error") -> None:
        self.tool = tool
        self.kind = kind
        super().__init__(f"tool {tool!r} failed: {message}")


class ApprovalTimeout(EffectError):
    pass


class LogError(HarnessError):
    """The durable log cannot be trusted; resuming would silently lose state."""


class LogDecodeError(LogError):
    def __init__(self, run_id: str, seq: int, detail: str) -> None:
        self.run_id = run_id
        self.seq = seq
        super().__init__(f"run {run_id!r}: event #{seq} cannot be decoded: {detail}")


class LogSchemaError(LogError):
    pass


class PayloadStoreError(LogError):
    """A payload the Temporal history holds by reference cannot be read back whole from
    the store (names the store and the digest): decoding it to anything would be a
    silently wrong value."""


class UsageError(HarnessError):
    """The caller misused the API or gave bad input."""


class ConfigError(UsageError):
    def __init__(
        self, message: str, *, file: str | None = None, field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file = file
        self.field = field
        self.line = line
        where = ":".join(str(p) for p in (file, line) if p is not None)
        parts = [p for p in (where, f"field {field!r}" if field else None) if p]
        prefix = (", ".join(parts) + ": ") if parts else ""
        super().__init__(prefix + message)
