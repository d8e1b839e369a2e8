"""The runner's fast paths keep their promises.

- offline clients share one SDK client per event loop, yet every call reaches its own
  client's transport, however many trials run at once;
- ``trials.jsonl`` syncs after every line when asked to, in batches by default, and
  always on close; every line is whole either way;
- the OTLP-JSON exporter's direct encoding writes exactly ``json.dumps`` of the span
  dictionary it documents;
- a tool declared again (a world's closures, per trial) resolves its input model once;
- a bench profile (``SuiteOptions.profiles``) is used, recorded in ``run.json``, and a
  perfect model makes exactly the reference's calls;
- workers are forked only from a process with no other thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx2
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status, StatusCode, set_span_in_context
from pydantic import BaseModel

from harness.core._llm_types import ModelRequest
from harness.llm import PROFILES, AnthropicClient, make_client
from harness.llm._anthropic import _SHARED
from harness.llm._wire import message_body
from harness.runner import SuiteOptions, TrialResult, run_suite
from harness.runner import _jsonl as jsonl
from harness.runner._workers import _forkable
from harness.telemetry import _otlp_file
from harness.tools import _registry
from harness.tools._registry import ToolContext, tool

ROOT = Path(__file__).resolve().parent.parent
MUG = ROOT / "tests/fixtures/classic/support/refund-broken-mug.yaml"


def _request(text: str) -> ModelRequest:
    return ModelRequest(model="claude-haiku-4-5", messages=({"role": "user", "content": text},),
                        max_tokens=64)


def _echo(tag: str) -> httpx2.MockTransport:
    """A transport that answers with its own tag and the request's text."""

    async def handler(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(0)  # let the other trials' calls interleave with this one
        text = json.loads(request.content)["messages"][0]["content"]
        return httpx2.Response(200, json=message_body(
            msg_id="msg_1", model="claude-haiku-4-5",
            content=[{"type": "text", "text": f"{tag}:{text}"}], stop_reason="end_turn",
            input_tokens=1, output_tokens=1))

    return httpx2.MockTransport(handler)


def test_shared_sdk_routes_each_call_to_its_own_transport() -> None:
    async def trial(i: int) -> list[str]:
        client = AnthropicClient(_echo(f"t{i}"), shared=True)
        try:
            return [(await client.complete(_request(f"c{k}"), timeout_s=30)).text()
                    for k in range(3)]
        finally:
            await client.aclose()

    async def suite() -> tuple[list[list[str]], int]:
        answers = await asyncio.gather(*(trial(i) for i in range(20)))
        return answers, len(_SHARED[asyncio.get_running_loop()])

    answers, shared = asyncio.run(suite())
    assert answers == [[f"t{i}:c{k}" for k in range(3)] for i in range(20)]
    assert shared == 1  # one SDK client served all twenty


def test_shared_sdk_is_per_event_loop_and_survives_a_client_closing() -> None:
    async def twice() -> tuple[str, str]:
        first = AnthropicClient(_echo("a"), shared=True)
        second = AnthropicClient(_echo("b"), shared=True)
        one = (await first.complete(_request("x"), timeout_s=30)).text()
        await first.aclose()
        two = (await second.complete(_request("y"), timeout_s=30)).text()
        await second.aclose()
        return one, two

    assert asyncio.run(twice()) == ("a:x", "b:y")
    assert asyncio.run(twice()) == ("a:x", "b:y")  # a new loop, a new shared client


def test_offline_clients_share_and_live_ones_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.llm import ReferenceSolution

    ref = ReferenceSolution.model_validate(
        {"steps": [{"id": "s1", "role": "r", "instruction": "do it"}], "answer": "done"})
    assert make_client("simulated", reference=ref)._sdk_own is None
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    assert make_client("live")._sdk_own is not None


def _result(trial: int) -> TrialResult:
    return TrialResult(run_id=f"s/m/none/{trial}", scenario="s", suite="x", model="m",
                       fault_profile="none", trial=trial, seed=1, outcome="done",
                       goal_met=True, cost_usd=0.5, llm_calls=5, tool_calls=4, tokens_in=10,
                       tokens_out=2, duration_s=1.0, escalations=0, retries=0, faults=[],
                       answer="Ünïcode ✓")


@pytest.mark.parametrize(("interval", "syncs_while_writing"), [(0.0, 5), (3600.0, 0)])
def test_trials_file_syncs_per_line_or_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  interval: float, syncs_while_writing: int
                                                  ) -> None:
    synced: list[int] = []
    monkeypatch.setattr(jsonl.os, "fsync", lambda fd: synced.append(fd))
    f = jsonl.TrialsFile(tmp_path / "trials.jsonl", fsync_interval_s=interval)
    for t in range(5):
        f.append(_result(t))
        # every line is on disk, whole, as soon as append returns (no fsync needed for that)
        assert (tmp_path / "trials.jsonl").read_bytes().endswith(b"\n")
    assert len(synced) == syncs_while_writing
    f.close()
    assert len(synced) == syncs_while_writing + (interval > 0)  # close syncs what is left
    assert [r.trial for r in f.read()] == [0, 1, 2, 3, 4]
    f.append(_result(5))  # appending after close opens the file again
    f.close()
    assert [r.trial for r in f.read()] == [0, 1, 2, 3, 4, 5]


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[Any] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def test_otlp_span_lines_are_json_dumps_of_the_documented_dicts(tmp_path: Path) -> None:
    keep = _Keep()
    provider = TracerProvider(resource=Resource.create({"service.name": "harness", "n": 1.5}))
    provider.add_span_processor(SimpleSpanProcessor(keep))
    tracer = provider.get_tracer("harness", "1.0")
    values: list[Any] = ["plain", 'q"uote\\ ü ☃\n', True, False, 0, 1, -7, 1.0, 0.1, 1e-05, 1e16,
                         ["a", "b"], [1, 2], [True]]
    run = tracer.start_span("invoke_agent ü")
    for i, v in enumerate(values):
        span = tracer.start_span(f"chat {i}", context=set_span_in_context(run))
        span.set_attributes({"same": v, "flag": [True, 1, 1.0][i % 3], f"k{i}": v})
        span.add_event("harness.budget_check", {"v": v})
        if i % 2:
            span.set_status(Status(StatusCode.ERROR, 'it "failed" ✗'))
        span.end()
    run.add_event("harness.transition", {"harness.state.from": "idle"})
    run.end()
    for s in keep.spans:
        assert _otlp_file._span_json(s) == json.dumps(_otlp_file._span(s), separators=(",", ":"))
    exporter = _otlp_file.OTLPJsonFileExporter(tmp_path / "spans.jsonl")
    exporter.export(keep.spans)
    exporter.shutdown()
    [line] = (tmp_path / "spans.jsonl").read_text().splitlines()
    doc = json.loads(line)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert [s["name"] for s in spans] == [s.name for s in keep.spans]


