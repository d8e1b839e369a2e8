"""``harness budgets`` on run folders written here: its refusals (exit 2, one line naming
the path), which rows it proposes from, and ``--write``, all or nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

FIXTURE = Path(__file__).with_name("refund-unbounded.yaml")


def _row(scenario: str, trial: int, **kw: Any) -> dict[str, Any]:
    r = {"run_id": f"{scenario}/{trial}", "scenario": scenario, "suite": "s",
         "model": "configured", "fault_profile": "none", "trial": trial, "seed": trial,
         "outcome": "done", "goal_met": True, "cost_usd": 0.01 + trial / 1000,
         "llm_calls": 5 + trial % 4, "tool_calls": 3, "tokens_in": 1000 + trial,
         "tokens_out": 100, "duration_s": 10.0, "escalations": 0, "retries": 0,
         "faults": [], "error": None, "exhausted_limit": None}
    return {**r, **kw}


def _run(folder: Path, files: dict[str, Path], rows: list[dict[str, Any]]) -> Path:
    """A run folder as ``harness run`` leaves it: run.json (format 2) and trials.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    scenarios = {name: {"file": str(f), "prices": "sha256:0",
                        "sha256": "sha256:" + hashlib.sha256(f.read_bytes()).hexdigest()}
                 for name, f in files.items()}
    (folder / "run.json").write_text(json.dumps({"format": 2, "options": {},
                                                 "scenarios": scenarios, "prices": "x"}))
    (folder / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _scenario(tmp_path: Path, name: str) -> Path:
    f = tmp_path / f"{name}.yaml"
    shutil.copy(FIXTURE, f)
    return f


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["budgets", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: not a run folder" in _err(capsys)
    assert main(["budgets", str(tmp_path)]) == 2
    assert f"{tmp_path}: not a run folder (no run.json)" in _err(capsys)
    (tmp_path / "run.json").write_text("{}")
    assert main(["budgets", str(tmp_path)]) == 2
    assert "(no trials.jsonl)" in _err(capsys)
    (tmp_path / "trials.jsonl").write_text("")
    assert main(["budgets", str(tmp_path)]) == 2
    assert "run.json: not a run.json" in _err(capsys)
    (tmp_path / "run.json").write_text('{"scenarios": {}}')
    assert main(["budgets", str(tmp_path)]) == 2
    assert "trials.jsonl: no trials yet" in _err(capsys)
    (tmp_path / "trials.jsonl").write_text('{"scenario": 3}\n')
    assert main(["budgets", str(tmp_path)]) == 2
    assert "trials.jsonl:1" in _err(capsys)


def test_too_few_trials_says_how_many_are_needed(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    f = _scenario(tmp_path, "a")
    rows = [_row("a", t, goal_met=t < 40) for t in range(50)]
    run = _run(tmp_path / "run", {"a": f}, rows)
    assert main(["budgets", str(run)]) == 2
    err = _err(capsys)
    assert str(run) in err and "0.99 quantile" in err
    assert "a has 50 trials of which 40 met their goal, 100 needed" in err
    assert main(["budgets", str(run), "--quantile", "0.975"]) == 0  # 40 needed
    capsys.readouterr()


@pytest.mark.parametrize("args, what", [
    (["--quantile", "1"], "--quantile must be between 0 and 1"),
    (["--quantile", "0"], "--quantile must be between 0 and 1"),
    (["--quantile", "nan"], "--quantile must be between 0 and 1"),
    (["--quantile", "x"], "invalid float value"),
    (["--margin", "0.9"], "--margin must be a finite number of at least 1"),
    (["--margin", "inf"], "--margin must be a finite number of at least 1"),
])
def test_bad_quantile_or_margin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                args: list[str], what: str) -> None:
    assert main(["budgets", str(tmp_path), *args]) == 2
    assert what in _err(capsys)


def test_help_names_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["budgets", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 0.99)" in out and "(default: 1.2)" in out and "--write" in out


def test_the_table_and_the_rows_it_proposes_from(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    f = _scenario(tmp_path, "a")
    rows = [_row("a", t, tool_calls=3 + (t == 0) * 7) for t in range(10)]
    rows += [_row("a", t, model="other", llm_calls=1000) for t in range(10)]
    rows += [_row("a", t, fault_profile="chaos", llm_calls=2000) for t in range(10)]
    run = _run(tmp_path / "run", {"a": f}, rows)
    assert main(["budgets", str(run), "--quantile", "0.9"]) == 0
    out = capsys.readouterr().out
    # configured model, none profile: calls 5..8, P90 8 -> 9.6 -> 10 with the margin
    line = next(ln for ln in out.splitlines() if "llm_calls" in ln)
    assert line.split() == ["a", "llm_calls", "100,000", "8", "10", "0", "of", "10", "(0.0%)"]
    # three tool calls in nine trials and ten in one: P90 3.7, x 1.2 = 4.44 -> 5
    tool = next(ln for ln in out.splitlines() if "tool_calls" in ln)
    assert tool.split() == ["tool_calls", "100,000", "3.7", "5", "1", "of", "10", "(10.0%)"]
    done = next(ln for ln in out.splitlines() if ln.startswith("a ") and "[" in ln)
    assert done.split() == ["a", "configured", "none", "10", "100%", "[0.72,", "1.00]",
                            "90%", "[0.60,", "0.98]"]  # 9 of 10 kept within every limit
    notes = " ".join(out.split())
    assert "a: 9 of the 9 goal-met trials within these limits would pass 80% of one" in notes
    assert "a --margin above 1.25" in notes
    assert main(["budgets", str(run), "--quantile", "0.9", "--model", "all",
                 "--faults", "all"]) == 0
    out = capsys.readouterr().out
    done = next(ln for ln in out.splitlines() if ln.startswith("a ") and "[" in ln)
    assert done.split()[:4] == ["a", "all", "all", "30"]  # the pooled rows
    assert "2,000" in out  # the chaos rows' calls are in the quantile now
    assert main(["budgets", str(run), "--quantile", "0.9", "--model", "nope"]) == 2
    assert "no trials with model nope (it has configured, other)" in _err(capsys)
    two = [_row("a", t, model=m) for t in range(10) for m in ("x", "y")]
    run2 = _run(tmp_path / "run2", {"a": f}, two)
    assert main(["budgets", str(run2), "--quantile", "0.9"]) == 2
    assert "ran with models x, y: choose one with --model" in _err(capsys)


def test_unbudgeted_rows_are_preferred_and_censored_ones_are_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _scenario(tmp_path, "a")
    cut = [_row("a", t, llm_calls=30 if t < 3 else 6, goal_met=t >= 3, outcome="done"
                if t >= 3 else "budget_exhausted", exhausted_limit=None if t >= 3
                else "llm_calls") for t in range(20)]
    run = _run(tmp_path / "budgeted", {"a": f}, cut)
    assert main(["budgets", str(run), "--quantile", "0.9"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "3 of 20 trials ran out of a limit" in out and "censored" in out
    free = [{**r, "budgets": "off", "llm_calls": 40 + r["trial"], "goal_met": True}
            for r in cut]
    both = _run(tmp_path / "both", {"a": f}, cut + [{**r, "model": "configured",
                                                     "fault_profile": "none"} for r in free])
    # the same trial numbers twice (a budgeted and an unbudgeted row each): the unbudgeted win
    assert main(["budgets", str(both), "--quantile", "0.9"]) == 0
    out = capsys.readouterr().out
    assert "every limit off" in " ".join(out.split()) and "censored" not in out
    line = next(ln for ln in out.splitlines() if "llm_calls" in ln)
    assert line.split()[3:5] == ["57.1", "69"]  # P90 of 40..59, x 1.2 = 68.52 -> 69


def test_write_sets_the_limits_of_every_scenario_and_nothing_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # run.json records the paths as given: relative to here
    files = {n: _scenario(tmp_path, n).relative_to(tmp_path) for n in ("a", "b")}
    rows = [_row(n, t) for n in files for t in range(10)]
    run = _run(tmp_path / "run", files, rows)
    before = {n: f.read_text() for n, f in files.items()}
    assert main(["budgets", "run", "--quantile", "0.9", "--write"]) == 0
    out = capsys.readouterr().out
    assert "wrote agent.limits in a.yaml" in out and "wrote agent.limits in b.yaml" in out
    for n, f in files.items():
        old, new = before[n].splitlines(), f.read_text().splitlines()
        changed = [(x, y) for x, y in zip(old, new, strict=True) if x != y]
        assert [y.split("#")[0].split() for _, y in changed] == [
            ["llm_calls:", "10"], ["tool_calls:", "4"], ["tokens_in:", "1210"],
            ["tokens_out:", "120"], ["cost_usd:", "0.0218"], ["wall_time_s:", "12"]]
        assert "# calls, retries included" in changed[0][1]
    # the files no longer are what the run measured: a second write is refused
    assert main(["budgets", str(run), "--quantile", "0.9", "--write"]) == 2
    assert "a.yaml, b.yaml: changed since the run" in _err(capsys)


def test_write_refuses_a_changed_file_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {n: _scenario(tmp_path, n) for n in ("a", "b", "c")}
    run = _run(tmp_path / "run", files, [_row(n, t) for n in files for t in range(10)])
    files["b"].write_text(files["b"].read_text() + "# edited after the run\n")
    before = {n: f.read_bytes() for n, f in files.items()}
    assert main(["budgets", str(run), "--quantile", "0.9", "--write"]) == 2
    err = _err(capsys)
    assert f"{files['b']}: changed since the run" in err and "nothing written" in err
    assert str(files["a"]) not in err
    assert {n: f.read_bytes() for n, f in files.items()} == before  # a and c untouched too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml", "c.yaml", "run"]
    assert main(["budgets", str(run), "--quantile", "0.9"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "b: its scenario file changed since the run" in out and "a: its" not in out
    files["b"].unlink()
    assert main(["budgets", str(run), "--quantile", "0.9", "--write"]) == 2
    assert f"{files['b']}: the scenario file of b is not there" in _err(capsys)
    assert main(["budgets", str(run), "--quantile", "0.9"]) == 0  # showing needs no file
    calls = [ln.split()[:3] for ln in capsys.readouterr().out.splitlines()
             if ln.startswith(("a ", "b ")) and "llm_calls" in ln]
    assert calls == [["a", "llm_calls", "100,000"], ["b", "llm_calls", "-"]]  # now: unknown


def test_one_file_that_cannot_be_edited_stops_every_write(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {n: _scenario(tmp_path, n) for n in ("a", "b")}
    files["b"].write_text("agent: {entry: pkg.mod:run, limits: {llm_calls: 3}}\n")
    run = _run(tmp_path / "run", files, [_row(n, t) for n in files for t in range(10)])
    before = {n: f.read_bytes() for n, f in files.items()}
    assert main(["budgets", str(run), "--quantile", "0.9", "--write"]) == 2
    assert f"{files['b']}:1, field 'agent': agent is a flow mapping" in _err(capsys)
    assert {n: f.read_bytes() for n, f in files.items()} == before


def test_write_follows_a_link_and_keeps_the_permissions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = _scenario(tmp_path, "real")
    real.chmod(0o600)
    link = tmp_path / "a.yaml"
    link.symlink_to(real.name)
    run = _run(tmp_path / "run", {"a": link}, [_row("a", t) for t in range(10)])
    assert main(["budgets", str(run), "--quantile", "0.9", "--write"]) == 0
    capsys.readouterr()
    assert link.is_symlink() and "llm_calls: 10" in real.read_text()
    assert real.stat().st_mode & 0o777 == 0o600
