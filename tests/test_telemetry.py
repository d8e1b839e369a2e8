"""OpenTelemetry spans with the GenAI semantic conventions, read from the SDK's in-memory
exporter: names, parentage, attributes, span events, and ``gen_ai.system`` never set."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from helpers import HAIKU, QUIET, SONNET, Ran, Script, make_config, model, plan_step, run_agent
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from fakes.human import ScriptedHuman
from fakes.scripted import Call, FailingModel
from harness.core import RunLimits
from harness.errors import ModelError
from harness.telemetry import LeanTracerProvider, RunTracer

LIMITS = RunLimits(llm_calls=30, tool_calls=10, tokens_in=50_000, cost_usd=1.0)


PROVIDERS = {"sdk": TracerProvider, "lean": LeanTracerProvider}


def traced(config: Any, client: Any, provider_kind: str = "sdk", **kw: Any
           ) -> tuple[Ran, list[ReadableSpan]]:
    exporter = InMemorySpanExporter()
    provider = PROVIDERS[provider_kind]()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ran = run_agent(config, client, tracer=RunTracer(provider.get_tracer("harness-tests")), **kw)
    return ran, list(exporter.get_finished_spans())


@pytest.fixture(scope="module", params=sorted(PROVIDERS))
def run(request: pytest.FixtureRequest) -> tuple[Ran, list[ReadableSpan], FailingModel, Script]:
    """One run with everything worth tracing: parallel steps, a retried model call, a tool
    that fails, a production action a person approves, verification. Recorded once by the
    SDK's provider and once by the lean one: every test on it holds for both."""
    script = Script(
        plans=[[plan_step("s1", "research", "Look it up"), plan_step("s2", "code", "Ship it")]],
        steps={"s1": [[Call("lookup", {"query": "v2"})], [Call("broken", {})], "found"],
               "s2": [[Call("deploy", {"text": "v2"})], "shipped"]},
    )
    failing = FailingModel(model(script), failures={2: ModelError("overloaded", "busy",
                                                                  status=529)})
    cfg = make_config(limits=LIMITS, escalation=QUIET.model_copy(update={
        "production_actions": True}))
    ran, spans = traced(cfg, failing, request.param, human=ScriptedHuman("approve"))
    assert ran.result.outcome == "done"
    return ran, spans, failing, script


def by_kind(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def test_span_names(run: Any) -> None:
    _, spans, failing, _ = run
    [root] = by_kind(spans, "invoke_agent")
    assert root.name == "invoke_agent test-agent"
    chats = by_kind(spans, "chat ")
    assert {s.name for s in chats} == {f"chat {SONNET}", f"chat {HAIKU}"}
    assert len(chats) == failing.calls, "one chat span per attempt, the failed one included"
    tools = by_kind(spans, "execute_tool ")
    assert sorted(s.name for s in tools) == [
        "execute_tool broken", "execute_tool deploy", "execute_tool lookup"]
    assert len(spans) == 1 + len(chats) + len(tools)


def test_every_span_is_a_child_of_the_run_span(run: Any) -> None:
    _, spans, _, _ = run
    [root] = by_kind(spans, "invoke_agent")
    assert root.parent is None
    for span in spans:
        if span is not root:
            assert span.parent is not None and span.parent.span_id == root.context.span_id
            assert span.context.trace_id == root.context.trace_id


def test_gen_ai_attributes_on_chat_spans(run: Any) -> None:
    ran, spans, _, script = run
    chats = by_kind(spans, "chat ")
    ok = [s for s in chats if s.status.status_code != StatusCode.ERROR]
    assert len(ok) == len(script.replies)
    for span in chats:
        a = span.attributes
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == "anthropic"
        assert span.name == f"chat {a['gen_ai.request.model']}"
        assert isinstance(a["gen_ai.request.max_tokens"], int) and a["gen_ai.request.max_tokens"] > 0
    # the replies, in the order they came back, match the spans that carry them
    got = sorted((s.attributes["gen_ai.usage.input_tokens"],
                  s.attributes["gen_ai.usage.output_tokens"],
                  tuple(s.attributes["gen_ai.response.finish_reasons"])) for s in ok)
    want = sorted((r.usage.input_tokens, r.usage.output_tokens, (r.stop_reason,))
                  for r in script.replies)
    assert got == want
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in ok) == ran.ctx.used.tokens_in


def test_failures_carry_error_type(run: Any) -> None:
    _, spans, _, _ = run
    failed = [s for s in spans if s.status.status_code == StatusCode.ERROR]
    assert sorted((s.name.split(" ")[0], s.attributes["error.type"]) for s in failed) == [
        ("chat", "overloaded"), ("execute_tool", "tool_error")]
    [broken] = [s for s in failed if s.name == "execute_tool broken"]
    assert "down" in (broken.status.description or "")