class _Args(BaseModel):
    x: int


def test_a_tool_declared_again_resolves_its_input_model_once() -> None:
    def declare(note: str) -> Any:
        @tool(name="t", description=note)
        async def t(args: _Args, ctx: ToolContext) -> dict[str, int]:
            return {"x": args.x}

        return t

    _registry._SHAPES.clear()
    first, second = declare("a"), declare("b")
    assert first.input_model is second.input_model is _Args
    assert len(_registry._SHAPES) == 1
    assert second.description == "b"


def test_a_bench_profile_is_used_and_recorded(tmp_path: Path) -> None:
    perfect = PROFILES["claude-haiku-4-5"].model_copy(update={
        "skill": 1.0, "loop_tendency": 0.0, "premature_end": 0.0, "replan_tendency": 0.0,
        "plan_error": 0.0, "false_done": 0.0, "injection_susceptibility": 0.0})
    opts = SuiteOptions(paths=(str(MUG),), models=("claude-haiku-4-5",), trials=4,
                        out=tmp_path / "run", progress=False, profiles=(perfect,))
    result = run_suite(opts)
    assert json.loads((tmp_path / "run/run.json").read_text())["options"]["profiles"][0]["skill"] == 1.0
    assert all(r.goal_met for r in result.results)
    plain = SuiteOptions(paths=(str(MUG),), trials=4, out=tmp_path / "plain")
    assert "profiles" not in plain.identity() and plain.profile_table() is None


def test_workers_fork_only_without_other_threads() -> None:
    if threading.active_count() == 1:
        assert _forkable()
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not _forkable()
    finally:
        stop.set()
        t.join()


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(),
                    reason="needs fork to hand the patched worker to the child")
def test_a_worker_that_dies_fails_the_run_instead_of_hanging_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from harness.runner import _workers

    real = _workers._worker

    def worker(index: int, *args: Any) -> None:
        if index == 1:
            os._exit(3)  # killed before it could say it was done
        real(index, *args)

    monkeypatch.setattr(_workers, "_worker", worker)
    monkeypatch.setattr(_workers, "_forkable", lambda: True)
    opts = SuiteOptions(paths=(str(MUG),), trials=4, out=tmp_path / "run", workers=2,
                        progress=False)
    with pytest.raises(RuntimeError, match="exit codes \\[3\\]"):
        run_suite(opts)
    # the healthy worker's trials were kept, for --resume to build on
    assert len(jsonl.TrialsFile(tmp_path / "run/trials.jsonl").read()) == 2
