"""Reading trials: the documented columns, absent fields as NA, bad lines refused by
file, line and field (exit 2), and summaries that do not depend on line order."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from core_rows import every_outcome, row, write_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import harness
from harness.cli import main
from harness.errors import ConfigError
from harness.report import build_report
from harness.report._load import COLUMN_NAMES
from harness.report._summary import dumps


def test_load_trials_gives_the_documented_columns_sorted(tmp_path: Path) -> None:
    rows = every_outcome()
    path = write_rows(tmp_path / "trials.jsonl", list(reversed(rows)))
    df = harness.load_trials(tmp_path)
    assert tuple(df.columns) == COLUMN_NAMES and len(df) == len(rows)
    keys = list(zip(df["suite"], df["scenario"], df["model"], df["fault_profile"],
                    df["trial"], strict=True))
    assert keys == sorted(keys)
    assert str(df["tokens_in"].dtype) == "Int64" and df["goal_met"].dtype == bool
    assert harness.load_trials(path).equals(df)


def test_a_foreign_file_with_only_required_fields_has_all_na_columns(tmp_path: Path) -> None:
    lines = [{"scenario": "t1", "model": "x", "trial": i, "outcome": "done",
              "goal_met": i % 2 == 0} for i in range(4)]
    df = harness.load_trials(write_rows(tmp_path / "f.jsonl", lines))
    for col in ("cost_usd", "tokens_in", "tokens_out", "llm_calls", "duration_s", "suite",
                "fault_profile", "escalations"):
        assert df[col].isna().all(), col
    summary = build_report(tmp_path / "f.jsonl").summary
    overall = summary["groups"][0]
    assert overall["cost_usd"] is None and overall["tokens_in"] is None
    assert overall["tokens_in_mean"] is None and overall["escalation_rate"] is None
    assert overall["goal_completion_rate"] == 0.5
    assert [v["scenario"] for v in summary["verdicts"]] == ["t1"]


@pytest.mark.parametrize(("line", "says"), [
    ("{not json", ":2: not a JSON object"),
    ("[1, 2]", ":2: not a JSON object"),
    (json.dumps({k: v for k, v in row().items() if k != "goal_met"}),
     ":2, field 'goal_met': required field is missing"),
    (json.dumps({**row(), "trial": "3"}), ":2, field 'trial': must be an integer"),
    (json.dumps({**row(), "goal_met": 1}), ":2, field 'goal_met': must be true or false"),
    (json.dumps({**row(), "cost_usd": "cheap"}), ":2, field 'cost_usd': must be a finite"),
    (json.dumps({**row(), "model": None}), ":2, field 'model': required field is null"),
    (json.dumps({**row(), "outcome": "won"}), ":2, field 'outcome': unknown outcome"),
    (json.dumps({**row(), "checks": ["x"]}), ":2, field 'checks': must be a list"),
    (json.dumps(row()).replace('"cost_usd": 0.01', '"cost_usd": 1e400'),
     ":2, field 'cost_usd': must be a finite number"),
    (json.dumps(row()).replace('"cost_usd": 0.01', '"cost_usd": NaN'),
     ":2: NaN is not a JSON number"),
])
def test_bad_lines_name_file_line_and_field_and_exit_2(
        tmp_path: Path, line: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "trials.jsonl"
    path.write_text(json.dumps(row()) + "\n" + line + "\n")
    with pytest.raises(ConfigError) as err:
        harness.load_trials(path)
    assert str(path) in str(err.value)
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    msg = capsys.readouterr().err
    assert f"{path}{says}" in msg and "Traceback" not in msg
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_missing_path_is_a_usage_error(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such trials file" in capsys.readouterr().err


_ROWS = every_outcome()
_BASE: dict[int, str] = {}


def _base_summary(tmp: Path, seed: int) -> str:
    if seed not in _BASE:
        write_rows(tmp / "trials.jsonl", _ROWS)
        _BASE[seed] = dumps(build_report(tmp / "trials.jsonl", seed=seed).summary)
    return _BASE[seed]


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(_ROWS))))
def test_summary_is_byte_identical_whatever_the_line_order(
        tmp_path_factory: pytest.TempPathFactory, order: list[int]) -> None:
    shuffled = tmp_path_factory.mktemp("b")
    write_rows(shuffled / "trials.jsonl", [_ROWS[i] for i in order])
    got = dumps(build_report(shuffled / "trials.jsonl", seed=11).summary)
    assert got == _base_summary(tmp_path_factory.mktemp("a"), 11)
    assert got != _base_summary(tmp_path_factory.mktemp("c"), 12)


def test_frame_columns_are_pandas_na_not_zero(tmp_path: Path) -> None:
    lines = [{**row(trial=0)}, {k: v for k, v in row(trial=1).items() if k != "tokens_in"}]
    df = harness.load_trials(write_rows(tmp_path / "t.jsonl", lines))
    assert df["tokens_in"].iloc[0] == 1000 and df["tokens_in"].iloc[1] is pd.NA


_OPTIONAL = st.fixed_dictionaries({}, optional={
    "suite": st.sampled_from(["a", "b"]), "fault_profile": st.sampled_from(["none", "chaos"]),
    "cost_usd": st.floats(0, 10, allow_nan=False), "tokens_in": st.integers(0, 10**6),
    "llm_calls": st.integers(0, 50), "escalations": st.integers(0, 3),
    "checks": st.lists(st.fixed_dictionaries({"check": st.text(max_size=5),
                                              "ok": st.booleans()}), max_size=2),
})
_LINE = st.tuples(st.sampled_from(["s1", "s2"]), st.sampled_from(["m1", "m2"]),
                  st.integers(0, 5), st.sampled_from(["done", "failed", "crashed"]),
                  st.booleans(), _OPTIONAL)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_LINE, min_size=1, max_size=12))
def test_every_line_comes_back_with_absent_fields_as_na(
        tmp_path_factory: pytest.TempPathFactory, lines: list[tuple]) -> None:  # type: ignore[type-arg]
    rows = [{"scenario": s, "model": m, "trial": t, "outcome": o, "goal_met": g, **opt}
            for s, m, t, o, g, opt in lines]
    df = harness.load_trials(write_rows(tmp_path_factory.mktemp("p") / "t.jsonl", rows))
    assert len(df) == len(rows)
    for col in ("suite", "cost_usd", "tokens_in", "llm_calls", "escalations", "checks"):
        given_ = sorted(repr(r[col]) for r in rows if col in r)
        got = sorted(repr(v.item() if hasattr(v, "item") else v) for v in df[col]
                     if not (v is None or v is pd.NA or v != v))
        assert got == given_, col
        assert int(df[col].isna().sum()) == sum(col not in r for r in rows), col
