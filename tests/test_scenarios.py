"""Scenario files: a corpus of malformed ones, each refused with its file, field and line,
and the bundled suites, which load, follow their own references and pass by default.

The corpus lives in ``tests/malformed/`` (one mistake per file, said in its first
line); binary junk is written here into ``tmp_path``. For every bad input both
``harness run`` and ``harness scenarios`` exit 2 with one line on stderr naming the
file and the field (and the line where the mistake has one), no traceback, and
``harness run`` leaves no run folder behind: nothing half-written to resume from.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.cli import main
from harness.scenario import load_all, load_scenario

HERE = Path(__file__).parent
CORPUS = HERE / "malformed"
SCENARIOS = HERE.parent / "scenarios"
#: The first bundled scenarios, frozen: tests that lean on their exact content use these.
CLASSIC = HERE / "fixtures" / "classic"

#: file stem -> (field named in the error, or None; line, or None).
MALFORMED: dict[str, tuple[str | None, int | None]] = {
    # YAML itself
    "bad-yaml-unclosed-bracket": (None, 12),
    "bad-yaml-tab-indent": (None, 14),
    "bad-yaml-two-documents": (None, 33),
    "duplicate-key": ("trials", 33),
    "empty": (None, None),
    "only-comments": (None, None),
    "not-utf8": (None, None),
    "top-level-list": (None, 1),
    "top-level-scalar": (None, 1),
    # typos: an unknown key is never ignored
    "typo-top-level": ("trails", 32),
    "typo-nested-role": ("agent.roles[0].tool", 11),
    "typo-limits": ("agent.limits.llm_call", 14),
    "typo-threshold": ("thresholds.min_goal", 34),
    "typo-world-state": ("world.state.orders[0].totl", 20),
    "typo-goal-check": ("goals.world[0].equal", 31),
    # wrong types and shapes
    "wrong-type-trials": ("trials", 32),
    "wrong-type-tools": ("agent.roles[0].tools", 11),
    "wrong-type-bool-for-int": ("agent.limits.llm_calls", 14),
    "list-for-mapping": ("agent.limits", 13),
    "mapping-for-list": ("agent.roles", 8),
    "null-section": ("agent.orchestrator", 6),
    "missing-task": ("task", 2),
    "bad-scenario-name": ("name", 2),
    "bad-human-decision": ("human.decision", 34),
    # references a schema cannot see
    "unknown-tool": ("agent.roles[0].tools[1]", 11),
    "unknown-tool-in-reference": ("reference.steps[0].tool_calls[0].tool", 27),
    "unknown-tool-in-goal": ("goals.required_actions[0].tool", 31),
    "unknown-model": ("agent.roles[0].model", 10),
    "unknown-model-in-models": ("models[1]", 33),
    "unknown-world-kind": ("world.kind", 17),
    "bad-world-state-type": ("world.state.orders[0].total", 20),
    "bad-world-state-refund": ("world.state.orders[0]", 20),
    "verification-role-missing": ("agent.verification_role", 12),
    "duplicate-role-names": ("agent.roles[1].name", 12),
    "reference-unknown-role": ("reference.steps[0].role", 24),
    "reference-unknown-dependency": ("reference", 21),
    "reference-no-steps": ("reference.steps", 22),
    "reference-tool-not-in-role": ("reference.steps[0].tool_calls[0].tool", 27),
    # ranges
    "negative-budget": ("agent.limits.tool_calls", 15),
    "negative-cost-budget": ("agent.limits.cost_usd", 16),
    "budget-share-above-one": ("agent.roles[0].budget_share", 12),
    "zero-trials": ("trials", 32),
    "threshold-above-one": ("thresholds.min_goal_rate", 34),
    "threshold-negative-cost": ("thresholds.max_p99_cost_usd", 35),
    # goals
    "missing-goal-checks": ("goals", 29),
    "goal-check-two-tests": ("goals.world[0]", 31),
    # faults
    "unknown-fault-profile": ("faults.profile", 34),
    "unknown-fault-rate": ("faults.rates.tool_eror", 36),
    "fault-rate-out-of-range": ("faults.rates.tool_error", 36),
}

#: Binary junk, written into tmp_path: name -> bytes.
JUNK: dict[str, bytes] = {
    "png.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256)),
    "random.yaml": random.Random(7).randbytes(4096),
    "gzip.yml": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(64),
    "control-chars.yaml": b"name: x\x07\x1b[31m\nsuite: y\n",
    "utf16.yaml": "name: scenario\nsuite: s\n".encode("utf-16"),
}


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; it must exit 2 with exactly one line on stderr, and no traceback."""
    assert main(argv) == 2
    cap = capsys.readouterr()
    err = cap.err.strip()
    assert "Traceback" not in cap.err + cap.out
    assert err.startswith("harness: ") and len(err.splitlines()) == 1, cap.err
    return err


