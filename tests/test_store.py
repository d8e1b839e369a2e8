"""The event log: append-only SQLite in WAL mode, versioned, loud about corruption, and
flat in bytes per step however long the run."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import Script, arun, make_config, make_roles, model, plan_step, run_agent

from fakes.scripted import Call
from harness.driver import Driver
from harness.errors import LogDecodeError, LogError, LogSchemaError
from harness.store import INTENT, SCHEMA_VERSION, MemoryRecorder, Record, SQLiteRecorder, decode
from harness.tools import ToolRegistry

RUN = "run-1"


def writing_script() -> Script:
    """A run whose log holds a tool intent: record #3 is an intent, so from there on a
    record's seq and its event's index differ."""
    return Script(plans=[[plan_step("s1", "code")]],
                  steps={"s1": [[Call("record", {"text": "x"})], "recorded"]})


def logged_run(path: Path) -> list[Record]:
    rec = SQLiteRecorder(path)
    run_agent(make_config(), model(writing_script()), recorder=rec, run_id=RUN)
    records = rec.read_run(RUN)
    rec.close()
    assert [r.kind for r in records][:6] == [
        "run_started", "model_replied", "model_replied", INTENT, "tool_returned", "model_replied"]
    return records


def test_the_log_only_ever_inserts(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    rec = SQLiteRecorder(path)
    statements: list[str] = []
    rec._db.set_trace_callback(statements.append)
    run_agent(make_config(), model(writing_script()), recorder=rec, run_id="a")
    first = rec.read_run("a")
    run_agent(make_config(), model(writing_script()), recorder=rec, run_id="b")
    arun(Driver(model=model(writing_script()), recorder=rec).resume("a"))  # finished: a no-op
    touching = [s for s in statements if "events" in s.lower()]
    assert touching and all(s.lstrip().upper().startswith(("INSERT INTO EVENTS", "SELECT"))
                            for s in touching), touching
    assert not [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "DELETE",
                                                                         "REPLACE", "DROP"))]
    assert rec.read_run("a") == first, "an earlier run's records never change"
    rec.close()
    db = sqlite3.connect(path)
    objects = db.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
    assert ("table", "events") in objects
    assert not [o for o in objects if o[0] == "trigger"]
    seqs = db.execute("SELECT run_id, seq FROM events ORDER BY run_id, seq").fetchall()
    for run_id in ("a", "b"):
        mine = [s for r, s in seqs if r == run_id]
        assert mine == list(range(len(mine))), "one row per record, numbered without gaps"


def test_appending_out_of_order_is_refused(tmp_path: Path) -> None:
    for rec in (SQLiteRecorder(tmp_path / "x.sqlite"), MemoryRecorder()):
        rec.open_run("r")
        rec.append("r", 0, "run_started", "{}")
        with pytest.raises(LogError):
            rec.append("r", 0, "run_started", "{}")
        with pytest.raises(LogError):
            rec.append("r", 5, "model_replied", "{}")
        rec.close()


def test_wal_mode_is_on(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    SQLiteRecorder(path).close()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_the_schema_version_is_written_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    SQLiteRecorder(path).close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),)
    SQLiteRecorder(path).close()  # the same version opens again
    with db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.close()
    with pytest.raises(LogSchemaError) as err:
        SQLiteRecorder(path)
    assert "99" in str(err.value) and str(path) in str(err.value)


def test_a_file_that_is_not_a_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LogError) as err:
        SQLiteRecorder(path)
    assert str(path) in str(err.value)


def _payload(records: list[Record], seq: int) -> str:
    return records[seq].payload


CORRUPTIONS: dict[str, tuple[int, Callable[[list[Record]], tuple[str, str]], str]] = {
    # name: (seq, new (kind, payload), what the message says)
    "garbage payload": (5, lambda rs: ("model_replied", "}}not json{{"), "model_replied"),
    "truncated json": (4, lambda rs: ("tool_returned", _payload(rs, 4)[:40]), "tool_returned"),
    "row kind disagrees with payload": (
        5, lambda rs: ("tool_returned", _payload(rs, 5)), "payload is 'model_replied'"),
    "unknown kind": (5, lambda rs: ("telepathy", _payload(rs, 5)), "unknown record kind"),
    "event that does not fold": (
        4, lambda rs: ("tool_returned", _payload(rs, 4).replace('"s1#2"', '"s1#99"')),
        "does not fold"),
    "bad tool intent": (3, lambda rs: (INTENT, '{"tool": "record"}'), "bad tool intent"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_corrupted_log_stops_the_resume_naming_run_and_record(tmp_path: Path, case: str) -> None:
    path = tmp_path / "log.sqlite"
    records = logged_run(path)
    seq, corrupt, says = CORRUPTIONS[case]
    kind, payload = corrupt(records)
    db = sqlite3.connect(path)
    with db:  # the test tampers with the file directly, as a disk or a person might
        db.execute("UPDATE events SET kind=?, payload=? WHERE run_id=? AND seq=?",
                   (kind, payload, RUN, seq))
    db.close()
    rec = SQLiteRecorder(path)
    with pytest.raises(LogDecodeError) as err:
        arun(Driver(model=model(writing_script()), recorder=rec,
                    tools=ToolRegistry()).resume(RUN))
    assert err.value.run_id == RUN and err.value.seq == seq
    message = str(err.value)
    assert f"'{RUN}'" in message and f"#{seq}" in message and says in message
    assert len(rec.read_run(RUN)) == len(records), "nothing was appended to a bad log"
    rec.close()


def test_a_lost_record_is_an_event_that_does_not_fold(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    logged_run(path)
    db = sqlite3.connect(path)
    with db:
        db.execute("DELETE FROM events WHERE run_id=? AND seq=2", (RUN,))
    db.close()
    rec = SQLiteRecorder(path)
    with pytest.raises(LogDecodeError) as err:
        arun(Driver(model=model(writing_script()), recorder=rec).resume(RUN))
    assert err.value.seq == 4, "the tool result answers a call the log never issued"
    rec.close()


def test_decoding_a_log_that_does_not_start_with_run_started_fails() -> None:
    records = [Record(0, "tool_returned", json.dumps(
        {"kind": "tool_returned", "effect_id": "x#1", "output": 1}))]
    with pytest.raises(LogDecodeError) as err:
        decode("r", records)
    assert "run_started" in str(err.value)


# --- bytes per step ------------------------------------------------------------------------


def looping_run(steps: int, path: Path) -> tuple[int, int]:
    """A run whose one step makes ``steps`` tool calls; returns (payload bytes, file bytes)."""
    script = Script(
        plans=[[plan_step("s1", "research")]], input_tokens=100,
        steps={"s1": lambda t: [Call("lookup", {"query": f"page {t:05d}"})] if t < steps else "end"},
    )
    rec = SQLiteRecorder(path)
    ran = run_agent(make_config(roles=make_roles(research={"max_turns": steps + 1})),
                    model(script), recorder=rec)
    assert ran.result.outcome == "done" and ran.ctx.used.tool_calls == steps
    payload = sum(len(r.payload) for r in rec.read_run("run-1"))
    rec.close()
    return payload, path.stat().st_size


def test_bytes_per_step_stay_flat(tmp_path: Path) -> None:
    """Each step (a model turn and its tool result) costs the same bytes at step 50 as at
    step 1,000: nothing that grows with the run is rewritten. The fixed cost of a run (its
    configuration, plan, reflection, verdict) is measured on a run of no steps and taken
    out, so what is compared is bytes per step alone."""
    base_payload, base_file = looping_run(0, tmp_path / "0.sqlite")
    per_step = {}
    for n in (50, 1000):
        payload, size = looping_run(n, tmp_path / f"{n}.sqlite")
        per_step[n] = ((payload - base_payload) / n, (size - base_file) / n)
    (p50, f50), (p1000, f1000) = per_step[50], per_step[1000]
    assert max(p50, p1000) / min(p50, p1000) <= 1.2, per_step
    assert max(f50, f1000) / min(f50, f1000) <= 1.2, per_step
    assert p1000 < 1000, "a step is a few hundred bytes, not a copy of the run"


@pytest.mark.parametrize("batch", [1, 2, 64, 65, 300])
def test_a_flush_of_any_size_commits_every_record_in_order(tmp_path: Path, batch: int) -> None:
    # small batches go in as one multi-row INSERT, long ones as a transaction: both must
    # keep every record, in order, and both must be whole-or-nothing on a conflict
    rec = SQLiteRecorder(tmp_path / "log.db")
    rec.open_run("r")
    for seq in range(batch):
        rec.append("r", seq, "tool_returned", json.dumps({"n": seq}))
    rec.flush()
    other = SQLiteRecorder(tmp_path / "log.db")
    rows = other.read_run("r")
    assert [(r.seq, json.loads(r.payload)["n"]) for r in rows] == [(i, i) for i in range(batch)]
    # a second writer of the same run collides on the last of its rows: nothing of its
    # batch may land, and the error names the file
    other.open_run("r")
    other._next["r"] = batch - 1
    with pytest.raises(LogError, match="another writer"):
        for seq in range(batch - 1, 2 * batch):
            other.append("r", seq, "tool_returned", "{}")
        other.flush()
    assert len(SQLiteRecorder(tmp_path / "log.db").read_run("r")) == batch
