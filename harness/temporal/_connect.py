"""Reaching the server: within a bounded time, or a one-line error naming the address;
with the converter that keeps large payloads in the shared store by reference."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from harness.errors import UsageError
from harness.temporal._payloads import check_store, converter, default_store


async def connect(address: str, namespace: str, timeout_s: float = 10.0, *,
                  payload_store: Path | None = None) -> Client:
    """A client of ``namespace`` at ``address``; an unreachable server or an unknown
    namespace is a ``UsageError`` after at most ``timeout_s`` seconds, never a hang.
    Its payloads over the threshold go to ``payload_store`` (default: the per-user
    cache folder), which every process of a run must share; workers made on the client
    use its converter too."""
    if not address or ":" not in address:
        raise UsageError(f"--temporal-address {address!r}: expected HOST:PORT")
    store = check_store(payload_store or default_store())
    try:
        client = await asyncio.wait_for(Client.connect(
            address, namespace=namespace, data_converter=converter(store)), timeout_s)
        await asyncio.wait_for(client.workflow_service.get_system_info(
            GetSystemInfoRequest()), timeout_s)
    except TimeoutError:
        raise UsageError(f"cannot reach the Temporal server at {address}: no answer within "
                         f"{timeout_s:g}s") from None
    except Exception as err:  # refused, unresolvable, TLS: the SDK's own words, one line
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(f"cannot reach the Temporal server at {address}: {detail}") from None
    return client

