"""What one agent step costs in our runtime, against a bare loop and LangGraph.

A *step* is one model call that asks for a tool plus that tool call. The same
N-step loop (a trivial read-only tool, a scripted model with fixed usage) runs
three ways in one process (and a fourth, the floor, for reference), each writing a
durable SQLite log in WAL mode with the same ``synchronous`` setting:

- harness: ``Driver`` + ``SQLiteRecorder`` (file) + ``VirtualClock``, one role,
  verification off. Run twice: tracing off (no tracer provider, so the
  OpenTelemetry API is a no-op; every ratio uses this run, as LangGraph runs
  untraced) and tracing on (SDK ``TracerProvider`` + ``BatchSpanProcessor`` into a
  no-op exporter), whose extra cost per step is printed too;
- floor: our own records with none of our logic: the same scripted model, the same
  two events built, encoded and logged with the same commit policy, the history
  extended and counted, the three values a step issues built; the gap between it and
  ``harness`` is what the state machine, budgets and driver cost, and the gap between
  it and ``bare`` is what our typed events and effects cost (not in any ratio);
- bare: per step, ``json.dumps`` of the step record, one INSERT and a commit;
- langgraph: a model node and a tool node looping over a messages state (Messages
  API dicts appended by ``operator.add``: its cheapest such state; ``add_messages``
  over LangChain message objects costs it several times more), compiled with
  ``SqliteSaver`` on a connection given the same ``PRAGMA synchronous``, invoked with
  a thread id so it checkpoints every super-step (default durability, ``async``).

Timings are the whole run, from its first record to its last commit: the log file
is created (schema, WAL mode) before the clock starts and closed after it stops, as
those fixed costs are one fsync-bound file operation each, the same for all three,
and on a busy disk they would swamp a 200-step run. Best of ``--repeat`` runs (two
above N=1000, one for LangGraph). Log bytes are the SQLite file (and any WAL left) after the log
is closed.

Every LangGraph checkpoint holds the whole state, so its cost per step grows with
the history: a 10,000-step run takes it many minutes and writes some 20 GB.
Above N=1000 it runs in a child process for at most ``--langgraph-budget`` seconds
(default 60); if it has not finished by then, it is stopped and its ratio printed
is a lower bound (the budget over our time), flagged on the line above the result.

Prints a table and, last, one line:
``step_overhead: harness/bare=X langgraph/harness=Y langgraph/harness@10000=Z``
(total wall time ratios: the first two at the first ``--n``, the third at the last).

Run: ``.venv/bin/python bench/step_overhead.py [--n 200 --n 10000] [--repeat 15]
[--langgraph-budget 60]``.
Needs the ``bench`` extra: ``pip install -e '.[test,bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import operator
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel

from fakes.scripted import text, tool_use
from harness.core import (
    AgentConfig,
    CallModel,
    EscalationRules,
    ModelReplied,
    ModelRequest,
    ModelResponse,
    OrchestratorConfig,
    RoleConfig,
    RunTool,
    ToolReturned,
    Usage,
)
from harness.core._fast import from_dict
from harness.core._llm_types import count_tokens
from harness.driver import Driver, RunResult, VirtualClock
from harness.store import SQLiteRecorder, encode
from harness.telemetry import RunTracer
from harness.tools import ToolContext, ToolRegistry, tool

try:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
except ImportError as err:  # pragma: no cover - depends on the extra
    sys.exit(f"bench/step_overhead.py needs the bench extra ({err}): "
             "pip install -e '.[test,bench]'")

SYNCHRONOUS = "NORMAL"
USAGE = Usage(input_tokens=10, output_tokens=5)


# --- the trivial read-only tool, shared by all three ------------------------------------


class NoopArgs(BaseModel):
    i: int


def _noop(i: int) -> dict[str, Any]:
    return {"ok": i}


@tool(name="noop", description="Echo a number back.")
def noop(args: NoopArgs, ctx: ToolContext) -> dict[str, Any]:
    return _noop(args.i)


# --- harness ------------------------------------------------------------------------------


def _reply(request: ModelRequest, content: list[dict[str, Any]], stop: str) -> ModelResponse:
    # fixed usage, built without validation: the model must cost next to nothing
    return from_dict(ModelResponse, {"id": "msg", "model": request.model,
                                     "content": tuple(content), "stop_reason": stop,
                                     "usage": USAGE})


class LoopModel:
    """Plans one step, asks for ``noop`` ``n`` times, then answers; reflects ``done``."""

    def __init__(self, n: int) -> None:
        self.n = n
        plan = {"steps": [{"id": "s1", "role": "worker", "instruction": "loop"}]}
        self._plan = [tool_use("submit_plan", plan, "plan")]
        self._reflect = [tool_use("submit_reflection",
                                  {"decision": "done", "answer": "ok", "confidence": 1}, "r")]

    async def complete(self, request: ModelRequest, *,
                       timeout_s: float | None = None) -> ModelResponse:
        choice = (request.tool_choice or {}).get("name")
        if choice == "submit_plan":
            return _reply(request, self._plan, "tool_use")
        if choice == "submit_reflection":
            return _reply(request, self._reflect, "tool_use")
        turn = (len(request.messages) - 1) // 2
        if turn < self.n:
            return _reply(request, [tool_use("noop", {"i": turn}, f"t{turn}")], "tool_use")
        return _reply(request, [text("finished")], "end_turn")


def _config(n: int) -> AgentConfig:
    return AgentConfig(
        orchestrator=OrchestratorConfig(model="m"),
        roles=(RoleConfig(name="worker", model="m", tools=("noop",), max_turns=n + 5),),
        tools=ToolRegistry([noop]).infos(),
        verification_role=None,
        escalation=EscalationRules(budget_fraction=None),
    )


class _NoExport(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def run_harness(n: int, path: Path, *, traced: bool) -> float:
    cfg = _config(n)
    provider = None
    tracer = None
    if traced:
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(_NoExport()))
        tracer = RunTracer(provider.get_tracer("harness"))

    async def timed() -> tuple[float, RunResult]:
        # timed inside a running event loop: the loop's own start and stop are not the
        # runtime's cost (a harness runs thousands of trials in one loop)
        recorder = SQLiteRecorder(path, synchronous=SYNCHRONOUS)
        driver = Driver(model=LoopModel(n), tools=ToolRegistry([noop]), recorder=recorder,
                        clock=VirtualClock(), tracer=tracer)
        start = time.perf_counter()
        result = await driver.run(cfg, "loop", run_id="bench")  # ends with a commit
        if provider is not None:
            provider.force_flush()
        elapsed = time.perf_counter() - start
        recorder.close()
        return elapsed, result

    elapsed, result = asyncio.run(timed())
    if provider is not None:
        provider.shutdown()
    if result.outcome != "done" or result.context.agents["s1"].turns != n + 1:
        raise SystemExit(f"harness run went wrong: {result.outcome} {result.context.reason}")
    return elapsed


# --- floor: our records and effects, with no runtime logic ------------------------------------


def run_floor(n: int, path: Path) -> float:
    """What a step of our runtime costs before any of its logic: the same scripted model,
    the same two events built, encoded and logged with the same commit policy (the reply
    committed at once, the read-only tool's result riding with the next commit), the
    history extended and counted, the tool's input validated, and the three values a
    step issues (the tool call, the next request, the next call) built. No state
    machine, budget, scheduling or driver: the gap between this and ``harness`` is what
    those cost."""
    model = LoopModel(n)

    async def timed() -> float:
        recorder = SQLiteRecorder(path, synchronous=SYNCHRONOUS)
        recorder.open_run("floor")
        history: tuple[dict[str, Any], ...] = ({"role": "user", "content": "loop"},)
        tokens = 0
        seq = 0
        request = _floor_request(history)
        start = time.perf_counter()
        for i in range(n):
            resp = await model.complete(request)
            replied = from_dict(ModelReplied, {"at": 0.0, "kind": "model_replied",
                                               "effect_id": f"s1#{2 * i}", "response": resp})
            recorder.append("floor", seq, "model_replied", encode(replied))
            seq += 1
            recorder.flush()
            msg = {"role": "assistant", "content": list(resp.content)}
            history = history + (msg,)  # noqa: RUF005
            tokens += count_tokens(msg)
            use = resp.content[0]
            call = from_dict(RunTool, {
                "effect_id": f"s1#{2 * i + 1}", "agent": "s1", "issued_at": 0.0,
                "kind": "run_tool", "call_id": use["id"], "tool": "noop", "input": use["input"],
                "side_effecting": False, "affects_production": False, "idempotency_key": None,
                "timeout_s": None, "intent": "loop"})
            out = _noop(NoopArgs.model_validate(call.input).i)
            returned = from_dict(ToolReturned, {"at": 0.0, "kind": "tool_returned",
                                                "effect_id": call.effect_id, "output": out,
                                                "is_error": False, "error_kind": None})
            recorder.append("floor", seq, "tool_returned", encode(returned))
            seq += 1
            msg = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"],
                                                "content": json.dumps(out)}]}
            history = history + (msg,)  # noqa: RUF005
            tokens += count_tokens(msg)
            request = _floor_request(history)
            from_dict(CallModel, {"effect_id": f"s1#{2 * i + 2}", "agent": "s1",
                                  "issued_at": 0.0, "kind": "call_model", "purpose": "act",
                                  "role": "worker", "request": request, "attempt": 1,
                                  "timeout_s": None, "not_before": None})
        recorder.flush()
        elapsed = time.perf_counter() - start
        recorder.close()
        return elapsed

    return asyncio.run(timed())


def _floor_request(history: tuple[dict[str, Any], ...]) -> ModelRequest:
    return from_dict(ModelRequest, {"model": "m", "system": "", "messages": history,
                                    "tools": (), "tool_choice": None, "max_tokens": 100,
                                    "temperature": None})


# --- bare: json.dumps + one INSERT + commit per step -----------------------------------------


def run_bare(n: int, path: Path) -> float:
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
    db.execute("CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, "
               "kind TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (run_id, seq)) "
               "WITHOUT ROWID")
    db.commit()
    usage = {"input_tokens": 10, "output_tokens": 5}
    start = time.perf_counter()
    for i in range(n):
        call = tool_use("noop", {"i": i}, f"t{i}")
        out = _noop(call["input"]["i"])
        record = {"seq": i, "reply": {"id": "msg", "model": "m", "content": [call],
                                      "stop_reason": "tool_use", "usage": usage},
                  "tool_result": {"tool_use_id": call["id"], "content": out}}
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?)",
                   ("bench", i, "step", json.dumps(record)))
        db.commit()
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


# --- langgraph + SqliteSaver --------------------------------------------------------------------


class LoopState(TypedDict):
    messages: Annotated[list[dict[str, Any]], operator.add]


def _graph(n: int) -> Any:
    """Messages in the Messages API's dict shape, appended by ``operator.add``: LangGraph's
    cheapest messages state (``add_messages`` over LangChain message objects costs it
    several times more per step)."""
    lg_usage = {"input_tokens": 10, "output_tokens": 5}

    def model(state: LoopState) -> dict[str, Any]:
        turn = len(state["messages"]) // 2
        if turn < n:
            msg = {"role": "assistant", "content": [tool_use("noop", {"i": turn}, f"t{turn}")],
                   "stop_reason": "tool_use", "usage": lg_usage}
        else:
            msg = {"role": "assistant", "content": [text("finished")],
                   "stop_reason": "end_turn", "usage": lg_usage}
        return {"messages": [msg]}

    def tools(state: LoopState) -> dict[str, Any]:
        call = state["messages"][-1]["content"][0]
        out = _noop(call["input"]["i"])
        block = {"type": "tool_result", "tool_use_id": call["id"], "content": json.dumps(out)}
        return {"messages": [{"role": "user", "content": [block]}]}

    def route(state: LoopState) -> str:
        return "tools" if state["messages"][-1]["stop_reason"] == "tool_use" else END

    g = StateGraph(LoopState)
    g.add_node("model", model)
    g.add_node("tools", tools)
    g.add_edge(START, "model")
    g.add_conditional_edges("model", route, ["tools", END])
    g.add_edge("tools", "model")
    return g


def run_langgraph(n: int, path: Path, on_start: Callable[[], None] | None = None) -> float:
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
    saver = SqliteSaver(conn)
    saver.setup()  # creates its tables (and sets WAL): the log's creation is not timed
    app = _graph(n).compile(checkpointer=saver)
    if on_start is not None:
        on_start()
    start = time.perf_counter()
    out = app.invoke({"messages": []},
                     {"configurable": {"thread_id": "bench"}, "recursion_limit": 2 * n + 10})
    elapsed = time.perf_counter() - start
    conn.close()
    if len(out["messages"]) != 2 * n + 1:
        raise SystemExit(f"langgraph run went wrong: {len(out['messages'])} messages")
    return elapsed


def run_langgraph_capped(n: int, path: Path, budget_s: float) -> tuple[float, int]:
    """Run LangGraph in a child process, killed after ``budget_s`` seconds of its run.

    Its cost per step grows with the history (every checkpoint holds the whole state),
    so a long run can take many minutes. Returns (seconds, steps): when the child is
    killed, the seconds are the budget, a lower bound of the time the whole run needs,
    and the steps are those it had checkpointed.
    """
    child = subprocess.Popen(
        [sys.executable, __file__, "--langgraph-child", str(n), str(path)],
        stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    if child.stdout.readline().strip() != "started":  # imports done, warmed up: clock starts
        raise SystemExit(f"the langgraph child process failed (exit {child.wait()})")
    try:
        out, _ = child.communicate(timeout=budget_s)
        if child.returncode != 0:
            raise SystemExit(f"the langgraph child process failed (exit {child.returncode})")
        return float(out.split()[0]), n
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
    with sqlite3.connect(str(path)) as db:
        (checkpoints,) = db.execute("SELECT COUNT(*) FROM checkpoints").fetchone()
    # one checkpoint for the input, then two per step (model, tools)
    return budget_s, max(1, (checkpoints - 1) // 2)


def _langgraph_child(n: int, path: Path) -> int:
    with tempfile.TemporaryDirectory() as d:
        run_langgraph(20, Path(d) / "warm.sqlite")
    elapsed = run_langgraph(n, path, on_start=lambda: print("started", flush=True))
    print(elapsed, flush=True)
    return 0


# --- measuring -----------------------------------------------------------------------------------


Runner = Callable[[int, Path], tuple[float, int]]


@dataclass
class Row:
    n: int
    steps: int
    """Steps actually run: fewer than ``n`` only for a LangGraph run stopped at its budget."""
    seconds: float
    log_bytes: int

    @property
    def us_per_step(self) -> float:
        return self.seconds * 1e6 / self.steps

    @property
    def bytes_per_step(self) -> float:
        return self.log_bytes / self.steps


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def measure(key: str, fn: Runner, n: int, repeat: int, tmp: Path) -> Row:
    best: Row | None = None
    for i in range(repeat):
        path = tmp / f"{key}-{n}-{i}.sqlite"
        gc.collect()
        seconds, steps = fn(n, path)
        row = Row(n, steps, seconds, _file_bytes(path))
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        if best is None or row.seconds < best.seconds:
            best = row
    assert best is not None
    return best


LABELS = {
    "harness": "harness (tracing off)",
    "traced": "harness (tracing on: SDK, batch)",
    "floor": "floor (our records, no runtime logic)",
    "bare": "bare (json.dumps + INSERT + commit)",
    "langgraph": "langgraph + SqliteSaver",
}


def main(ns: list[int], repeat: int, budget_s: float) -> int:
    runners: dict[str, Runner] = {
        "harness": lambda n, p: (run_harness(n, p, traced=False), n),
        "traced": lambda n, p: (run_harness(n, p, traced=True), n),
        "floor": lambda n, p: (run_floor(n, p), n),
        "bare": lambda n, p: (run_bare(n, p), n),
        "langgraph": lambda n, p: (
            run_langgraph_capped(n, p, budget_s) if budget_s > 0 and n > 1000
            else (run_langgraph(n, p), n)),
    }
    rows: dict[tuple[str, int], Row] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for key, fn in runners.items():  # warm up: imports, caches, first-call costs
            measure(key, fn, 20, 1, tmp)
        for n in ns:
            for key, fn in runners.items():
                # above N=1000: two runs, one for langgraph (it takes up to its budget)
                reps = repeat if n <= 1000 else 1 if key == "langgraph" else 2
                rows[key, n] = measure(key, fn, n, reps, tmp)

    print(f"step_overhead: SQLite WAL, synchronous={SYNCHRONOUS} everywhere (harness: "
          f"SQLiteRecorder(synchronous={SYNCHRONOUS!r}); bare and langgraph: PRAGMA "
          f"synchronous={SYNCHRONOUS} on the connection, the latter handed to SqliteSaver); "
          "langgraph durability: default ('async'); time from first record to last commit "
          f"(log creation and close not timed); best of {repeat} runs up to N=1000, of 2 "
          "above (langgraph: 1)")
    print(f"{'runtime':<36} {'N':>6} {'us/step':>9} {'total s':>9} {'log B/step':>11}")
    for n in ns:
        for key in runners:
            r = rows[key, n]
            cut = f"  (stopped at its {budget_s:g} s budget: {r.steps} steps done)" \
                if r.steps < n else ""
            print(f"{LABELS[key]:<36} {n:>6} {r.us_per_step:>9.1f} {r.seconds:>9.3f} "
                  f"{r.bytes_per_step:>11.0f}{cut}")
    for n in ns:
        extra = rows["traced", n].us_per_step - rows["harness", n].us_per_step
        print(f"tracing on costs {extra:+.1f} us/step at N={n}")
    for n in ns:
        floor, ours = rows["floor", n].us_per_step, rows["harness", n].us_per_step
        print(f"at N={n}: {floor:.1f} of harness's {ours:.1f} us/step is the floor (its "
              f"records and effects built, encoded and logged), {ours - floor:.1f} the "
              "runtime's own logic (state machine, budgets, driver, tool registry)")
    first, last = ns[0], ns[-1]
    b0, b1 = rows["harness", first].bytes_per_step, rows["harness", last].bytes_per_step
    print(f"harness log bytes/step: {b0:.0f} at N={first}, {b1:.0f} at N={last} "
          f"(ratio {b1 / b0:.2f})")
    ratios = [rows["harness", first].seconds / rows["bare", first].seconds,
              rows["langgraph", first].seconds / rows["harness", first].seconds,
              rows["langgraph", last].seconds / rows["harness", last].seconds]
    for n in sorted({first, last}):
        if rows["langgraph", n].steps < n:
            print(f"langgraph/harness@{n} is a lower bound: langgraph had done "
                  f"{rows['langgraph', n].steps} of {n} steps when stopped after "
                  f"{budget_s:g} s (its cost per step grows with the history; "
                  "--langgraph-budget 0 runs it to the end); its us/step and B/step "
                  "are over the steps it did")
    print(f"step_overhead: harness/bare={ratios[0]:.2f} langgraph/harness={ratios[1]:.2f} "
          f"langgraph/harness@{last}={ratios[2]:.2f}")
    return 0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, action="append",
                        help="steps per run; repeat the flag for several sizes "
                        "(default: --n 200 --n 10000)")
    parser.add_argument("--repeat", type=int, default=15,
                        help="runs per size up to N=1000, best kept (default 15)")
    parser.add_argument("--langgraph-budget", type=float, default=60.0, metavar="SECONDS",
                        help="give a LangGraph run above N=1000 this long (in a child "
                        "process), then stop it and report its ratio as a lower bound "
                        "(default 60; 0 = run it to the end)")
    parser.add_argument("--langgraph-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.n:
        args.n = [200, 10_000]
    if any(n < 1 for n in args.n) or args.repeat < 1:
        parser.error("--n and --repeat must be positive")
    return args


if __name__ == "__main__":
    a = _parse(sys.argv[1:])
    if a.langgraph_child:
        sys.exit(_langgraph_child(int(a.langgraph_child[0]), Path(a.langgraph_child[1])))
    sys.exit(main(a.n, a.repeat, a.langgraph_budget))
