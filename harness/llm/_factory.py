"""Choosing a backend by name: one client, the transport underneath decides the rest."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import httpx2

from harness.errors import UsageError
from harness.llm._anthropic import DEFAULT_TIMEOUT_S, AnthropicClient
from harness.llm._cassette import RecordingTransport, ReplayTransport
from harness.llm._faults import ChaosTransport, LLMFaultPlan
from harness.llm._live import LiveTransport
from harness.llm._profiles import ModelProfile
from harness.llm._reference import ReferenceSolution
from harness.llm._simulated import SimulatedTransport
from harness.protocols import Clock

TransportName = Literal["simulated", "replay", "live"]
TRANSPORTS: tuple[str, ...] = ("simulated", "replay", "live")
LIVE_KEY_MISSING = ("the live transport needs an API key: set ANTHROPIC_API_KEY, or run "
                    "offline on the simulated or replay transport")


def make_client(
    transport: TransportName = "simulated",
    *,
    reference: ReferenceSolution | None = None,
    seed: int = 0,
    clock: Clock | None = None,
    profiles: Mapping[str, ModelProfile] | None = None,
    cassette: str | os.PathLike[str] | None = None,
    record_to: str | os.PathLike[str] | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    faults: LLMFaultPlan | None = None,
    fault_seed: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> AnthropicClient:
    """Build the ``ModelClient`` for a named backend.

    - ``simulated`` needs ``reference`` (and uses ``seed``, ``clock``, ``profiles``);
    - ``replay`` needs ``cassette`` (and spends recorded simulated latency on ``clock``);
    - ``live`` needs ``api_key`` or ``ANTHROPIC_API_KEY`` (``base_url`` or
      ``ANTHROPIC_BASE_URL`` optional) and is refused while live calls are off.

    ``record_to`` writes every answered call to a cassette (any backend). ``faults``
    wraps the result in a ``ChaosTransport`` (outermost, so faults are not recorded
    and a replay under the same plan fails the same way); read what fired from
    ``client.transport.fired``.
    """
    inner: httpx2.AsyncBaseTransport
    key: str | None = None
    url: str | None = None
    if transport == "simulated":
        if reference is None:
            raise UsageError("the simulated transport needs the scenario's reference solution")
        inner = SimulatedTransport(reference, seed=seed, clock=clock, profiles=profiles)
    elif transport == "replay":
        if cassette is None:
            raise UsageError("the replay transport needs a cassette path")
        inner = ReplayTransport(cassette, clock=clock)
    elif transport == "live":
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise UsageError(LIVE_KEY_MISSING)
        url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        inner = LiveTransport()
    else:
        raise UsageError(f"unknown transport {transport!r}; choose one of {', '.join(TRANSPORTS)}")
    if record_to is not None:
        inner = RecordingTransport(inner, record_to, source=transport)
    if faults is not None:
        inner = ChaosTransport(inner, faults, seed if fault_seed is None else fault_seed,
                               clock=clock)
    if key is not None:
        return AnthropicClient(inner, api_key=key, base_url=url, default_timeout_s=timeout_s)
    # offline: one SDK client per event loop serves every trial's transport (see AnthropicClient)
    return AnthropicClient(inner, default_timeout_s=timeout_s, shared=True)