def test_gen_ai_attributes_on_tool_spans(run: Any) -> None:
    _, spans, _, _ = run
    tools = {s.attributes["gen_ai.tool.name"]: s for s in by_kind(spans, "execute_tool ")}
    assert tools["lookup"].attributes["gen_ai.tool.call.id"] == "s1-t0-0"
    assert tools["broken"].attributes["gen_ai.tool.call.id"] == "s1-t1-0"
    assert tools["deploy"].attributes["gen_ai.tool.call.id"] == "s2-t0-0"
    for name, span in tools.items():
        assert span.attributes["gen_ai.operation.name"] == "execute_tool"
        assert span.name == f"execute_tool {name}"
    assert tools["deploy"].attributes["harness.tool.intent"] == "Ship it"
    assert tools["deploy"].attributes["harness.tool.side_effecting"] is True


def test_gen_ai_system_is_never_set(run: Any) -> None:
    _, spans, _, _ = run
    for span in spans:
        assert "gen_ai.system" not in (span.attributes or {})
        for event in span.events:
            assert "gen_ai.system" not in (event.attributes or {})


def test_transitions_and_escalations_are_span_events(run: Any) -> None:
    ran, spans, _, _ = run
    [root] = by_kind(spans, "invoke_agent")
    moves = [(e.attributes["harness.state.from"], e.attributes["harness.state.to"])
             for e in root.events if e.name == "harness.transition"]
    path = ["idle"]
    for _, ctx, _ in ran.trace():
        if ctx.state.value != path[-1]:
            path.append(ctx.state.value)
    assert moves == list(itertools.pairwise(path)), "the same path the log folds to"
    assert ("executing", "awaiting_human") in moves
    [esc] = [e for e in root.events if e.name == "harness.escalation"]
    assert esc.attributes["harness.escalation.rule"] == "production_action"
    assert "deploy" in esc.attributes["harness.escalation.decision_needed"]


def test_budget_checks_and_harness_attributes(run: Any) -> None:
    ran, spans, _, _ = run
    for span in spans:
        if span.name.startswith(("chat ", "execute_tool ")):
            [check] = [e for e in span.events if e.name == "harness.budget_check"]
            left = check.attributes
            assert left["harness.state"] in ("planning", "executing", "awaiting_human",
                                             "reflecting")
            assert 0 <= left["harness.budget.remaining.llm_calls"] <= LIMITS.llm_calls
            assert 0 <= left["harness.budget.remaining.tool_calls"] <= LIMITS.tool_calls
    [root] = by_kind(spans, "invoke_agent")
    a = root.attributes
    assert a["harness.state"] == "done" and a["harness.outcome"] == "done"
    assert a["harness.budget.remaining.llm_calls"] == LIMITS.llm_calls - ran.ctx.used.llm_calls
    assert a["harness.budget.remaining.cost_usd"] == pytest.approx(
        LIMITS.cost_usd - ran.ctx.used.cost_usd)
    assert a["gen_ai.operation.name"] == "invoke_agent"
    assert a["gen_ai.agent.name"] == "test-agent"
    assert "error.type" not in a


@pytest.mark.parametrize("provider_kind", sorted(PROVIDERS))
def test_an_exhausted_run_says_so_on_its_span(provider_kind: str) -> None:
    script = Script(plans=[[plan_step("s1", "research")]],
                    steps={"s1": lambda t: [Call("lookup", {"query": str(t)})]})
    ran, spans = traced(make_config(limits=RunLimits(llm_calls=3)), model(script), provider_kind)
    [root] = by_kind(spans, "invoke_agent")
    assert ran.result.outcome == "budget_exhausted"
    assert root.attributes["harness.budget.exhausted"] == "llm_calls"
    assert root.attributes["harness.outcome"] == "budget_exhausted"
    assert root.attributes["error.type"] == "budget_exhausted"
    assert root.attributes["harness.state"] == "failed"


class _Batches:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.closed = False

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.batches.append([s.name for s in spans])
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.closed = True


def test_inline_batches_export_every_max_batch_spans_and_the_rest_on_shutdown() -> None:
    from harness.telemetry import InlineBatchSpanProcessor

    out = _Batches()
    provider = TracerProvider()
    provider.add_span_processor(InlineBatchSpanProcessor(out, max_batch=3))  # type: ignore[arg-type]
    tracer = provider.get_tracer("t")
    for i in range(7):
        tracer.start_span(f"s{i}").end()
    assert out.batches == [["s0", "s1", "s2"], ["s3", "s4", "s5"]]
    provider.shutdown()
    assert out.batches[-1] == ["s6"] and out.closed
    tracer.start_span("late").end()
    assert all("late" not in b for b in out.batches)


