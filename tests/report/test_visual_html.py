"""report.html as a file: hostile text stays text, the page loads nothing from outside,
the same input gives the same bytes, and the drill-down tells the trial's story from its
event log (or an import's transcript, or says it is absent)."""

from __future__ import annotations

import base64
import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report._charts import CHART_FILES
from harness.report._drilldown import MAX_CALLS, clip, read_stories
from harness.report._html import render_page, write_visuals
from harness.runner import SuiteOptions, run_suite

# the first bundled scenarios, frozen: quick to run, and every part of the page shows
SCENARIOS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "classic"
HOSTILE = ("</script><script>alert('x')</script><img src=x onerror=alert(1)>"
           "\"'><iframe src='https://evil.example/'></iframe>&amp;")
KEYS = ["suite", "scenario", "model", "fault_profile", "trial"]


def trials_of(path: Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows).sort_values(KEYS, kind="stable").reset_index(drop=True)


def summary_of(df: pd.DataFrame, scenario: str = "s") -> dict[str, Any]:
    return {"provenance": {"source": "run", "harness_version": "0"},
            "groups": [{"by": dict.fromkeys(("suite", "scenario", "model", "fault_profile")),
                        "trials": len(df), "goal_completion_rate": 0.5,
                        "goal_completion_ci": [0.1, 0.9], "pass_hat_k": {"1": 0.5, "2": 0.25},
                        "cost_usd": {"mean": 0.01, "mean_ci": [0.0, 0.02], "p50": 0.01,
                                     "p99": 0.02, "p99_ci": [0.01, 0.03]}},
                       {"by": {"suite": None, "scenario": scenario, "model": "m",
                               "fault_profile": None}, "trials": len(df),
                        "goal_completion_rate": 0.5, "goal_completion_ci": [0.1, 0.9],
                        "pass_hat_k": {"1": 0.5}, "cost_usd": {"mean": 0.01}}],
            "verdicts": [{"scenario": scenario, "model": "m", "fault_profile": "none",
                          "passed": False, "failures": [f"goal rate low: {scenario}"],
                          "observed": {"why": scenario}, "thresholds": {"min": 0.5}}]}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.handlers: list[str] = []
        self.runnable = 0
        """Script elements a browser would run: no type, or a JavaScript one."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        if tag == "script" and dict(attrs).get("type") in (None, "text/javascript", "module"):
            self.runnable += 1
        self.handlers += [k for k, _ in attrs if k.startswith("on")]


def _unpack(b64: str) -> Any:
    return json.loads(gzip.decompress(base64.b64decode(b64)))


def payload(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/octet-stream" id="trial-data">([^<]*)</script>', html)
    assert m is not None
    return _unpack(m.group(1))  # type: ignore[no-any-return]


def chunks_of(html: str) -> list[dict[str, Any]]:
    """The detail chunks, in order: each maps a row number to that trial's detail."""
    return [_unpack(c) for c in
            re.findall(r'<script type="application/octet-stream" class="detail-chunk">([^<]*)</script>',
                       html)]


def detail(html: str, record: dict[str, Any]) -> dict[str, Any]:
    assert record["chunk"] >= 0
    return chunks_of(html)[record["chunk"]][str(record["row"])]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    run_suite(SuiteOptions(paths=(str(SCENARIOS),), trials=2, faults="chaos", out=out,
                           tracing=False, progress=False))
    return out


def test_hostile_text_from_trials_never_becomes_markup(run: Path, tmp_path: Path) -> None:
    df = trials_of(run / "trials.jsonl")
    df["answer"] = HOSTILE
    df["scenario"] = HOSTILE
    df["checks"] = [[{"check": HOSTILE, "ok": False, "detail": HOSTILE}]] * len(df)
    df["faults"] = [[{"source": HOSTILE, "kind": HOSTILE}]] * len(df)
    write_visuals(tmp_path, summary_of(df, HOSTILE), df, run)
    html = (tmp_path / "report.html").read_text()
    # parsed as a browser would: the page's own one script, its data, its four charts, and
    # no element or event handler the hostile text carried
    tags = Tags()
    tags.feed(html)
    assert tags.runnable == 1 and tags.seen.count("img") == 4
    assert tags.seen.count("script") == 2 + len(chunks_of(html))
    assert "iframe" not in tags.seen and tags.handlers == []
    assert "&lt;/script&gt;&lt;script&gt;alert(&#x27;x&#x27;)" in html  # shown, escaped
    # the drill-down carries it as data (drawn with textContent), intact
    rows = [detail(html, r) for r in payload(html)["trials"]]
    assert rows and all(r["answer"] == HOSTILE for r in rows)
    assert rows[0]["failed_checks"][0]["detail"] == HOSTILE


