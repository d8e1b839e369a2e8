"""The run folder as a user meets it: one writer at a time, resumed only with the same
inputs, never half-made by a refused start, and a fresh default folder each run.

- a second ``harness run`` into a folder another process is writing exits 2 naming the
  holder, and writes nothing;
- ``--resume`` after a scenario file (or the price table) changed is refused naming
  what changed; the same folder and scenarios spelled as relative or absolute paths,
  with a trailing slash, are the same run;
- a start refused for a missing API key or cassette leaves no folder, and a folder
  left by a failed start does not block the corrected rerun;
- user mistakes on the command line (``--out`` a file, a path under a file, an
  impossible place, an enormous ``--trials``, an empty ``--out``, a ``--name`` with a
  path in it) get one line and exit 2, never a traceback;
- without ``--out`` each run gets a new folder with a ``latest`` link, so the same
  command runs twice in a row, and ``--resume`` continues the latest;
- ``--version``, help text with defaults, and CLI wording in transport errors.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import _parser, main
from harness.runner import _folder

ROOT = Path(__file__).resolve().parent.parent
MUG = ROOT / "tests/fixtures/classic/support/refund-broken-mug.yaml"


def run(*argv: str | Path) -> int:
    return main(["run", *map(str, argv), "--no-trace"])


def test_a_second_process_into_a_locked_folder_is_refused_naming_the_holder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from harness.runner._folder import RunLock
            lock = RunLock(Path({str(out)!r}))
            lock.acquire()
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        assert run(MUG, "--trials", 1, "--out", out) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "in use by another harness run" in err
        assert not (out / "trials.jsonl").exists() and not (out / "run.json").exists()
        assert run(MUG, "--trials", 1, "--out", out, "--resume") == 2
    finally:
        holder.communicate("", timeout=30)
    # the holder is gone, and with it the lock: the folder is usable again
    assert run(MUG, "--trials", 1, "--out", out) in (0, 1)


def test_resume_after_a_scenario_changed_is_refused_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "mug.yaml"
    shutil.copy(MUG, scenario)
    out = tmp_path / "run"
    assert run(scenario, "--trials", 2, "--out", out) in (0, 1)
    before = (out / "trials.jsonl").read_bytes()
    scenario.write_text(scenario.read_text() + "\n# an edit\n")
    assert run(scenario, "--trials", 3, "--out", out, "--resume") == 2
    err = capsys.readouterr().err
    assert "scenario refund-broken-mug changed since the run started" in err
    assert "option trials: was 2, now 3" in err
    assert (out / "trials.jsonl").read_bytes() == before


def test_resume_after_the_price_table_changed_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    assert run(MUG, "--trials", 1, "--out", out) in (0, 1)
    monkeypatch.setattr(_folder, "price_table_hash", lambda: "sha256:other")
    assert run(MUG, "--trials", 1, "--out", out, "--resume") == 2
    assert "the price table changed" in capsys.readouterr().err


def test_the_same_folder_spelled_another_way_is_the_same_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    (work / "scenarios").mkdir(parents=True)
    shutil.copy(MUG, work / "scenarios" / MUG.name)
    monkeypatch.chdir(work)
    assert run("scenarios", "--trials", 2, "--out", "reports/x") in (0, 1)
    trials = work / "reports/x/trials.jsonl"
    first = trials.read_bytes()
    trials.write_bytes(first.splitlines(keepends=True)[0])  # as if killed after one trial
    assert run(f"{work}/scenarios/", "--trials", 2, "--out", f"{work}/reports/x/",
               "--resume") in (0, 1)
    def lines(data: bytes) -> list[dict[str, object]]:  # a re-run trial logs under a new key
        return sorted((json.loads(ln) | {"log_id": ""} for ln in data.splitlines()),
                      key=lambda d: str(d["run_id"]))

    assert lines(trials.read_bytes()) == lines(first)


@pytest.mark.parametrize(("transport", "says"), [
    ("live", "needs an API key: set ANTHROPIC_API_KEY"),
    ("replay", "no cassette"),
])
def test_a_refused_start_leaves_no_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        transport: str, says: str) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = tmp_path / "run"
    assert run(MUG, "--trials", 1, "--out", out, "--transport", transport,
               "--cassettes", tmp_path / "none") == 2
    err = capsys.readouterr().err
    assert says in err and "transport=" not in err and "api_key=" not in err
    assert not out.exists()
    assert run(MUG, "--trials", 1, "--out", out) in (0, 1)


def test_a_folder_left_by_a_failed_start_does_not_block_the_rerun(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("{}\n")
    (out / "spans.jsonl").write_text("")
    assert run(MUG, "--trials", 1, "--out", out) in (0, 1)
    assert (out / "trials.jsonl").read_bytes().count(b"\n") == 1


def _one_line_exit_2(argv: list[str], cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


@pytest.mark.slow
def test_command_line_mistakes_get_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    cases = {
        ("--out", "afile"): "is a file, not a folder",
        ("--out", "afile/below"): "afile is a file",
        ("--out", "/proc/harness/run"): "cannot make the run folder",
        ("--trials", "1000000000000"): "--trials must be at most 100,000",
        ("--out", ""): "--out: the path is empty",
        ("--name", "../.."): "--name '../..'",
        ("--name", "a/b"): "--name 'a/b'",
    }
    for extra, says in cases.items():
        # the last --trials given wins, so the enormous one is the one parsed
        err = _one_line_exit_2(["run", str(MUG), "--trials", "1", *extra], tmp_path)
        assert says in err, (extra, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_each_default_run_gets_a_fresh_folder_and_resume_takes_the_latest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(MUG, "--trials", 1) in (0, 1)
    assert run(MUG, "--trials", 1) in (0, 1)  # the README's sequence: no "already holds a run"
    base = tmp_path / "reports/refund-broken-mug"
    runs = sorted(p for p in base.iterdir() if not p.is_symlink())
    assert len(runs) == 2
    assert (base / "latest").resolve() == runs[1].resolve()
    assert run(MUG, "--trials", 2, "--resume") == 2  # other inputs than the latest run
    assert run(MUG, "--trials", 1, "--resume") in (0, 1)
    assert (runs[1] / "trials.jsonl").read_bytes().count(b"\n") == 1


def test_resume_without_a_latest_run_is_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(MUG, "--trials", 1, "--resume") == 2
    assert "no run to resume" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_version_and_help_show_what_a_user_needs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("harness ")
    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 32)" in text and "(default: simulated)" in text
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        for action in command._actions:
            assert action.help, f"harness {name} {action.dest} has no help text"


def test_record_says_where_cassettes_go(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    tapes = tmp_path / "tapes"
    assert run(MUG, "--trials", 1, "--out", tmp_path / "run", "--record",
               "--cassettes", tapes) in (0, 1)
    assert f"recording cassettes to {tapes}" in capsys.readouterr().err
    assert [p.name for p in tapes.iterdir()] == ["refund-broken-mug__configured__none__0.json"]
    assert run(MUG, "--trials", 1, "--out", tmp_path / "again", "--transport", "replay",
               "--cassettes", tapes) in (0, 1)
    assert (tmp_path / "again/trials.jsonl").exists()


def test_the_lock_file_is_left_unlocked_after_a_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run(MUG, "--trials", 1, "--out", out) in (0, 1)
    lock = _folder.RunLock(out)
    lock.acquire()  # would raise if the run had kept it
    lock.release()
    assert "pid" in (out / ".lock").read_text() or os.name != "posix"


def test_resume_after_a_scenarios_own_price_file_changed_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = json.loads((ROOT / "harness/data/prices.json").read_text())
    table = tmp_path / "prices.json"
    table.write_text(json.dumps(prices))
    scenario = tmp_path / "mug.yaml"
    scenario.write_text(MUG.read_text() + "prices: prices.json\n")
    out = tmp_path / "run"
    assert run(scenario, "--trials", 1, "--out", out) in (0, 1)
    for entry in prices["models"].values():
        entry["output"] *= 2
    table.write_text(json.dumps(prices))  # the scenario file itself is unchanged
    assert run(scenario, "--trials", 1, "--out", out, "--resume") == 2
    assert "the price table of scenario refund-broken-mug changed" in capsys.readouterr().err


def test_result_files_are_readable_by_others(tmp_path: Path) -> None:
    """A CI job's web server or another user reads the reports: no file is left private."""
    out = tmp_path / "run"
    assert run(MUG, "--trials", 1, "--out", out) in (0, 1)
    for name in ("run.json", "trials.jsonl", "summary.json", "report.html", "junit.xml"):
        assert (out / name).stat().st_mode & 0o044 == 0o044, name