def test_inline_batches_export_a_batch_that_waited_too_long() -> None:
    from harness.telemetry import InlineBatchSpanProcessor

    out = _Batches()
    provider = TracerProvider()
    provider.add_span_processor(InlineBatchSpanProcessor(out, max_batch=100, max_delay_s=0.0))  # type: ignore[arg-type]
    tracer = provider.get_tracer("t")
    tracer.start_span("a").end()
    assert out.batches == []
    tracer.start_span("b").end()
    assert out.batches == [["a", "b"]]
    provider.force_flush()
    provider.shutdown()
    assert out.batches == [["a", "b"]]


def _otlp_lines(provider: Any, tmp: Any, name: str) -> list[dict[str, Any]]:
    """A scripted run's spans as the run folder's file holds them, ids and times replaced by
    their order of appearance and the resource's random instance id left out."""
    import json
    import re

    from harness.telemetry import InlineBatchSpanProcessor, OTLPJsonFileExporter

    path = tmp / name
    provider.add_span_processor(InlineBatchSpanProcessor(OTLPJsonFileExporter(path)))
    script = Script(plans=[[plan_step("s1", "research", "Look it up"),
                            plan_step("s2", "code", "Ship it")]],
                    steps={"s1": [[Call("lookup", {"query": "v2"})], [Call("broken", {})], "found"],
                           "s2": [[Call("deploy", {"text": "v2"})], "shipped"]})
    cfg = make_config(limits=LIMITS, escalation=QUIET.model_copy(update={
        "production_actions": True}))
    run_agent(cfg, model(script), tracer=RunTracer(provider.get_tracer("harness", "1")),
              human=ScriptedHuman("approve"))
    provider.shutdown()
    text = path.read_text()
    ids: dict[str, str] = {}
    text = re.sub(r'"(traceId|spanId|parentSpanId)":"([0-9a-f]+)"',
                  lambda m: f'"{m[1]}":"{ids.setdefault(m[2], str(len(ids)))}"', text)
    text = re.sub(r'"(start|end)?(t|T)imeUnixNano":"\d+"', r'"\1\2imeUnixNano":"t"', text)
    docs = [json.loads(line) for line in text.splitlines()]
    for doc in docs:
        for rs in doc["resourceSpans"]:
            rs["resource"]["attributes"] = [a for a in rs["resource"]["attributes"]
                                            if a["key"] != "service.instance.id"]
    return docs


def test_the_lean_provider_writes_what_the_sdk_writes(tmp_path: Any) -> None:
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create({"service.name": "harness"})
    sdk = _otlp_lines(TracerProvider(resource=resource), tmp_path, "sdk.jsonl")
    lean = _otlp_lines(LeanTracerProvider(resource=resource), tmp_path, "lean.jsonl")
    assert sum(len(rs["scopeSpans"][0]["spans"]) for d in sdk for rs in d["resourceSpans"]) > 5
    assert lean == sdk


def test_lean_spans_follow_the_api() -> None:
    from opentelemetry import trace
    from opentelemetry.trace import Status

    exporter = InMemorySpanExporter()
    provider = LeanTracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("outer", attributes={"n": [1, 2], "x": object}) as outer:
        assert trace.get_current_span() is outer
        inner = tracer.start_span("inner")
        inner.set_status(Status(StatusCode.OK))
        inner.set_status(Status(StatusCode.ERROR, "too late: OK is final"))
        inner.end()
        inner.set_attribute("after", "end")
        inner.end()
    with pytest.raises(ValueError), tracer.start_span("failing"):
        raise ValueError("boom")
    done = {s.name: s for s in exporter.get_finished_spans()}
    assert list(done) == ["inner", "outer", "failing"], "each ended once, in order"
    assert done["inner"].parent == done["outer"].context
    assert done["inner"].context.trace_id == done["outer"].context.trace_id
    assert done["outer"].parent is None and done["failing"].parent is None
    assert done["inner"].status.status_code is StatusCode.OK and "after" not in done["inner"].attributes
    assert done["outer"].attributes["n"] == (1, 2) and done["outer"].attributes["x"] == str(object)
    failing = done["failing"]
    assert failing.status.status_code is StatusCode.ERROR
    assert [e.name for e in failing.events] == ["exception"]
    assert failing.events[0].attributes["exception.type"] == "ValueError"
