"""Import of τ-bench's recorded results: calls and results paired by position, absent
fields left absent, and τ-bench's published pass^k reproduced from an imported file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness import load_trials
from harness.cli import main
from harness.report._taubench import transcript

DATA = Path(__file__).resolve().parents[1] / "data"
SUBSET = DATA / "taubench_gpt4o_airline_subset.json"
REWARDS = DATA / "taubench_gpt4o_airline_rewards.csv"


def test_tool_results_pair_with_calls_by_position_not_by_id() -> None:
    traj = [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_user", "arguments": "{\"user_id\": \"u\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_user", "content": "{}"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",  # the id repeats, as in the recorded data
             "function": {"name": "cancel", "arguments": "not json"}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_user", "content": "done"},
    ]
    turns = transcript(traj)
    assert [t["tool_name"] for t in turns if t["role"] == "tool"] == ["get_user", "cancel"]
    assert turns[0]["tool_call"] == {"name": "get_user", "arguments": {"user_id": "u"}}
    assert turns[2]["tool_call"]["arguments"] == {"_raw": "not json"}


def test_importing_the_recorded_subset(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "imported"
    assert main(["import", "taubench", str(SUBSET), "--out", str(out), "--model", "gpt-4o",
                 "--domain", "airline"]) == 0
    df = load_trials(out)
    assert len(df) == 5 and set(df["model"]) == {"gpt-4o"}
    assert set(df["suite"]) == {"taubench-airline"}
    assert df["cost_usd"].isna().all() and df["tokens_in"].isna().all()  # not recorded
    assert df["fault_profile"].isna().all()
    records = json.loads(SUBSET.read_text())
    by_key = {(f"airline-{r['task_id']:03d}", r["trial"]): r for r in records}
    for _, t in df.iterrows():
        rec = by_key[(t["scenario"], t["trial"])]
        assert t["goal_met"] == (rec["reward"] == 1.0)
        calls = sum(len(m.get("tool_calls") or []) for m in rec["traj"])
        assert t["tool_calls"] == calls
    unfinished = df[df["scenario"] == "airline-009"].iloc[0]
    assert unfinished["outcome"] == "failed" and not unfinished["goal_met"]
    lines = [json.loads(x) for x in (out / "transcripts.jsonl").read_text().splitlines()]
    assert {x["log_id"] for x in lines} == set(df["log_id"])
    # task 39 reuses a tool_call_id: each result still names the call before it
    t39 = next(x for x in lines if x["log_id"] == "taubench/airline-039/1")["transcript"]
    last_call = None
    for turn in t39:
        if turn["tool_call"]:
            last_call = turn["tool_call"]["name"]
        if turn["role"] == "tool":
            assert turn["tool_name"] == last_call
    summary = json.loads((out / "summary.json").read_text())
    assert summary["groups"][0]["cost_usd"] is None
    assert (out / "report.html").is_file()
    assert "gpt-4o" in capsys.readouterr().out


def test_pass_hat_k_of_an_imported_file_is_tau_benchs_published(tmp_path: Path) -> None:
    """The 200 recorded rewards in τ-bench's record format (trajectories reduced to the
    system prompt), imported and reported: 0.420 / 0.273 / 0.220 / 0.200."""
    with REWARDS.open() as f:
        records = [{"task_id": int(r["task_id"]), "trial": int(r["trial"]),
                    "reward": float(r["reward"]),
                    "info": {"reward_info": {"reward": float(r["reward"]), "info": {
                        "r_actions": float(r["reward"])}}},
                    "traj": [{"role": "system", "content": "policy"}]}
                   for r in csv.DictReader(f)]
    src = tmp_path / "gpt-4o-airline.json"
    src.write_text(json.dumps(records))
    assert main(["import", "taubench", str(src), "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    overall = summary["groups"][0]
    assert overall["trials"] == 200
    got = {k: round(v, 3) for k, v in overall["pass_hat_k"].items()}
    assert got == {"1": 0.420, "2": 0.273, "3": 0.220, "4": 0.200}


@pytest.mark.parametrize(("text", "says"), [
    ("{", "not JSON"),
    ("{}", "not a list"),
    ('[{"task_id": 1, "trial": 0, "reward": 1.0}]', "field '[0].traj'"),
    ('[{"task_id": "x", "trial": 0, "reward": 1.0, "traj": []}]', "field '[0].task_id'"),
])
def test_a_bad_taubench_file_exits_2(tmp_path: Path, text: str, says: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "bad.json"
    src.write_text(text)
    assert main(["import", "taubench", str(src), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert says in err and str(src) in err
    assert not (tmp_path / "o").exists()
