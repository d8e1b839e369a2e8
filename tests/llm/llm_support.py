"""Shared helpers for the LLM layer's tests: a small reference scenario and a stand-in API server.

A plain module (not conftest.py) so test files can import it by a name no other folder uses."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from harness.core._llm_types import ModelRequest
from harness.llm import ReferenceSolution, SimulatedTransport, canonical_from_body, profile_for
from harness.llm._canonical import hash_canonical

T = TypeVar("T")

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

TOOLS = tuple(
    {"name": n, "description": f"The {n} tool.", "input_schema": {"type": "object"}}
    for n in ("get_order", "get_customer", "refund", "send_email")
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def step_request(model: str = "claude-haiku-4-5", step: str = "s1", **kw: Any) -> ModelRequest:
    instruction = REFERENCE.step(step).instruction  # type: ignore[union-attr]
    fields: dict[str, Any] = {
        "model": model, "system": "You are a sub-agent.",
        "messages": ({"role": "user", "content": f"[step {step}] {instruction}"},),
        "tools": TOOLS, "max_tokens": 512,
    }
    fields.update(kw)
    return ModelRequest(**fields)


class StandIn:
    """A real HTTP server on 127.0.0.1 that answers like the simulator: the "live" API."""

    def __init__(self, reference: ReferenceSolution, seed: int) -> None:
        self.sim = SimulatedTransport(reference, seed=seed)
        self.headers_seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                outer.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                canonical = canonical_from_body(body)
                answer, _ = outer.sim.answer(canonical, hash_canonical(canonical),
                                             profile_for(body["model"]))
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", "req_standin")
                self.send_header("anthropic-organization-id", "org-secret-123")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
