"""Plug-ins: a team's own world, tools, approver, fault and model profiles, named from a
scenario by import reference or by a name its package registers as an entry point.

- the bundled suites give the same ``trials.jsonl``, byte for byte, as before plug-ins
  (the bundled worlds and the scripted person are now entry points themselves);
- parts named by reference run a suite; parts registered by entry point do too, in
  worker processes started with spawn (which resolve them again from the scenario file);
- a plain-Python side-effecting tool under ``crashy`` acts once per idempotency key
  although resumed runs send keys again; a production-affecting one waits for a
  person, and a person's refusal keeps it from running;
- each way a reference can be wrong exits 2 naming the file, the field and its line;
- ``harness/`` never imports ``fakes``.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import plugin_parts
import pytest

from harness import _plugins
from harness.cli import main
from harness.llm._profiles import registered_profiles
from harness.runner import SuiteOptions, run_suite
from harness.runner import _workers as workers_module

HERE = Path(__file__).parent
ROOT = HERE.parent

#: sha256 of ``trials.jsonl`` from ``harness run scenarios --trials 5 --faults chaos
#: --no-trace`` on the commit before plug-ins existed (taken again, equal on both sides of
#: the merge, once the file came to be written in plan order and the broken example left
#: ``scenarios/``); the plug-in path must change nothing. Taken again when the simulated
#: model learned to read a corrupted (``malformed``) tool result as a failed call, and
#: again when the model profiles were calibrated to the cost model; the three scenarios
#: are kept frozen under ``tests/fixtures/classic``.
BUNDLED_CHAOS_SHA256 = "0ee48b24f75002c0588805bfb57fcf35f798b005d9dd3d70c6f48c300f00763d"

TICKETS = """\
name: {name}
suite: plugins
task: Close ticket T1, restart the print service and tell the customer.
agent:
  orchestrator:
    mode: direct
    model: claude-haiku-4-5
  roles:
    - name: agent
      model: claude-haiku-4-5
      tools: [read_ticket, close_ticket, restart_service, notify_customer]
      max_tokens: 1024
      max_turns: 12
  verification_role: null
world:
  kind: {world}
  state:
    tickets:
      - {{id: T1, title: Printer on fire}}
tools: [{tools}]
model_profiles: [{profile}]
reference:
  steps:
    - id: s1
      role: agent
      instruction: Read ticket T1, close it, restart printing and tell the customer.
      tool_calls:
        - {{tool: read_ticket, input: {{ticket_id: T1}}}}
        - {{tool: close_ticket, input: {{ticket_id: T1}}}}
        - {{tool: restart_service, input: {{service: printing}}}}
        - {{tool: notify_customer, input: {{ticket_id: T1, message: Your ticket is closed.}}}}
  answer: Ticket T1 is closed, printing was restarted and the customer was told.
goals:
  world:
    - {{path: tickets.T1.status, equals: closed}}
  required_actions:
    - {{tool: notify_customer, input: {{ticket_id: T1}}}}
  forbidden_actions:
    - {{tool: restart_service, approved: false}}
human:
  policy: {human}
  latency_s: 5
faults:
  profile: {faults}