def _check_both_commands(path: Path, field: str | None, line: int | None, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    for argv in (["run", str(path), "--out", str(out)], ["scenarios", str(path)]):
        err = _refused(argv, capsys)
        assert str(path) in err, err
        if field is not None:
            assert f"field {field!r}" in err, err
        if line is not None:
            assert f"{path}:{line}" in err, err
        # nothing half-written: a bad input never gets a run folder
        assert not out.exists()


def test_the_corpus_and_the_table_agree() -> None:
    on_disk = {p.stem for p in CORPUS.iterdir()}
    assert all(p.suffix == ".yaml" for p in CORPUS.iterdir())
    assert on_disk == set(MALFORMED)


@pytest.mark.parametrize("stem", sorted(MALFORMED))
def test_a_malformed_scenario_exits_2_naming_file_field_and_line(
        stem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    field, line = MALFORMED[stem]
    _check_both_commands(CORPUS / f"{stem}.yaml", field, line, tmp_path, capsys)


@pytest.mark.parametrize("name", sorted(JUNK))
def test_binary_junk_exits_2_naming_the_file(name: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_bytes(JUNK[name])
    _check_both_commands(path, None, None, tmp_path, capsys)


def test_a_bad_file_among_good_ones_stops_the_run_before_it_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "a-good.yaml").write_text((CLASSIC / "support/refund-broken-mug.yaml").read_text())
    (suite / "b-bad.yaml").write_text((CORPUS / "typo-limits.yaml").read_text())
    out = tmp_path / "run"
    err = _refused(["run", str(suite), "--out", str(out)], capsys)
    assert "b-bad.yaml:14, field 'agent.limits.llm_call'" in err
    assert not out.exists()


def test_two_files_with_one_scenario_name_is_an_error_naming_the_second(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (CLASSIC / "support/refund-broken-mug.yaml").read_text()
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text("# the same scenario, copied\n" + text)
    out = tmp_path / "run"
    for argv in (["run", str(tmp_path), "--out", str(out)], ["scenarios", str(tmp_path)]):
        err = _refused(argv, capsys)
        line = 1 + next(i for i, ln in enumerate(text.splitlines(), 1)
                        if ln.startswith("name:"))
        assert f"b.yaml:{line}, field 'name'" in err and "a.yaml" in err
    assert not out.exists()


def test_a_model_the_simulator_cannot_play_is_refused_before_the_run_folder_exists(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # claude-3-haiku has a price (so the file is valid) but no simulated profile
    text = (CLASSIC / "support/refund-broken-mug.yaml").read_text().replace(
        "      model: claude-haiku-4-5", "      model: claude-3-haiku")
    path = tmp_path / "old-model.yaml"
    path.write_text(text)
    out = tmp_path / "run"
    err = _refused(["run", str(path), "--out", str(out)], capsys)
    assert "old-model.yaml:" in err and "field 'agent.roles[0].model'" in err
    assert "no simulated profile" in err
    assert not out.exists()
    assert main(["scenarios", str(path)]) == 0  # valid as a file: the transport decides


def test_an_alias_loop_does_not_hang_the_loader(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("name: &a [1, *a]\n")
    err = _refused(["scenarios", str(path)], capsys)
    assert "loop.yaml" in err


# --- the bundled scenarios -------------------------------------------------------------


def test_the_bundled_scenarios_load_and_cover_three_worlds() -> None:
    loaded = load_all([SCENARIOS])
    kinds = {ls.scenario.world.kind for ls in loaded}
    assert {"support", "repo", "research"} <= kinds
    for ls in loaded:
        s = ls.scenario
        assert s.thresholds.min_goal_rate is not None, s.name
        assert s.trials <= 20, f"{s.name}: keep `harness run scenarios/` quick"


def test_the_code_review_scenario_is_multi_role_and_deploys_with_approval() -> None:
    ls = load_scenario(CLASSIC / "code-review/fix-total-and-deploy.yaml")
    s = ls.scenario
    by_step = {st.id: st for st in s.reference.steps}
    assert len({st.role for st in s.reference.steps}) >= 3
    calls = {c.tool for st in s.reference.steps for c in st.tool_calls}
    assert {"write_file", "run_tests", "deploy"} <= calls
    deploy = next(t for t in ls.tools if t.name == "deploy")
    assert deploy.affects_production and s.agent.escalation.production_actions
    assert set(by_step["ship"].depends_on) == {"fix", "review"}  # a join after two branches
    assert any(c.tool == "deploy" and c.approved is False for c in s.goals.forbidden_actions)


def test_the_research_scenario_fans_out_and_joins() -> None:
    s = load_scenario(CLASSIC / "research/battery-recycling-brief.yaml").scenario
    roots = [st for st in s.reference.steps if not st.depends_on]
    joins = [st for st in s.reference.steps if len(st.depends_on) >= 2]
    assert len(roots) >= 2 and {st.role for st in roots} == {"research"}
    assert joins and joins[0].role == "communication"
    assert {c.tool for st in roots for c in st.tool_calls} == {"search", "fetch"}
    assert [c.tool for c in joins[0].tool_calls] == ["save_note"]


def test_harness_run_scenarios_passes_with_its_defaults(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Every bundled scenario runs its own trial count, each trial is judged on every goal
    check the scenario lists, and each group's printed verdict matches its trial lines."""
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS), "--out", str(out), "--no-trace"]) == 0
    printed = capsys.readouterr().out
    rows = [json.loads(ln) for ln in (out / "trials.jsonl").read_text().splitlines()]
    loaded = {ls.scenario.name: ls.scenario for ls in load_all([SCENARIOS])}
    assert {r["scenario"] for r in rows} == set(loaded)
    for name, s in loaded.items():
        mine = [r for r in rows if r["scenario"] == name]
        assert sorted(r["trial"] for r in mine) == list(range(s.trials)), name
        g = s.goals
        n_checks = (len(g.world) + len(g.required_actions) + len(g.forbidden_actions)
                    + (len(g.answer.contains) + bool(g.answer.contains_any)
                       + len(g.answer.not_contains) if g.answer else 0))
        for r in mine:
            assert len(r["checks"]) == n_checks, (name, r["trial"])
            assert r["goal_met"] == (r["outcome"] != "crashed"
                                     and all(c["ok"] for c in r["checks"])), (name, r["trial"])
        met = sum(r["goal_met"] for r in mine)
        rate = met / len(mine)
        assert s.thresholds.min_goal_rate is not None and rate >= s.thresholds.min_goal_rate
        line = next(ln for ln in printed.splitlines() if ln.startswith(name[:28]))
        assert line.endswith("PASS") and f"{rate:.0%}" in line.split(), line
    # the deliberately broken example lives apart, in no suite and no demo verdict
    assert "unguarded-refunds" not in loaded and "FAIL" not in printed
