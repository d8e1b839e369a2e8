"""Trials per second of a whole evaluation suite: our runner against Inspect AI and pydantic-evals.

One workload, run ``--samples`` times (1,000 by default) by each contender: a support
task whose model makes 5 calls (look the order up, refund it, email the customer,
look the order up again, answer), scored on the answer (it must name the order and
say "refund"). Each sample gets a fresh world (orders, refunds, outbox), and the
tools really change it.

- **harness**: the real ``run_suite`` (what ``harness run`` calls) on a scenario file
  this script writes to a temporary folder: the support world, ``mode: direct`` (a
  single-loop agent: no planning or reflection calls), verification off, on the
  simulated transport under the real ``anthropic`` SDK. The model is an Opus-class
  profile whose skill is set to 1.0 for this bench (``SuiteOptions.profiles``), so it
  follows the reference solution exactly and every trial makes exactly 5 calls (4
  tool calls, then the answer). Everything a user gets is on: the SQLite event log
  (WAL, a commit per durable event), OpenTelemetry spans (recorded as ``harness run``
  records them, batched into the run folder's OTLP-JSON file), ``trials.jsonl`` with a
  line per trial, the judging of every trial from its event log read back. Run as
  ``harness run`` runs it by default (one worker process per usable core: the
  headline figure), and in one process (``--workers 1``).
- **Inspect AI**: ``eval()`` of a ``Task`` with ``use_tools(...)`` + ``generate()`` on
  ``mockllm/model``, whose ``custom_outputs`` is a function of the conversation
  (the 5 outputs, each with its usage set, so no tokenizer runs), the same three
  tools over a sample-scoped ``store()``, a scorer with the same answer check, and
  its normal machinery: the eval log is written (the default ``.eval`` format, to a
  temporary log folder) as a user runs it; only the terminal display is off, as ours
  is (``display="none"``).
- **pydantic-evals**: ``Dataset.evaluate`` of a task that runs a pydantic-ai ``Agent``
  on a ``FunctionModel`` (the same 5 replies, chosen from the conversation) with the
  same three tools over per-run ``deps``, and an evaluator with the same answer check.
- **bare asyncio loop**: the same 5 steps over plain dicts, ``asyncio.gather`` of
  the samples: the floor of doing this workload in Python at all.
- **anthropic SDK alone**: the 5 requests of one harness trial (rebuilt from its event
  log), sent through the same ``AnthropicClient`` and SDK client a trial uses, each
  answered at once by one pre-encoded reply: what the real SDK costs a trial before
  the simulator, the core, the log, spans or judging do anything. Neither peer has
  such a layer; the table's last note says what a 10x-Inspect trial leaves the rest.

Every contender counts its model calls; the script checks that each sample made
exactly 5 and that every sample passed its check, and prints calls per sample. Import
time is not timed (each contender runs a small warm-up first); everything from
"here are the samples" to "the results are written" is.

Prints a table (samples/s, µs per sample, calls per sample) and ends with one line:
``suite_throughput: trials_per_s=X one_process=W harness_vs_inspect=Y harness_vs_pydantic_evals=Z``
(X is the harness rate with the default workers, W in one process; Y and Z are X's
throughput ratios; the peers run in one process, as they do by default).

Run: ``.venv/bin/python bench/suite_throughput.py [--samples 1000] [--workers N]``.
Needs the ``bench`` extra: ``pip install -e '.[test,bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CALLS_PER_SAMPLE = 5
MODEL = "claude-opus-4-6"
TASK = ("Alice (alice@example.com) writes that the mugs in order A100 arrived broken. "
        "Refund order A100 in full and email her to confirm.")
ORDER = {"id": "A100", "customer": "alice@example.com", "customer_name": "Alice",
         "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": 12.5}],
         "total": 25.0, "status": "delivered"}
EMAIL = {"to": "alice@example.com", "subject": "Your refund for order A100",
         "body": "We are sorry your mugs arrived broken. Order A100 has been refunded in full."}
REASON = "mugs arrived broken"
ANSWER = "Order A100 was refunded in full ($25.00) and Alice was emailed a confirmation."
#: The model's 5 replies: (tool, arguments) four times, then the answer.
SCRIPT: tuple[tuple[str, dict[str, Any]], ...] = (
    ("lookup_order", {"order_id": "A100"}),
    ("refund_order", {"order_id": "A100", "reason": REASON}),
    ("send_email", EMAIL),
    ("lookup_order", {"order_id": "A100"}),
)


def answer_ok(answer: str) -> bool:
    """The check every contender scores with (the scenario's ``goals.answer``)."""
    return "a100" in answer.lower() and "refund" in answer.lower()


SCENARIO = f"""\
# Written by bench/suite_throughput.py: the suite_throughput workload.
name: suite-throughput
suite: bench
description: Refund a broken order, email the customer, check the order again, answer.
task: {json.dumps(TASK)}
agent:
  orchestrator:
    mode: direct
    model: {MODEL}
  roles:
    - name: support
      model: {MODEL}
      system_prompt: >
        You are a customer-support agent. Look orders up before acting on them.
      tools: [lookup_order, refund_order, send_email]
      max_tokens: 1024
      max_turns: 10
  verification_role: null
world:
  kind: support
  state:
    orders:
      - {json.dumps(ORDER)}
reference:
  steps:
    - id: s1
      role: support
      instruction: Look up order A100, refund it, email Alice, then check the order again.
      tool_calls:
        - {{tool: lookup_order, input: {{order_id: A100}}}}
        - {{tool: refund_order, input: {json.dumps({"order_id": "A100", "reason": REASON})}}}
        - {{tool: send_email, input: {json.dumps(EMAIL)}}}
        - {{tool: lookup_order, input: {{order_id: A100}}}}
  answer: {json.dumps(ANSWER)}
goals:
  answer:
    contains: [A100]
    contains_any: [refund]
trials: 1000
"""


@dataclass
class Result:
    name: str
    samples: int
    seconds: float
    calls: int
    passed: int

    @property
    def per_s(self) -> float:
        return self.samples / self.seconds

    @property
    def calls_per_sample(self) -> float:
        return self.calls / self.samples

    def check(self) -> None:
        if self.calls != CALLS_PER_SAMPLE * self.samples:
            raise SystemExit(f"{self.name}: {self.calls} model calls for {self.samples} samples, "
                             f"not {CALLS_PER_SAMPLE} each")
        if self.passed != self.samples:
            raise SystemExit(f"{self.name}: {self.passed} of {self.samples} samples passed")


#: Checks of what a contender wrote, run after its timing stops.
AFTER: list[Callable[[], None]] = []


def _timed(fn: Callable[[], tuple[int, int]]) -> tuple[float, int, int]:
    start = time.perf_counter()
    calls, passed = fn()
    return time.perf_counter() - start, calls, passed


# --- harness --------------------------------------------------------------------------


def _bench_profile() -> Any:
    """The built-in Opus-class profile with its skill at 1.0: it follows the reference."""
    from harness.llm import PROFILES

    return PROFILES[MODEL].model_copy(update={
        "skill": 1.0, "loop_tendency": 0.0, "premature_end": 0.0, "replan_tendency": 0.0,
        "plan_error": 0.0, "false_done": 0.0, "injection_susceptibility": 0.0})


def run_harness(n: int, tmp: Path, workers: int | None, tag: str) -> tuple[int, int]:
    """``run_suite`` with every output on; returns (model calls, trials that met the goal)."""
    from harness.runner import SuiteOptions, run_suite

    scenario = tmp / "suite-throughput.yaml"
    if not scenario.exists():
        scenario.write_text(SCENARIO)
    out = tmp / f"run-{tag}"
    result = run_suite(SuiteOptions(paths=(str(scenario),), trials=n, out=out, workers=workers,
                                    progress=False, profiles=(_bench_profile(),)))
    AFTER.append(lambda: _check_run_folder(out, n, tag))
    calls = sum(r.llm_calls for r in result.results)
    passed = sum(r.goal_met and r.outcome == "done" for r in result.results)
    return calls, passed


def _check_run_folder(out: Path, n: int, tag: str) -> None:
    """Everything a user gets was written: a line and an event log per trial, and spans."""
    lines = (out / "trials.jsonl").read_bytes().count(b"\n")
    with contextlib.closing(sqlite3.connect(out / "events.sqlite")) as db:
        logged = db.execute("SELECT COUNT(DISTINCT run_id) FROM events").fetchone()[0]
    spans = sum(p.stat().st_size for p in out.glob("spans*.jsonl"))
    if lines != n or logged != n or spans == 0:
        raise SystemExit(f"harness ({tag}): {lines} trial lines, {logged} event logs, "
                         f"{spans} bytes of spans for {n} trials")


# --- the SDK's floor ------------------------------------------------------------------

#: The 5 requests of one harness trial, rebuilt from its event log (set on the warm-up).
_TRIAL_REQUESTS: list[Any] = []


def _trial_requests(tmp: Path) -> list[Any]:
    """The model requests one real trial of the workload sends, in order: its log folded
    through the core, keeping every ``CallModel`` the core issued."""
    from harness.core import CallModel, Machine
    from harness.store import SQLiteRecorder, decode

    if not _TRIAL_REQUESTS:
        run_harness(1, tmp, 1, "floor-requests")
        rec = SQLiteRecorder(tmp / "run-floor-requests" / "events.sqlite")
        try:
            [run_id] = rec.run_ids()
            events, _ = decode(run_id, rec.read_run(run_id))
        finally:
            rec.close()
        m = Machine()
        _TRIAL_REQUESTS.extend(eff.request for ev in events for eff in m.feed(ev)
                               if isinstance(eff, CallModel))
    return _TRIAL_REQUESTS


def run_sdk_floor(n: int, tmp: Path) -> tuple[int, int]:
    """A trial's 5 requests through the ``AnthropicClient`` a trial uses (the real SDK,
    shared client), each answered at once with one pre-encoded reply: what the SDK alone
    costs a trial, before the simulator, the core, the log, spans or judging run."""
    import httpx2

    from harness.llm import AnthropicClient
    from harness.llm._wire import dumps, json_response, message_body

    requests = _trial_requests(tmp)
    body = dumps(message_body(msg_id="msg_floor", model=MODEL,
                              content=[{"type": "text", "text": ANSWER}],
                              stop_reason="end_turn", input_tokens=1, output_tokens=1))
    transport = httpx2.MockTransport(lambda request: json_response(200, body))

    async def all_samples() -> tuple[int, int]:
        client = AnthropicClient(transport, shared=True)
        calls = passed = 0
        for _ in range(n):
            for req in requests:
                reply = await client.complete(req)
                calls += 1
            passed += answer_ok(reply.text())
        return calls, passed

    return asyncio.run(all_samples())


# --- Inspect AI -----------------------------------------------------------------------


def run_inspect(n: int, tmp: Path, tag: str) -> tuple[int, int]:
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ChatMessageAssistant, ModelOutput, ModelUsage, get_model
    from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer
    from inspect_ai.solver import TaskState, generate, use_tools
    from inspect_ai.tool import tool
    from inspect_ai.util import store

    # the annotations below are strings (``from __future__ import annotations``), which
    # Inspect resolves in this module's globals
    globals().update(TaskState=TaskState, Target=Target, Score=Score)
    calls = 0

    def world() -> dict[str, Any]:
        w: dict[str, Any] | None = store().get("world")
        if w is None:
            w = {"orders": {"A100": json.loads(json.dumps(ORDER))}, "outbox": []}
            store().set("world", w)
        return w

    @tool
    def lookup_order():  # type: ignore[no-untyped-def]
        async def execute(order_id: str) -> str:
            """Look up one order by id.

            Args:
              order_id: The order's id, e.g. 'A100'.
            """
            return json.dumps(world()["orders"][order_id])

        return execute

    @tool
    def refund_order():  # type: ignore[no-untyped-def]
        async def execute(order_id: str, reason: str) -> str:
            """Refund an order in full.

            Args:
              order_id: The order to refund.
              reason: Why the refund is issued.
            """
            order = world()["orders"][order_id]
            order["status"], order["refunded"] = "refunded", order["total"]
            return json.dumps({"order_id": order_id, "amount": order["total"], "reason": reason})

        return execute

    @tool
    def send_email():  # type: ignore[no-untyped-def]
        async def execute(to: str, subject: str, body: str) -> str:
            """Send a plain-text email.

            Args:
              to: Recipient email address.
              subject: Subject line.
              body: Plain-text body.
            """
            outbox = world()["outbox"]
            outbox.append({"to": to, "subject": subject, "body": body})
            return json.dumps({"email_id": f"EM-{len(outbox):04d}", "status": "sent"})

        return execute

    usage = ModelUsage(input_tokens=600, output_tokens=60, total_tokens=660)

    def model_reply(messages: list[Any], tools: Any, tool_choice: Any, config: Any
                    ) -> ModelOutput:
        nonlocal calls
        calls += 1
        turn = sum(isinstance(m, ChatMessageAssistant) for m in messages)
        if turn < len(SCRIPT):
            name, args = SCRIPT[turn]
            out = ModelOutput.for_tool_call("mockllm/model", name, args,
                                            tool_call_id=f"call_{turn}")
        else:
            out = ModelOutput.from_content("mockllm/model", ANSWER)
        out.usage = usage
        return out

    @scorer(metrics=[accuracy()])
    def answer_check():  # type: ignore[no-untyped-def]
        async def score(state: TaskState, target: Target) -> Score:
            return Score(value=CORRECT if answer_ok(state.output.completion) else INCORRECT)

        return score

    task = Task(dataset=[Sample(input=TASK, target="A100", id=i) for i in range(n)],
                solver=[use_tools(lookup_order(), refund_order(), send_email()), generate()],
                scorer=answer_check())
    model = get_model("mockllm/model", custom_outputs=model_reply)
    [log] = eval(task, model=model, log_dir=str(tmp / f"inspect-logs-{tag}"), display="none")
    if log.status != "success" or log.results is None:
        raise SystemExit(f"inspect: the eval ended {log.status}: {log.error}")
    accuracy_value = log.results.scores[0].metrics["accuracy"].value
    return calls, round(accuracy_value * n)


# --- pydantic-evals -------------------------------------------------------------------


def run_pydantic_evals(n: int, tag: str) -> tuple[int, int]:
    from pydantic_ai import Agent, RunContext
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel
    from pydantic_evals import Case, Dataset
    from pydantic_evals.evaluators import Evaluator, EvaluatorContext

    # the annotations below are strings (``from __future__ import annotations``), which
    # pydantic-ai resolves in this module's globals to build the tools' schemas
    globals().update(RunContext=RunContext, ModelMessage=ModelMessage,
                     ModelResponse=ModelResponse, AgentInfo=AgentInfo,
                     EvaluatorContext=EvaluatorContext)
    calls = 0

    async def model_reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal calls
        calls += 1
        turn = sum(isinstance(m, ModelResponse) for m in messages)
        if turn < len(SCRIPT):
            name, args = SCRIPT[turn]
            return ModelResponse(parts=[ToolCallPart(name, dict(args), tool_call_id=f"call_{turn}")])
        return ModelResponse(parts=[TextPart(ANSWER)])

    agent = Agent(FunctionModel(model_reply), deps_type=dict)

    @agent.tool
    async def lookup_order(ctx: RunContext[dict[str, Any]], order_id: str) -> str:
        """Look up one order by id."""
        return json.dumps(ctx.deps["orders"][order_id])

    @agent.tool
    async def refund_order(ctx: RunContext[dict[str, Any]], order_id: str, reason: str) -> str:
        """Refund an order in full."""
        order = ctx.deps["orders"][order_id]
        order["status"], order["refunded"] = "refunded", order["total"]
        return json.dumps({"order_id": order_id, "amount": order["total"], "reason": reason})

    @agent.tool
    async def send_email(ctx: RunContext[dict[str, Any]], to: str, subject: str, body: str) -> str:
        """Send a plain-text email."""
        outbox = ctx.deps["outbox"]
        outbox.append({"to": to, "subject": subject, "body": body})
        return json.dumps({"email_id": f"EM-{len(outbox):04d}", "status": "sent"})

    async def task(inputs: str) -> str:
        deps = {"orders": {"A100": json.loads(json.dumps(ORDER))}, "outbox": []}
        result = await agent.run(inputs, deps=deps)
        return result.output

    @dataclass
    class AnswerCheck(Evaluator[str, str]):
        def evaluate(self, ctx: EvaluatorContext[str, str]) -> bool:
            return answer_ok(ctx.output)

    dataset = Dataset(name="suite-throughput",
                      cases=[Case(name=f"s{i}", inputs=TASK) for i in range(n)],
                      evaluators=[AnswerCheck()])
    report = dataset.evaluate_sync(task, progress=False)
    passed = sum(all(a.value for a in c.assertions.values()) for c in report.cases)
    if report.failures:
        raise SystemExit(f"pydantic-evals: {len(report.failures)} cases failed to run")
    return calls, passed


# --- bare asyncio loop ----------------------------------------------------------------


def run_bare(n: int) -> tuple[int, int]:
    calls = 0

    def model(messages: list[dict[str, Any]]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        turn = sum(m["role"] == "assistant" for m in messages)
        if turn < len(SCRIPT):
            name, args = SCRIPT[turn]
            return {"role": "assistant", "tool": name, "input": args}
        return {"role": "assistant", "text": ANSWER}

    def run_tool(w: dict[str, Any], name: str, args: dict[str, Any]) -> dict[str, Any]:
        if name == "lookup_order":
            return dict(w["orders"][args["order_id"]])
        if name == "refund_order":
            order = w["orders"][args["order_id"]]
            order["status"], order["refunded"] = "refunded", order["total"]
            return {"order_id": order["id"], "amount": order["total"]}
        w["outbox"].append(dict(args))
        return {"email_id": f"EM-{len(w['outbox']):04d}", "status": "sent"}

    async def sample() -> bool:
        w = {"orders": {"A100": json.loads(json.dumps(ORDER))}, "outbox": []}
        messages: list[dict[str, Any]] = [{"role": "user", "text": TASK}]
        while True:
            reply = model(messages)
            messages.append(reply)
            if "tool" not in reply:
                return answer_ok(reply["text"])
            messages.append({"role": "tool", "output": run_tool(w, reply["tool"], reply["input"])})
            await asyncio.sleep(0)

    async def all_samples() -> list[bool]:
        return await asyncio.gather(*(sample() for _ in range(n)))

    passed = sum(asyncio.run(all_samples()))
    return calls, passed


# --- main -----------------------------------------------------------------------------


def own_loop_scenario() -> str:
    """The same task, world, reference and goals, the agent being a plain SDK loop."""
    head, rest = SCENARIO.split("agent:\n", 1)
    world = rest[rest.index("world:\n"):]
    return (head.replace("name: suite-throughput", "name: suite-throughput-own-loop")
            + f"agent:\n  entry: \"_own_loop_agent:run\"\n  model: {MODEL}\n" + world)


def run_own_loop(n: int, tmp: Path, tag: str) -> tuple[int, int]:
    """``run_suite`` with the agent that brings its own loop (``bench/_own_loop_agent.py``):
    the harness holds it by its client and tools, not by our state machine."""
    from harness.runner import SuiteOptions, run_suite

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    scenario = tmp / "suite-throughput-own-loop.yaml"
    if not scenario.exists():
        scenario.write_text(own_loop_scenario())
    out = tmp / f"own-loop-{tag}"
    result = run_suite(SuiteOptions(paths=(str(scenario),), trials=n, out=out, workers=1,
                                    progress=False, profiles=(_bench_profile(),)))
    calls = sum(r.llm_calls for r in result.results)
    passed = sum(r.goal_met and r.outcome == "done" for r in result.results)
    return calls, passed


@contextlib.contextmanager
def _quiet() -> Any:
    """Peers may print reports or warnings; the table is ours."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        yield


#: Contender key -> (table name, how to run it: samples, scratch folder, tag, workers).
CONTENDERS: dict[str, tuple[str, Callable[[int, Path, str, int], tuple[int, int]]]] = {
    "harness": ("harness (run_suite, one process)",
                lambda k, tmp, tag, w: run_harness(k, tmp, 1, tag)),
    "harness-default": ("harness (run_suite, {w} workers)",
                        lambda k, tmp, tag, w: run_harness(k, tmp, w or None, tag)),
    "harness-own-loop": ("harness, own-loop agent (one process)",
                         lambda k, tmp, tag, w: run_own_loop(k, tmp, tag)),
    "inspect": ("Inspect AI (mockllm, eval log on)",
                lambda k, tmp, tag, w: run_inspect(k, tmp, tag)),
    "pydantic-evals": ("pydantic-evals (FunctionModel)",
                       lambda k, tmp, tag, w: run_pydantic_evals(k, tag)),
    "bare": ("bare asyncio loop (plain dicts)", lambda k, tmp, tag, w: run_bare(k)),
    "sdk-floor": ("anthropic SDK alone (a trial's 5 calls)",
                  lambda k, tmp, tag, w: run_sdk_floor(k, tmp)),
}


def measure_here(key: str, n: int, workers: int) -> Result:
    """One contender in this process: a small warm-up (imports, first-call costs), then n."""
    name, fn = CONTENDERS[key]
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp_name, _quiet():
        tmp = Path(tmp_name)
        fn(min(20, n), tmp, "warm", workers)
        seconds, calls, passed = _timed(lambda: fn(n, tmp, "timed", workers))
        for check in AFTER:
            check()
    from harness.runner._workers import default_workers

    shown = workers or f"default: {default_workers('simulated', n)}"
    res = Result(name.format(w=shown), n, seconds, calls, passed)
    res.check()
    return res


def measure_apart(key: str, n: int, workers: int) -> Result:
    """One contender in a fresh process, so no contender runs on another's imports and heap."""
    proc = subprocess.run(
        [sys.executable, __file__, "--contender", key, "--samples", str(n),
         "--workers", str(workers)],
        capture_output=True, text=True, env={**os.environ, "INSPECT_LOG_LEVEL": "error"})
    if proc.returncode != 0:
        raise SystemExit(f"{key} failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    return Result(**json.loads(proc.stdout.strip().splitlines()[-1]))


#: Where a trial's time goes, by the file a function lives in (first match wins). Time
#: spent in the standard library or in C builtins counts for whoever called them.
_PARTS = (
    ("anthropic/", "anthropic SDK"), ("httpx2/", "anthropic SDK"),
    ("harness/llm/_anthropic", "reply parsing"), ("harness/llm/", "simulator"),
    ("harness/core/", "core (the state machine)"), ("harness/driver/", "driver"),
    ("harness/store/", "event log"), ("harness/telemetry/", "spans"),
    ("opentelemetry", "spans"), ("harness/runner/", "runner (incl. judging)"),
    ("harness/faults/", "runner (incl. judging)"), ("harness/tools/", "world and tools"),
    ("fakes/", "world and tools"),
)


def profile_harness(n: int) -> int:
    """Run the harness contender under cProfile and print each part's share of the time.

    Shares are of profiled time, which inflates pure-Python code against C: read them as
    an ordering, not as exact fractions."""
    import cProfile
    import pstats

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp_name, _quiet():
        tmp = Path(tmp_name)
        run_harness(min(20, n), tmp, 1, "warm")
        profiler = cProfile.Profile()
        profiler.enable()
        run_harness(n, tmp, 1, "profiled")
        profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def own_part(key: Any) -> str | None:
        path = key[0]
        return next((name for pattern, name in _PARTS if pattern in path), None)

    shares: dict[str, float] = {}

    def credit(key: Any, seconds: float, depth: int = 0) -> None:
        part = own_part(key)
        callers = stats.get(key, (0, 0, 0, 0, {}))[4]
        if part is not None or not callers or depth > 20:
            part = part or "other (standard library, event loop)"
            shares[part] = shares.get(part, 0.0) + seconds
            return
        weight = sum(c[2] for c in callers.values()) or 1.0
        for caller, c in callers.items():  # a library function: its callers' time
            credit(caller, seconds * c[2] / weight, depth + 1)

    for key, (_cc, _nc, own, _cum, _callers) in stats.items():
        credit(key, own)
    total = sum(shares.values())
    print(f"where a trial's time goes ({n} trials under cProfile, {total / n * 1e3:.1f} ms "
          "a trial profiled; library and C time counted for its caller)")
    for part, own in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {part:<38} {own / total:>6.1%}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=1000, help="samples per contender")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes for the headline harness run (default 0: what "
                        "harness run does by default, one per usable core; 1: skip it)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every contender this many times, interleaved; keep the best")
    parser.add_argument("--only", action="append", default=[], choices=tuple(CONTENDERS),
                        help="run only these contenders (repeatable)")
    parser.add_argument("--profile", action="store_true",
                        help="only profile the in-process harness run: each part's share")
    parser.add_argument("--contender", choices=tuple(CONTENDERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.samples
    if args.profile:
        return profile_harness(n)
    if args.contender:  # a child of measure_apart: one JSON line on stdout
        res = measure_here(args.contender, n, args.workers)
        print(json.dumps(res.__dict__))
        return 0
    keys = [k for k in CONTENDERS if not args.only or k in args.only]
    if args.workers == 1 and "harness-default" in keys:
        keys.remove("harness-default")
    best: dict[str, Result] = {}
    for _ in range(max(1, args.rounds)):
        for key in keys:
            res = measure_apart(key, n, args.workers)
            print(f"  {res.name:<38} {res.per_s:>10,.1f} samples/s", file=sys.stderr, flush=True)
            if key not in best or res.per_s > best[key].per_s:
                best[key] = res

    print(f"{n} samples each, {CALLS_PER_SAMPLE} model calls per sample (4 tool calls + the "
          f"answer), scored on the answer; each contender in a fresh process; best of "
          f"{max(1, args.rounds)}; {os.cpu_count()} CPUs\n")
    print(f"{'contender':<38} {'samples/s':>10} {'us/sample':>10} {'calls/sample':>13}")
    for r in best.values():
        print(f"{r.name:<38} {r.per_s:>10,.1f} {r.seconds / r.samples * 1e6:>10,.0f} "
              f"{r.calls_per_sample:>13.2f}")
    ours, workers = best.get("harness"), best.get("harness-default")
    inspect_r, pe = best.get("inspect"), best.get("pydantic-evals")
    if ours is not None:
        print(f"\nin one process: {ours.per_s:,.1f} trials/s"
              + (f", {ours.per_s / inspect_r.per_s:.2f}x Inspect AI" if inspect_r else "")
              + (f", {ours.per_s / pe.per_s:.2f}x pydantic-evals" if pe else ""))
    floor = best.get("sdk-floor")
    if floor is not None and ours is not None:
        rest = (ours.seconds / ours.samples - floor.seconds / floor.samples) * 1e6
        print(f"\nthe SDK alone: {floor.per_s:,.1f} trials/s "
              f"({floor.seconds / floor.samples * 1e6:,.0f} us of a trial's "
              f"{ours.seconds / ours.samples * 1e6:,.0f}); everything else: {rest:,.0f} us"
              + (f"; 10x Inspect AI leaves it {1e6 / (10 * inspect_r.per_s) - floor.seconds / floor.samples * 1e6:,.0f} us"
                 if inspect_r else ""))
    head = workers or ours  # the headline: what a user gets without a flag
    if head is None:
        return 0
    line = f"suite_throughput: trials_per_s={head.per_s:.1f}"
    if ours is not None and workers is not None:
        line += f" one_process={ours.per_s:.1f}"
    if inspect_r is not None:
        line += f" harness_vs_inspect={head.per_s / inspect_r.per_s:.2f}"
    if pe is not None:
        line += f" harness_vs_pydantic_evals={head.per_s / pe.per_s:.2f}"
    print()
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