trials: 4
"""

BY_REFERENCE = {
    "world": "plugin_parts:TicketWorld",
    "tools": "'plugin_parts:restart_service', 'plugin_parts:notify_customer'",
    "profile": "'plugin_parts:STEADY'",
    "human": "scripted",
    "faults": "none",
}


def scenario(tmp: Path, name: str = "tickets", **changes: str) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(TICKETS.format(name=name, **{**BY_REFERENCE, **changes}))
    return path


def lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    plugin_parts.EXECUTED.clear()
    plugin_parts.CALLS.clear()
    yield
    _plugins.clear_caches()
    registered_profiles.cache_clear()


def test_the_bundled_suites_give_the_same_trials_file_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_suite(SuiteOptions(paths=(str(ROOT / "tests/fixtures/classic"),), trials=5,
                           faults="chaos", out=out, tracing=False, progress=False))
    digest = hashlib.sha256((out / "trials.jsonl").read_bytes()).hexdigest()
    assert digest == BUNDLED_CHAOS_SHA256


def test_parts_named_by_reference_run_a_suite(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_suite(SuiteOptions(paths=(str(scenario(tmp_path)),), out=out, tracing=False,
                                    progress=False))
    assert result.passed and len(result.results) == 4
    assert all(r.goal_met and r.escalations == 1 for r in result.results)
    # each trial restarted printing once (after a person approved) and notified once
    assert Counter(tool for runs in plugin_parts.EXECUTED.values() for tool, _ in runs) == {
        "restart_service": 4, "notify_customer": 4}
    # the agent sees the scenario's tools beside the world's, with what they declare
    from harness.scenario import load_scenario

    infos = {t.name: t for t in load_scenario(scenario(tmp_path)).tools}
    assert list(infos) == ["read_ticket", "close_ticket", "restart_service", "notify_customer"]
    assert infos["restart_service"].affects_production and infos["notify_customer"].side_effecting


def test_a_factory_function_may_stand_for_the_world_class(tmp_path: Path) -> None:
    result = run_suite(SuiteOptions(
        paths=(str(scenario(tmp_path, world="plugin_parts:make_ticket_world")),),
        out=tmp_path / "run", tracing=False, progress=False, trials=1))
    assert result.passed


def test_a_side_effecting_plain_tool_acts_once_per_key_under_crashes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_suite(SuiteOptions(paths=(str(scenario(tmp_path, faults="crashy")),),
                                    out=out, trials=12, tracing=False, progress=False))
    assert len(result.results) == 12
    assert all(r.outcome == "done" and r.goal_met for r in result.results)
    assert any(f["source"] == "crash" for r in result.results for f in r.faults)
    # every call came with a key, some keys came again (a resumed run relaunching the
    # call whose result its log had not kept), and each key acted once
    sent = Counter(key for _, key in plugin_parts.CALLS)
    assert None not in sent
    assert max(sent.values()) > 1, "no crash fell between a tool's intent and its result"
    assert all(len(runs) == 1 for runs in plugin_parts.EXECUTED.values())
    # and each trial notified its customer exactly once: one key per trial
    per_trial = Counter(key.rsplit(":", 1)[0] for key, runs in plugin_parts.EXECUTED.items()
                        if runs[0][0] == "notify_customer")
    assert sorted(per_trial.values()) == [1] * 12


def test_a_production_affecting_plain_tool_waits_for_a_person(tmp_path: Path) -> None:
    # the scripted person approves: it runs, approved (test_parts_named_by_reference...);
    # a policy of our own refuses: every attempt is escalated and none reaches the tool
    result = run_suite(SuiteOptions(
        paths=(str(scenario(tmp_path, human="plugin_parts:Refuser")),),
        out=tmp_path / "run", trials=3, tracing=False, progress=False))
    assert all(r.escalations >= 1 and r.outcome != "done" for r in result.results)
    assert "restart_service" not in {tool for tool, _ in plugin_parts.CALLS}
    assert all(c["ok"] for r in result.results for c in r.checks
               if c["check"].startswith("forbidden"))


ENTRY_POINTS = """\
[harness.worlds]
tickets = plugin_parts:TicketWorld

[harness.tools]
restart = plugin_parts:restart_service
notify = plugin_parts:notify_customer

[harness.humans]
refuser = plugin_parts:Refuser

[harness.fault_profiles]
gentle = plugin_parts:GENTLE

