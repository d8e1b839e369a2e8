"""Which model-call failures are worth another attempt.

The runtime owns retries (the SDK runs with ``max_retries=0``); this table is the
documentation of the policy the transports are built to exercise, and the core
keeps its own copy. A test checks the two agree whenever both exist.

Retried: the server said "later" (429 rate limit, 529 overload, 5xx, 504) or the
wire failed on our side (timeouts, refused connections). Never retried: a spend
limit (waiting will not raise it), our own bad request, bad credentials, and a
reply we could not parse (the same request would most likely fail the same way,
and the runtime decides whether to re-ask).
"""

from __future__ import annotations

from harness.core._llm_types import MODEL_ERROR_KINDS
from harness.errors import UsageError

RETRYABLE: dict[str, bool] = {
    "rate_limited": True,
    "spend_limit": False,
    "overloaded": True,
    "server_error": True,
    "gateway_timeout": True,
    "timeout": True,
    "connect_error": True,
    "bad_request": False,
    "auth": False,
    "malformed_reply": False,
}

assert set(RETRYABLE) == set(MODEL_ERROR_KINDS), "RETRYABLE must cover MODEL_ERROR_KINDS exactly"


def retryable(kind: str) -> bool:
    """Whether a ``ModelError`` of this kind is worth another attempt."""
    try:
        return RETRYABLE[kind]
    except KeyError:
        raise UsageError(
            f"unknown model error kind {kind!r}; expected one of {', '.join(MODEL_ERROR_KINDS)}"
        ) from None
