"""How much the offline transports cost per model call, against the SDK's own floor.

All three rows send the same requests through the same client (``AnthropicClient``:
the real ``anthropic`` SDK, ``max_retries=0``); only the ``httpx2`` transport under
it differs:

- floor: ``httpx2.MockTransport`` returning one constant, pre-encoded reply;
- simulated: ``SimulatedTransport`` answering from a reference solution;
- replay: ``ReplayTransport`` answering from a cassette of those same calls.

The requests come from real plan/act/reflect/verify episodes, so contexts grow the
way they do in a run. Prints a table and, last, one line:
``llm_transport: simulated/floor=X replay/floor=Y`` (time per call over the floor's).

Run: ``.venv/bin/python bench/llm_transport.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from harness.core._llm_types import ModelRequest, ModelResponse
from harness.llm import (
    AnthropicClient,
    ReferenceSolution,
    ReplayTransport,
    SimulatedTransport,
    make_client,
    run_episode,
)

REFERENCE = ReferenceSolution.model_validate({
    "steps": [
        {"id": "s1", "role": "research", "instruction": "Look up order 42 and its customer.",
         "tool_calls": [{"tool": "get_order", "input": {"order_id": "42"}},
                        {"tool": "get_customer", "input": {"customer_id": "c7"}}]},
        {"id": "s2", "role": "support", "instruction": "Refund order 42 in full.",
         "depends_on": ["s1"],
         "tool_calls": [{"tool": "refund", "input": {"order_id": "42", "amount": 10}}]},
        {"id": "s3", "role": "communication", "instruction": "Tell the customer.",
         "depends_on": ["s2"],
         "tool_calls": [{"tool": "send_email", "input": {"to": "c7", "subject": "Refund"}}]},
    ],
    "answer": "Refunded $10 for order 42 and emailed customer c7",
})
MODELS = ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-5")
SEED = 1


class _Capture:
    """A ModelClient that records every request it forwards."""

    def __init__(self, inner: AnthropicClient) -> None:
        self.inner = inner
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest, *, timeout_s: float | None = None) -> ModelResponse:
        self.requests.append(request)
        return await self.inner.complete(request, timeout_s=timeout_s)


async def _workload(cassette: Path) -> tuple[list[ModelRequest], bytes]:
    """Requests from real episodes (recorded to ``cassette``) and one typical reply body."""
    capture = _Capture(make_client("simulated", reference=REFERENCE, seed=SEED,
                                   record_to=cassette))
    for model in MODELS:
        for trial in range(3):
            await run_episode(capture, REFERENCE, model=model, task=f"Complete task #{trial}.")
    capture.inner.transport.save()  # type: ignore[attr-defined]
    first = json.loads(cassette.read_text())["interactions"][1]["response"]["body"]
    return capture.requests, json.dumps(first).encode()


async def _time(client: AnthropicClient, requests: list[ModelRequest], rounds: int) -> float:
    """Best-of-``rounds`` seconds per call over the whole request list."""
    for request in requests[:20]:
        await client.complete(request)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for request in requests:
            await client.complete(request)
        best = min(best, (time.perf_counter() - start) / len(requests))
    return best


async def main(rounds: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cassette = Path(tmp) / "bench.json"
        requests, constant = await _workload(cassette)

        def floor_handler(request: httpx2.Request) -> httpx2.Response:
            return httpx2.Response(200, content=constant,
                                   headers={"content-type": "application/json"})

        clients: dict[str, AnthropicClient] = {
            "floor (MockTransport, constant reply)": AnthropicClient(
                httpx2.MockTransport(floor_handler)),
            "simulated": AnthropicClient(SimulatedTransport(REFERENCE, seed=SEED)),
            "replay": AnthropicClient(ReplayTransport(cassette)),
        }
        # Replay serves repeats in recorded order and then the last one again, so the
        # warm-up and every round see the same answers as the recording.
        timings: dict[str, float] = {}
        for name, client in clients.items():
            timings[name] = await _time(client, requests, rounds)
            await client.aclose()

    floor = timings["floor (MockTransport, constant reply)"]
    mean_in = sum(len(json.dumps(list(r.messages))) for r in requests) / len(requests)
    print(f"{len(requests)} requests from {3 * len(MODELS)} episodes, "
          f"mean messages JSON {mean_in:,.0f} B, best of {rounds} rounds\n")
    print(f"{'transport':<40} {'calls/s':>10} {'us/call':>10} {'x floor':>8}")
    for name, seconds in timings.items():
        print(f"{name:<40} {1 / seconds:>10,.0f} {seconds * 1e6:>10,.0f} {seconds / floor:>8.2f}")
    sim = timings["simulated"] / floor
    rep = timings["replay"] / floor
    print(f"\nllm_transport: simulated/floor={sim:.2f} replay/floor={rep:.2f}")
    return 0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="timed passes; the best is kept")
    return parser.parse_args(argv)


def _run() -> Any:
    args = _parse(sys.argv[1:])
    return asyncio.run(main(args.rounds))


if __name__ == "__main__":
    raise SystemExit(_run())