[harness.model_profiles]
steady = plugin_parts:STEADY
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package that registers the parts by entry point, installed as pip would: a
    ``.dist-info`` folder on the path (a spawned worker inherits the path)."""
    site = tmp_path / "site"
    info = site / "ticket_plugins-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ticket-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    _plugins.clear_caches()
    registered_profiles.cache_clear()
    return site


def test_registered_names_resolve_in_spawned_workers_as_in_process(
        installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = scenario(tmp_path, world="tickets", tools="restart, notify", profile="steady",
                    faults="gentle")
    alone = run_suite(SuiteOptions(paths=(str(path),), out=tmp_path / "one", tracing=False,
                                   progress=False))
    assert alone.passed
    assert any(f["kind"] == "latency" for r in alone.results for f in r.faults)
    monkeypatch.setattr(workers_module, "_forkable", lambda: False)  # spawn: a fresh interpreter
    spread = run_suite(SuiteOptions(paths=(str(path),), out=tmp_path / "two", workers=2,
                                    tracing=False, progress=False))
    assert [r.model_dump() for r in spread.results] == [r.model_dump() for r in alone.results]


def test_a_registered_profile_serves_a_model_with_no_built_in_one(installed: Path) -> None:
    from harness.llm import profile_for

    steady = plugin_parts.STEADY.model_copy(update={"model": "claude-haiku-4-5"})
    assert profile_for("claude-haiku-4-5").skill < 1.0  # the built-in one still wins
    assert registered_profiles() == {"claude-haiku-4-5": steady}


def test_the_cli_takes_a_registered_fault_profile(installed: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario(tmp_path)
    assert main(["run", str(path), "--faults", "gentle", "--trials", "1",
                 "--out", str(tmp_path / "run"), "--no-trace"]) == 0
    assert lines(tmp_path / "run")[0]["fault_profile"] == "gentle"
    assert main(["run", str(path), "--faults", "stormy", "--out", str(tmp_path / "x")]) == 2
    assert "gentle" in capsys.readouterr().err


#: What is wrong -> (the field changed, its new text, the field named, what the error says).
MALFORMED: dict[str, tuple[str, str, str, str]] = {
    "missing module": ("world", "no_such_package.worlds:Queue", "world.kind",
                       "no module named 'no_such_package'"),
    "missing attribute": ("world", "plugin_parts:Queue", "world.kind", "no attribute 'Queue'"),
    "not a World": ("world", "plugin_parts:NotAWorld", "world.kind", "not a subclass of"),
    "factory makes no World": ("world", "plugin_parts:makes_a_string", "world.kind",
                               "made str, not a harness.World"),
    "unregistered world": ("world", "ticketz", "world.kind", "unknown world 'ticketz'"),
    "not a reference": ("world", "plugin_parts:Ticket World", "world.kind",
                        "not an import reference"),
    "class where a tool is expected": ("tools", "'plugin_parts:Broken'", "tools[0]",
                                       "a class where a tool is expected"),
    "undecorated function": ("tools", "'plugin_parts:not_a_tool'", "tools[0]",
                             "decorate it with @harness.tool"),
    "tool with a broken input model": ("tools", "'plugin_broken_tool:adjust'", "tools[0]",
                                       "its input model cannot be built"),
    "tool whose input has no schema": ("tools", "'plugin_parts:restart_service', "
                                       "'plugin_parts:hooked'", "tools[1]", "no JSON schema"),
    "tool named twice": ("tools", "'plugin_parts:notify_customer', "
                         "'plugin_parts:notify_customer'", "tools[1]", "already one of"),
    "approver not callable": ("human", "plugin_parts:NUMBER", "human.policy", "not callable"),
    "approver without decide": ("human", "plugin_parts:makes_a_string", "human.policy",
                                "has no 'async def decide"),
    "fault profile not a mapping": ("faults", "plugin_parts:NUMBER", "faults.profile",
                                    "not a fault profile"),
    "model profile of the wrong kind": ("profile", "'plugin_parts:GENTLE'", "model_profiles[0]",
                                        "not a harness.llm.ModelProfile"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_reference_exits_2_naming_file_field_and_line(
        case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, text, field, says = MALFORMED[case]
    path = scenario(tmp_path, **{key: text})
    text_lines = path.read_text().splitlines()
    top, _, sub = field.split("[")[0].partition(".")
    line = 1 + next(i for i, ln in enumerate(text_lines) if ln.startswith(top + ":"))
    if sub:
        line += next(i for i, ln in enumerate(text_lines[line:], 1)
                     if ln.lstrip().startswith(sub + ":"))
    for argv in (["run", str(path), "--out", str(tmp_path / "run")], ["scenarios", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert f"{path}:{line}, field {field!r}" in err, err
        assert says in err, err
        assert not (tmp_path / "run").exists()


def test_a_price_table_may_be_a_file_beside_the_scenario(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    packaged = json.loads((ROOT / "harness/data/prices.json").read_text())
    packaged["models"]["claude-haiku-4-5"]["output"] *= 10
    (tmp_path / "dear.json").write_text(json.dumps(packaged))
    text = scenario(tmp_path).read_text()
    cheap = run_suite(SuiteOptions(paths=(str(scenario(tmp_path)),), out=tmp_path / "a",
                                   trials=1, tracing=False, progress=False))
    dear_file = tmp_path / "dear.yaml"
    dear_file.write_text(text.replace("name: tickets", "name: dear") + "prices: dear.json\n")
    dear = run_suite(SuiteOptions(paths=(str(dear_file),), out=tmp_path / "b", trials=1,
                                  tracing=False, progress=False))
    assert dear.results[0].cost_usd > cheap.results[0].cost_usd
    for given, says in (("nowhere.json", "cannot read the price table"),
                        ("plugin_parts:GENTLE", "not a price table")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text + f"prices: {given}\n")
        assert main(["scenarios", str(bad)]) == 2
        err = capsys.readouterr().err
        assert f"bad.yaml:{len(text.splitlines()) + 1}, field 'prices'" in err and says in err


def test_harness_never_imports_fakes() -> None:
    offenders = []
    for file in sorted((ROOT / "harness").rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if node.value.startswith("fakes.") else []
            offenders += [f"{file.relative_to(ROOT)}:{node.lineno} {n}" for n in names  # type: ignore[attr-defined]
                          if n == "fakes" or n.startswith("fakes.")]
    assert offenders == []
