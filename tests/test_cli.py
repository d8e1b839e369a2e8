"""The ``harness`` command: the demo, the diagram, and usage errors without a traceback."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from harness.cli import main
from harness.core import TRANSITIONS, State


def test_demo_exits_zero_and_prints_the_state_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    [line] = [ln for ln in out.splitlines() if ln.startswith("state path: ")]
    path = line.removeprefix("state path: ").split(" -> ")
    assert path[0] == "idle" and path[-1] == "done"
    assert "awaiting_human" in path and "reflecting" in path
    for a, b in itertools.pairwise(path):
        assert any(b in targets for targets in TRANSITIONS[State(a)].values()), (a, b)
    assert "outcome=done" in out


def test_diagram_prints_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    [*] --> idle" in lines
    for state in State:
        assert any(f" {state.value} " in f" {ln} " for ln in lines), state


@pytest.mark.parametrize("argv", [["bogus"], [], ["demo", "--no-such-flag"]])
def test_usage_errors_exit_two_without_a_traceback(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness:") and "Traceback" not in err


def test_an_unknown_command_in_a_real_process_exits_two() -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "frobnicate"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "frobnicate" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""