def test_the_page_is_self_contained_and_says_what_it_measures(run: Path, tmp_path: Path) -> None:
    df = trials_of(run / "trials.jsonl")
    paths = write_visuals(tmp_path, summary_of(df), df, run)
    assert sorted(p.name for p in paths) == sorted([*CHART_FILES, "report.html"])
    html = (tmp_path / "report.html").read_text()
    refs = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", html)
    assert refs and all(r.startswith(("data:", "#")) for r in refs), refs
    assert re.search(r"https?://", html) is None
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # a CSP that forbids loading anything else
    assert html.count("data:image/png;base64,") == 4
    assert "simulated transport: the architecture under modelled model behaviour" in html


def test_the_same_input_gives_the_same_bytes(run: Path, tmp_path: Path) -> None:
    df = trials_of(run / "trials.jsonl")
    write_visuals(tmp_path / "a", summary_of(df), df, run)
    write_visuals(tmp_path / "b", summary_of(df), df.copy(), run)
    for name in (*CHART_FILES, "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_the_drill_down_replays_each_trial_to_the_numbers_it_reported(run: Path) -> None:
    df = trials_of(run / "trials.jsonl")
    stories, source = read_stories(run, df["log_id"].tolist())
    assert "events.sqlite" in source and len(stories) == len(df)
    saw_escalation = False
    for row in df.itertuples():
        s = stories[row.log_id]
        assert s["problem"] == ""
        assert s["states"][0] == "idle" and s["states"][-1] in ("done", "failed")
        assert s["states"][-1] == ("done" if row.outcome == "done" else "failed")
        calls = s["model_calls"]
        assert s["model_calls_total"] == row.llm_calls
        assert s["tool_calls_total"] == row.tool_calls
        if row.llm_calls > MAX_CALLS:
            # a long trial shows how it began and ended, and says how many calls it skipped
            gap = [c for c in calls if "gap" in c]
            assert len(calls) == MAX_CALLS + 1 and gap[0]["gap"] == row.llm_calls - MAX_CALLS
        else:
            assert len(calls) == row.llm_calls
            assert sum(c["tokens_in"] for c in calls) == row.tokens_in
            assert sum(c["tokens_out"] for c in calls) == row.tokens_out
            assert sum(c["cost_usd"] for c in calls) == pytest.approx(row.cost_usd, abs=1e-9)
        if row.tool_calls <= MAX_CALLS:
            assert len(s["tool_calls"]) == row.tool_calls
        assert len(s["escalations"]) >= row.escalations
        saw_escalation |= any(e["decision"] in ("approve", "deny", "edit", "timeout")
                              for e in s["escalations"])
    assert saw_escalation  # chaos over the bundled scenarios asks a person something
    # spread over worker processes, the replay gives the same stories in the same order
    spread, _ = read_stories(run, df["log_id"].tolist(), parallel_from=1)
    assert list(spread.items()) == list(stories.items())


def test_an_import_shows_its_transcript_and_a_bare_file_says_the_drill_down_is_absent(
        tmp_path: Path) -> None:
    df = pd.DataFrame([{"scenario": "t1", "model": "gpt", "trial": t, "outcome": "failed",
                        "goal_met": False, "log_id": f"t1/{t}", "cost_usd": None}
                       for t in range(2)])
    run = tmp_path / "import"
    run.mkdir()
    turns = [{"role": "user", "content": HOSTILE, "tool_call": None, "tool_name": None},
             {"role": "assistant", "content": "", "tool_call": {"name": "book", "arguments":
                                                                 {"id": 1}}, "tool_name": None}]
    (run / "transcripts.jsonl").write_text(
        json.dumps({"log_id": "t1/0", "transcript": turns}) + "\nnot json\n")
    write_visuals(tmp_path / "out", {"groups": []}, df, run)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "transcripts.jsonl" in html
    by_id = {r["log_id"]: detail(html, r)["story"] for r in payload(html)["trials"]}
    assert by_id["t1/0"]["kind"] == "transcript"
    assert by_id["t1/0"]["turns"][0]["content"] == HOSTILE
    assert by_id["t1/0"]["turns"][1]["tool_call"] == 'book({"id": 1})'
    assert by_id["t1/1"] is None

    write_visuals(tmp_path / "bare", {"groups": []}, df, None)
    bare = (tmp_path / "bare" / "report.html").read_text()
    assert "Drill-down detail is absent" in bare
    assert payload(bare)["absent"]

    empty = tmp_path / "empty-run"
    empty.mkdir()
    write_visuals(tmp_path / "none", {"groups": []}, df, empty)
    assert "neither events.sqlite nor transcripts.jsonl" in (tmp_path / "none" / "report.html").read_text()
    assert not (empty / "events.sqlite").exists()  # reading never creates a log


@pytest.mark.parametrize("rows", [
    [{"scenario": "a", "model": "m", "trial": 0, "outcome": "done", "goal_met": True,
      "cost_usd": 0.01, "suite": None, "fault_profile": None, "transport": None}],
    [{"scenario": "a", "model": "m", "trial": 0, "outcome": "done", "goal_met": True},
     {"scenario": "a", "model": "n", "trial": 1, "outcome": "crashed", "goal_met": False}],
], ids=["one-trial", "required-fields-only"])
def test_small_and_foreign_inputs_still_give_every_file(rows: list[dict[str, Any]],
                                                        tmp_path: Path) -> None:
    df = pd.DataFrame(rows)
    paths = write_visuals(tmp_path, {"groups": []}, df, None)
    assert all(p.stat().st_size > 1000 for p in paths)
    data = payload((tmp_path / "report.html").read_text())
    assert len(data["trials"]) == len(rows)


def test_detail_travels_in_chunks_and_each_row_finds_its_own() -> None:
    from harness.report._html import DETAILS_PER_CHUNK, _detail_chunks

    n = 2 * DETAILS_PER_CHUNK + 7
    records = [{"row": i * 3, "log_id": f"log{i}", "cells": cell(i % 2 == 0)} for i in range(n)]
    details = {i * 3: {"answer": f"a{i}"} for i in range(n)}
    stories = {f"log{i}": {"kind": "events", "states": ["idle", f"s{i}"]}
               for i in range(n) if i % 5}
    chunks = [_unpack(c) for c in _detail_chunks(records, details, stories)]
    assert len(chunks) == 3
    for i, r in enumerate(records):
        got = chunks[r["chunk"]][str(r["row"])]
        assert got["answer"] == f"a{i}"
        assert got["story"] == (None if i % 5 == 0 else stories[f"log{i}"])


def test_the_summary_frontier_and_model_comparison_are_shown(tmp_path: Path) -> None:
    df = pd.DataFrame({"scenario": "s", "model": ["a", "b"], "trial": 0, "outcome": "done",
                       "goal_met": True, "cost_usd": [0.01, 0.02]})
    summary = {"groups": [],
               "frontier": [{"model": "a", "trials": 1, "completion_rate": 1.0,
                             "mean_cost_usd": 0.01, "dominated_by": []},
                            {"model": "b", "trials": 1, "completion_rate": 1.0,
                             "mean_cost_usd": 0.02, "dominated_by": ["a"]}],
               "comparisons": [{"model_a": "a", "model_b": "b", "pairs": 1,
                                "completion_a": 1.0, "completion_b": 1.0,
                                "completion_diff": -0.25, "a_only": 3, "b_only": 0,
                                "mcnemar_p": 0.25, "cost_diff_mean": 0.01,
                                "cost_diff_ci": [0.005, 0.015]}]}
    write_visuals(tmp_path, summary, df, None)
    html = (tmp_path / "report.html").read_text()
    assert "<td>dominated by a</td>" in html
    assert "-25.0 pp" in html and "<td class='n'>0.25</td>" in html
    assert "[$0.0050, $0.0150]" in html


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_any_text_in_a_trial_stays_data(name: str, answer: str) -> None:
    df = pd.DataFrame([{"scenario": name, "model": name, "trial": 0, "outcome": "failed",
                        "goal_met": False, "answer": answer, "error": answer,
                        "checks": [{"check": name, "ok": False, "detail": answer}]}])
    html = render_page(summary_of(df, name), df, None, {})
    tags = Tags()
    tags.feed(html)
    assert tags.runnable == 1 and tags.handlers == [] and "img" not in tags.seen
    [row] = payload(html)["trials"]
    got = detail(html, row)
    assert row["cells"][1] == clip(name, 200) and got["answer"] == clip(answer)
    assert got["failed_checks"] == [{"check": clip(name, 200), "detail": clip(answer, 300)}]


def cell(passed: bool) -> list[Any]:
    from harness.report._html import _ROW_FIELDS

    row: list[Any] = [None] * len(_ROW_FIELDS)
    row[_ROW_FIELDS.index("outcome")] = "done" if passed else "failed"
    row[_ROW_FIELDS.index("goal_met")] = passed
    return row


def test_detail_stops_at_the_size_budget_keeping_failed_trials_first() -> None:
    from harness.report._html import DETAILS_PER_CHUNK, _detail_chunks

    n = 4 * DETAILS_PER_CHUNK
    records = [{"row": i, "log_id": f"log{i}", "cells": cell(i >= n // 2)} for i in range(n)]
    details = {i: {"answer": f"answer {i} " * 20} for i in range(n)}
    whole = _detail_chunks(records, details, {})
    assert len(whole) == 4 and all(r["chunk"] >= 0 for r in records)
    chunks = _detail_chunks(records, details, {}, budget=len(whole[0]) + len(whole[1]))
    assert chunks == whole[:2]
    assert all(r["chunk"] in (0, 1) for r in records if r["row"] < n // 2)
    assert all(r["chunk"] == -2 for r in records if r["row"] >= n // 2)


def test_a_long_trial_keeps_its_start_and_end() -> None:
    from harness.report._drilldown import _ends

    calls = [{"n": i} for i in range(300)]
    kept = _ends(calls, 120)
    assert len(kept) == 121 and kept[90] == {"gap": 180}
    assert kept[:90] == calls[:90] and kept[91:] == calls[-30:]
    assert _ends(calls[:120], 120) == calls[:120]
    assert _ends([str(i) for i in range(10)], 4)[3] == "… 6 more …"
