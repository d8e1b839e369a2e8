"""Hostile or huge scenario files: refused with exit 2, the file, the limit and the line,
never a hang, a memory blow-up or a traceback.

Inputs that used to hang (an alias bomb, a FIFO) run the real command in a subprocess
with a timeout, all started at once by one fixture so the suite waits for them together;
the rest run ``harness.cli.main`` in-process. Every command that opens a scenario is
covered: ``scenarios``, ``run``, ``fuzz``, ``replay`` (of a case naming the scenario, and
of a case file that is itself a FIFO) and the pytest plugin's collection; they all read
through one loader, ``harness.scenario._yaml.read_yaml``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.errors import ConfigError
from harness.scenario import _yaml, load_scenario
from harness.scenario._yaml import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES, read_yaml

ROOT = Path(__file__).resolve().parent.parent
MUG = (ROOT / "tests/fixtures/classic/support/refund-broken-mug.yaml").read_text()
#: Generous: the slowest of these finishes in seconds; a hang is what this catches.
TIMEOUT_S = 120


def with_state(extra: str) -> str:
    """The bundled refund scenario with ``extra`` (indented YAML lines) in ``world.state``."""
    assert "  state:\n" in MUG
    return MUG.replace("  state:\n", "  state:\n" + extra, 1)


def alias_bomb() -> str:
    """Ten levels of nine aliases each: a kilobyte of text, 9**10 values expanded."""
    lines = ['    lol0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    lines += [f"    lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)]
    return with_state("".join(lines))


def bomb_line() -> int:
    """The line of the list whose aliases first pass ``MAX_VALUES`` (250,000): the lists
    up to lol4 stand for 74,732 values, and lol5 for nine times lol4's 66,430, so its
    third *a4 passes the limit."""
    assert MAX_VALUES == 250_000
    lines = alias_bomb().splitlines()
    return 1 + lines.index(next(ln for ln in lines if ln.startswith("    lol5:")))


def _cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def hanging_inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every command on an alias bomb and on a FIFO, started together; name -> outcome.

    The FIFO has no writer: a reader that opens it blocking waits forever. An outcome
    is ``(exit code, stdout, stderr)``, or ``"hung"`` when the timeout passed.
    """
    d = tmp_path_factory.mktemp("hostile")
    bomb = d / "bomb.yaml"
    bomb.write_text(alias_bomb())
    fifo = d / "fifo.yaml"
    os.mkfifo(fifo)
    case_fifo = d / "case-fifo.json"
    os.mkfifo(case_fifo)
    case = d / "case.json"
    case.write_text(json.dumps({
        "format": "harness-fuzz-case", "version": 1, "harness_version": "0",
        "scenario": str(fifo), "scenario_name": "x", "fuzz_seed": 0, "trial_seed": 0,
        "schedule": {"profile": "fuzz", "seed": 0},
        "violation": {"kind": "false_goal", "message": "m"}}))
    (d / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    procs = {
        "scenarios-bomb": _cli("scenarios", str(bomb), cwd=d),
        "run-bomb": _cli("run", str(bomb), "--out", str(d / "run-bomb"), cwd=d),
        "scenarios-fifo": _cli("scenarios", str(fifo), cwd=d),
        "run-fifo": _cli("run", str(fifo), "--out", str(d / "run-fifo"), cwd=d),
        "fuzz-fifo": _cli("fuzz", str(fifo), "--out", str(d / "fz"), cwd=d),
        "replay-scenario-fifo": _cli("replay", str(case), cwd=d),
        "replay-case-fifo": _cli("replay", str(case_fifo), cwd=d),
        "pytest-bomb": subprocess.Popen(
            [sys.executable, "-m", "pytest", str(bomb), "-q"], cwd=d,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    }
    outcomes: dict[str, Any] = {"dir": d}
    try:
        for name, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=TIMEOUT_S)
                outcomes[name] = (proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                outcomes[name] = "hung"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    yield outcomes


def _refused(outcome: Any, path: Path, *needles: str) -> str:
    assert outcome != "hung", f"still running after {TIMEOUT_S}s"
    code, out, err = outcome
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    line = err.strip()
    assert line.startswith("harness: ") and len(line.splitlines()) == 1, err
    assert str(path) in line, line
    for needle in needles:
        assert needle in line, line
    return line


@pytest.mark.slow
@pytest.mark.parametrize("command", ["scenarios", "run"])
def test_an_alias_bomb_is_refused_at_the_alias_that_passes_the_limit(
        hanging_inputs: dict[str, Any], command: str) -> None:
    d: Path = hanging_inputs["dir"]
    _refused(hanging_inputs[f"{command}-bomb"], d / "bomb.yaml",
             f"bomb.yaml:{bomb_line()}:", f"more than {MAX_VALUES:,} values once alias *a4")
    assert not (d / "run-bomb").exists()


@pytest.mark.slow
@pytest.mark.parametrize("command", ["scenarios", "run", "fuzz", "replay-scenario"])
def test_a_fifo_as_a_scenario_is_refused_without_opening_it_blocking(
        hanging_inputs: dict[str, Any], command: str) -> None:
    d: Path = hanging_inputs["dir"]
    _refused(hanging_inputs[f"{command}-fifo"], d / "fifo.yaml", "FIFO",
             "must be a regular file")
    assert not (d / "run-fifo").exists()


@pytest.mark.slow
def test_a_fifo_as_a_case_file_is_refused(hanging_inputs: dict[str, Any]) -> None:
    d: Path = hanging_inputs["dir"]
    _refused(hanging_inputs["replay-case-fifo"], d / "case-fifo.json", "FIFO")


@pytest.mark.slow
def test_the_pytest_plugin_reports_an_alias_bomb_as_a_collection_error(
        hanging_inputs: dict[str, Any]) -> None:
    """(A FIFO never reaches the plugin: pytest collects regular files only.)"""
    outcome = hanging_inputs["pytest-bomb"]
    assert outcome != "hung", f"pytest still collecting after {TIMEOUT_S}s"
    code, out, _ = outcome
    assert code == 2, out  # pytest: interrupted by a collection error
    assert "invalid scenario" in out and f"bomb.yaml:{bomb_line()}" in out, out
    assert f"more than {MAX_VALUES:,} values" in out and "Traceback" not in out, out


# -- in-process: inputs that are slow or crash rather than hang ---------------------------


def _main_refuses(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert "Traceback" not in cap.out + cap.err
    err = cap.err.strip()
    assert err.startswith("harness: ") and len(err.splitlines()) == 1, cap.err
    return err


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 50 MB file once took a minute and 1.5 GB; now its size alone refuses it. The file
    is sparse: its size is all it has, so nothing here depends on reading it."""
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.write(MUG.encode())
        f.truncate(50_000_000)
    for argv in (["scenarios", str(path)], ["run", str(path), "--out", str(tmp_path / "r")],
                 ["fuzz", str(path), "--out", str(tmp_path / "f")]):
        err = _main_refuses(argv, capsys)
        assert str(path) in err and "50,000,000 bytes" in err and f"{MAX_FILE_BYTES:,}" in err
    assert not (tmp_path / "r").exists()


def test_a_file_just_under_the_size_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big-comment.yaml"
    filler = "# " + "x" * 98 + "\n"
    path.write_text(MUG + filler * ((MAX_FILE_BYTES - len(MUG)) // len(filler)))
    assert path.stat().st_size <= MAX_FILE_BYTES
    assert load_scenario(path).scenario.name == "refund-broken-mug"


@pytest.mark.parametrize(("name", "deep", "line"), [
    ("brackets", "    deep: " + "[" * 10_000 + "]" * 10_000 + "\n", 37),
    ("blocks", "".join(f"{'  ' * (i + 2)}k{i}:\n" for i in range(200)), 37 + MAX_DEPTH - 3),
])
def test_deep_nesting_is_refused_naming_the_line_and_the_limit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, deep: str,
        line: int) -> None:
    """10,000 levels once ended in a RecursionError traceback."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(with_state(deep))
    assert MUG.splitlines()[36 - 1] == "  state:"
    for argv in (["scenarios", str(path)], ["run", str(path), "--out", str(tmp_path / "r")]):
        err = _main_refuses(argv, capsys)
        assert f"{path}:{line}:" in err and f"more than {MAX_DEPTH} levels" in err, err


def test_an_alias_that_nests_past_the_limit_where_it_is_used_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each alias alone is shallow; used inside another, each deeper, they nest past it."""
    levels = 40
    body = "    a0: &a0 " + "[" * levels + "1" + "]" * levels + "\n"
    body += "    a1: &a1 " + "[" * levels + "*a0" + "]" * levels + "\n"
    path = tmp_path / "alias-deep.yaml"
    path.write_text(with_state(body))
    err = _main_refuses(["scenarios", str(path)], capsys)
    assert f"{path}:38:" in err and f"more than {MAX_DEPTH} levels deep once alias *a0" in err


def test_an_alias_inside_what_it_names_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(with_state("    loop: &me [1, *me]\n"))
    err = _main_refuses(["scenarios", str(path)], capsys)
    assert f"{path}:37:" in err and "alias *me" in err


def test_a_merge_key_still_works_and_an_override_is_the_line_named(tmp_path: Path) -> None:
    text = MUG.replace("  limits:\n", "  limits: &lim\n", 1)
    path = tmp_path / "merge.yaml"
    path.write_text(text + "\nextra_limits:\n  <<: *lim\n  llm_calls: -1\n")
    data, node = read_yaml(path)
    assert data["extra_limits"]["llm_calls"] == -1
    assert data["extra_limits"]["tool_calls"] == data["agent"]["limits"]["tool_calls"]
    n = len(text.splitlines())
    assert _yaml.line_of(node, ("extra_limits", "llm_calls")) == n + 4


# -- the count is exact: what the loader counts is what a walk of the data finds ----------


def _values(data: Any) -> int:
    """Keys, items and scalars, every shared object walked again (as any later pass does)."""
    if isinstance(data, dict):
        return 1 + sum(_values(k) + _values(v) for k, v in data.items())
    if isinstance(data, list):
        return 1 + sum(_values(v) for v in data)
    return 1


def _depth(data: Any) -> int:
    if isinstance(data, dict):
        return 1 + max((max(_depth(k), _depth(v)) for k, v in data.items()), default=0)
    if isinstance(data, list):
        return 1 + max((_depth(v) for v in data), default=0)
    return 1


@st.composite
def shared_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Small documents whose parts are reused, so ``safe_dump`` writes anchors and aliases."""
    leaves = st.one_of(st.integers(-5, 5), st.booleans(), st.text("ab", max_size=3))
    pool: list[Any] = []

    def part(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        fresh = st.one_of(st.lists(children, max_size=3),
                          st.dictionaries(st.text("xyz", min_size=1, max_size=2), children,
                                          max_size=3))
        return fresh.map(lambda x: pool.append(x) or x)

    tree = st.recursive(leaves, part, max_leaves=12)
    doc: dict[str, Any] = {}
    for i in range(draw(st.integers(1, 4))):
        reuse = pool and draw(st.booleans())
        doc[f"k{i}"] = draw(st.sampled_from(pool)) if reuse else draw(tree)
    return doc


@settings(max_examples=60, database=None, suppress_health_check=list(HealthCheck))
@given(shared_documents())
def test_the_limits_are_exact_for_documents_with_aliases(doc: dict[str, Any]) -> None:
    import tempfile

    text = yaml.safe_dump(doc)
    values, depth = _values(doc), _depth(doc)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "doc.yaml"
        path.write_text(text)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_yaml, "MAX_VALUES", values)
            mp.setattr(_yaml, "MAX_DEPTH", depth)
            assert read_yaml(path)[0] == doc
            mp.setattr(_yaml, "MAX_VALUES", values - 1)
            with pytest.raises(ConfigError, match="values"):
                read_yaml(path)
            mp.setattr(_yaml, "MAX_VALUES", values)
            mp.setattr(_yaml, "MAX_DEPTH", depth - 1)
            with pytest.raises(ConfigError, match="levels"):
                read_yaml(path)
