"""report.html: one self-contained page a person opens after a run, and the PNG charts.

The page needs nothing but itself: styles and script inline, charts as base64 PNGs, a
Content-Security-Policy that lets it load nothing else and run only its own script
(by hash), so text from a trial that slipped past escaping still could not act.
Everything taken from trials is escaped on the server side (``html.escape``) or set
with ``textContent`` in the browser; trial data travels gzip-compressed and base64
encoded, which also keeps it out of the HTML parser's reach. Per-trial detail covers
every trial that did not pass and an evenly spaced sample of the rest, and the page
says how many of each it shows.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness._files import write_atomic
from harness.report._charts import (
    BUDGET_STORY,
    CHART_FILES,
    Coded,
    frontier_points,
    render_charts,
    transport_note,
    transports,
)
from harness.report._drilldown import Selection, choose_trials, clip, read_stories

_CHART_TITLES = {
    "cost-hist.png": "Cost per trial, with P50 and P99 marked",
    "cost-cdf.png": "Cost per trial, cumulative, by model",
    "frontier.png": "Cost versus goal completion by model (dominated choices marked)",
    "outcomes-by-fault.png": "Outcomes by fault profile",
    BUDGET_STORY: "Cost per task with budgets and without, per suite (P99 marked, "
                  "completion with its interval)",
}
#: Trials' detail per compressed chunk: small enough to open at a click, big enough for
#: gzip to find the repeats between trials.
DETAILS_PER_CHUNK = 250
#: Bytes of trial detail one page carries at most (compressed, base64): with the table
#: (short fields only) and the charts, a page stays under 20 MB whatever its trials hold.
DETAIL_BUDGET = 14_000_000
#: Failed goal checks and faults listed per trial at most (the count says how many).
MAX_LISTED = 50
_DIMS = ("suite", "scenario", "model", "fault_profile", "budgets")
#: Row fields the trials table carries, in order; the browser maps them by position.
_ROW_FIELDS = ("suite", "scenario", "model", "fault_profile", "trial", "outcome", "goal_met",
               "cost_usd", "llm_calls", "tool_calls", "escalations", "duration_s", "budgets")
_OUTCOME, _GOAL = _ROW_FIELDS.index("outcome"), _ROW_FIELDS.index("goal_met")


def write_visuals(out_dir: Path, summary: dict[str, Any], trials: pd.DataFrame,
                  run_dir: Path | None) -> list[Path]:
    """Write the chart PNGs (the budget story's too, when the run has it) and report.html
    into ``out_dir``, each atomically."""
    out_dir = Path(out_dir)
    data = Coded.of(trials)
    points = summary_frontier(summary)
    if points is None:
        points = frontier_points(data)
    charts = render_charts(trials if summary.get("budget_story") else data, summary, points)
    written = [write_atomic(out_dir / name, png) for name, png in charts.items()]
    page = render_page(summary, trials, run_dir, charts, points, data.transports)
    written.append(write_atomic(out_dir / "report.html", page))
    return written


# --- formatting ------------------------------------------------------------------------


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _pct(x: Any) -> str:
    v = _num(x)
    return "&ndash;" if v is None else f"{100 * v:.1f}%"


def _usd(x: Any) -> str:
    v = _num(x)
    return "&ndash;" if v is None else f"${v:.4f}"


def _points(x: Any) -> str:
    v = _num(x)
    return "&ndash;" if v is None else f"{100 * v:+.1f} pp"


def _interval(ci: Any, fmt: Any) -> str:
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return ""
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def _e(x: Any) -> str:
    return escape("" if x is None else str(x), quote=True)


# --- page parts ------------------------------------------------------------------------


def _pass_k(pk: Any) -> str:
    if not isinstance(pk, dict) or not pk:
        return "&ndash;"
    ks = sorted(pk, key=lambda k: int(k))
    shown = ks if len(ks) <= 4 else [*ks[:3], ks[-1]]
    return " · ".join(f"k={_e(k)}: {_num(pk[k]) or 0:.2f}" for k in shown)


_DIM_LABELS = {"suite": "suite", "scenario": "scenario", "model": "model",
               "fault_profile": "fault profile", "budgets": "budgets"}


def _grouping(by: dict[str, Any]) -> str:
    return ",".join(d for d in _DIMS if by.get(d) is not None)


def _grouping_label(key: str) -> str:
    return " &times; ".join(_DIM_LABELS[d] for d in key.split(",")) if key else "overall"


def _shown_dims(groups: list[dict[str, Any]]) -> tuple[str, ...]:
    """The dimensions the overview shows: budgets only when the run has the axis."""
    varied = any((g.get("by") or {}).get("budgets") is not None for g in groups)
    return _DIMS if varied else tuple(d for d in _DIMS if d != "budgets")


def _overview(summary: dict[str, Any]) -> str:
    """All of the summary's groups in one table, one grouping shown at a time (a select
    switches it); without script the finest grouping shows, beside the overall row."""
    groups = summary.get("groups") or []
    if not groups:
        return "<p class='note'>The summary holds no groups.</p>"
    keys: list[str] = []
    for g in groups:
        key = _grouping(g.get("by") or {})
        if key and key not in keys:
            keys.append(key)
    default = max(keys, key=lambda k: len(k.split(",")), default="")
    dims = _shown_dims(groups)
    rows = []
    for g in groups:
        by = g.get("by") or {}
        key = _grouping(by)
        cost = g.get("cost_usd") or {}
        cells = [f"<td>{_e(by.get(d)) if by.get(d) is not None else '<i>all</i>'}</td>"
                 for d in dims]
        cells += [
            f"<td class='n'>{_e(g.get('trials'))}</td>",
            f"<td class='n'>{_pct(g.get('goal_completion_rate'))} "
            f"<span class='ci'>{_interval(g.get('goal_completion_ci'), _pct)}</span></td>",
            f"<td class='pk'>{_pass_k(g.get('pass_hat_k'))}</td>",
            f"<td class='n'>{_usd(cost.get('mean'))} "
            f"<span class='ci'>{_interval(cost.get('mean_ci'), _usd)}</span></td>",
            f"<td class='n'>{_usd(cost.get('p50'))}</td>",
            f"<td class='n'>{_usd(cost.get('p99'))} "
            f"<span class='ci'>{_interval(cost.get('p99_ci'), _usd)}</span></td>",
        ]
        attrs = " class='overall'" if not key else (
            f" data-g='{_e(key)}'" + ("" if key == default else " hidden"))
        rows.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    options = "".join(f"<option value='{_e(k)}'{' selected' if k == default else ''}>"
                      f"{_grouping_label(k)}</option>" for k in keys)
    picker = (f"<label class='filters'>groups by <select id='group-by'>{options}</select></label>"
              if keys else "")
    head = ("<tr>" + "".join(f"<th>{_DIM_LABELS[d]}</th>" for d in dims) +
            "<th>trials</th><th>goal completion [95% Wilson]</th><th>pass^k</th>"
            "<th>cost mean [95% bootstrap]</th><th>cost P50</th><th>cost P99 [95% bootstrap]</th>"
            "</tr>")
    return (f"{picker}<div class='scroll'><table id='overview'><thead>{head}</thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
            "<p class='note'><i>all</i> = pooled over that dimension; the first row pools "
            "everything. Goal completion carries a Wilson 95% interval; mean and P99 cost carry "
            "seeded bootstrap 95% intervals. pass^k: the chance that all of k trials of a task "
            "meet the goal (τ-bench's definition).</p>")


def _verdicts(summary: dict[str, Any]) -> str:
    verdicts = summary.get("verdicts") or []
    if not verdicts:
        return "<p class='note'>No thresholds were set for these scenarios.</p>"
    varied = any(v.get("budgets") is not None for v in verdicts)
    rows = []
    for v in verdicts:
        ok = bool(v.get("passed"))
        unjudged = ok and v.get("budgets") == "off"
        failures = v.get("failures") or []
        thresholds = v.get("thresholds") or {}
        observed = v.get("observed") or {}
        limits = ", ".join(f"{_e(k)} {_e(thresholds[k])}" for k in sorted(thresholds))
        seen = ", ".join(f"{_e(k)} {_e(observed[k])}" for k in sorted(observed))
        rows.append(
            f"<tr class='{'pass' if ok else 'fail'}'><td>{_e(v.get('scenario'))}</td>"
            f"<td>{_e(v.get('model'))}</td><td>{_e(v.get('fault_profile'))}</td>"
            + (f"<td>{_e(v.get('budgets'))}</td>" if varied else "") +
            f"<td class='verdict'>{'not judged' if unjudged else 'PASS' if ok else 'FAIL'}</td>"
            f"<td>{'<br>'.join(_e(f) for f in failures) or '&ndash;'}</td>"
            f"<td class='small'>{limits or '&ndash;'}</td><td class='small'>{seen or '&ndash;'}</td></tr>")
    passed = sum(1 for v in verdicts if v.get("passed"))
    offs = ("<p class='note'>Trials without budgets are judged on crashes alone: the "
            "thresholds are set for the agent with its limits, and what the unlimited agent "
            "costs is the measurement.</p>" if varied else "")
    return (f"<p>{passed} of {len(verdicts)} scenario &times; model &times; fault profile combinations meet "
            f"their thresholds.</p>{offs}<div class='scroll'><table id='verdicts'><thead><tr>"
            "<th>scenario</th><th>model</th><th>fault profile</th>"
            + ("<th>budgets</th>" if varied else "") + "<th>verdict</th>"
            "<th>thresholds missed</th><th>thresholds</th><th>observed</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def summary_frontier(summary: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The summary's own frontier (the figures the other report files show), in the
    chart's terms; None when the summary has none."""
    rows = summary.get("frontier")
    if not isinstance(rows, list) or not rows:
        return None
    pts = []
    for r in rows:
        if not isinstance(r, dict) or _num(r.get("mean_cost_usd")) is None:
            continue
        beaten = [str(m) for m in r.get("dominated_by") or []]
        pts.append({"model": str(r.get("model")), "n": r.get("trials"),
                    "completion": _num(r.get("completion_rate")) or 0.0,
                    "cost": _num(r.get("mean_cost_usd")), "dominated": bool(beaten),
                    "dominated_by": beaten})
    return pts


def _frontier_table(pts: list[dict[str, Any]]) -> str:
    if len(pts) < 2:
        return ""

    def status(p: dict[str, Any]) -> str:
        if not p["dominated"]:
            return "on the frontier"
        by = p.get("dominated_by")
        return f"dominated by {', '.join(_e(m) for m in by)}" if by else "dominated"

    rows = "".join(
        f"<tr><td>{_e(p['model'])}</td><td class='n'>{_e(p['n'])}</td>"
        f"<td class='n'>{_pct(p['completion'])}</td><td class='n'>{_usd(p['cost'])}</td>"
        f"<td>{status(p)}</td></tr>" for p in pts)
    return ("<table id='frontier'><thead><tr><th>model</th><th>trials</th><th>goal completion</th>"
            f"<th>mean cost</th><th></th></tr></thead><tbody>{rows}</tbody></table>")


def _comparisons(summary: dict[str, Any]) -> str:
    comps = [c for c in summary.get("comparisons") or [] if isinstance(c, dict)]
    if not comps:
        return ""
    rows = []
    for c in comps:
        p = _num(c.get("mcnemar_p"))
        rows.append(
            f"<tr><td>{_e(c.get('model_a'))}</td><td>{_e(c.get('model_b'))}</td>"
            f"<td class='n'>{_e(c.get('pairs'))}</td>"
            f"<td class='n'>{_pct(c.get('completion_a'))}</td>"
            f"<td class='n'>{_pct(c.get('completion_b'))}</td>"
            f"<td class='n'>{_points(c.get('completion_diff'))}</td>"
            f"<td class='n'>{_e(c.get('a_only'))} / {_e(c.get('b_only'))}</td>"
            f"<td class='n'>{'&ndash;' if p is None else f'{p:.3g}'}</td>"
            f"<td class='n'>{_usd(c.get('cost_diff_mean'))} "
            f"<span class='ci'>{_interval(c.get('cost_diff_ci'), _usd)}</span></td></tr>")
    return ("<section id='comparison-section'><h2>Model comparison</h2><p class='note'>Paired "
            "on the same scenarios, fault profiles and seeds: the completion difference (B "
            "minus A) with an exact McNemar test on the pairs where only one model met the "
            "goal, and the mean cost difference with a paired bootstrap 95% interval.</p>"
            "<div class='scroll'><table id='comparisons'><thead><tr><th>model A</th>"
            "<th>model B</th><th>pairs</th><th>completion A</th><th>completion B</th>"
            "<th>difference</th><th>only A / only B met</th><th>McNemar p</th>"
            f"<th>cost B &minus; A [95%]</th></tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table></div></section>")


def _figure(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode()
    title = _CHART_TITLES[name]
    return (f"<figure><img src='data:image/png;base64,{data}' alt='{_e(title)}' "
            f"data-chart='{_e(name)}'><figcaption>{_e(title)} ({_e(name)})</figcaption>"
            "</figure>")


def _charts_html(charts: dict[str, bytes]) -> str:
    figs = [_figure(name, charts[name]) for name in CHART_FILES if name in charts]
    return f"<div class='charts'>{''.join(figs)}</div>"


def _story_cells(d: dict[str, Any] | None) -> str:
    if d is None:
        return "<td colspan='5'>&ndash;</td>"
    return (f"<td class='n'>{_e(d.get('trials'))}</td>"
            f"<td class='n'>{_pct(d.get('goal_completion_rate'))} "
            f"<span class='ci'>{_interval(d.get('goal_completion_ci'), _pct)}</span></td>"
            f"<td class='n'>{_usd(d.get('cost_mean'))} "
            f"<span class='ci'>{_interval(d.get('cost_mean_ci'), _usd)}</span></td>"
            f"<td class='n'>{_usd(d.get('cost_p99'))} "
            f"<span class='ci'>{_interval(d.get('cost_p99_ci'), _usd)}</span></td>"
            f"<td class='n'>{_usd(d.get('cost_max'))}</td>")


def _budget_story(summary: dict[str, Any], charts: dict[str, bytes]) -> str:
    """The headline: each suite with its budgets and without, chart and table."""
    story = summary.get("budget_story") or []
    if not story:
        return ""
    rows = []
    for e in story:
        name = _e(e["suite"]) if e.get("suite") is not None else "<b>all suites</b>"
        ratio = e.get("p99_ratio")
        for variant, label in (("on", "with budgets"), ("off", "without budgets")):
            first = variant == "on"
            lead = (f"<td rowspan='2'>{name}</td>" if first else "")
            tail = (f"<td rowspan='2' class='n'>{'&ndash;' if ratio is None else f'{ratio:.1f}x'}"
                    "</td>" if first else "")
            rows.append(f"<tr data-suite='{_e(e.get('suite') or '')}' data-budgets='{variant}'>"
                        f"{lead}<td>{label}</td>{_story_cells(e.get(variant))}{tail}</tr>")
    chart = _figure(BUDGET_STORY, charts[BUDGET_STORY]) if BUDGET_STORY in charts else ""
    return ("<section id='budget-story-section'><h2>The budget story</h2>"
            "<p class='note'>The same trials (same seeds) with the agent's budget limits and "
            "with every limit removed. Completion carries a Wilson 95% interval, mean and P99 "
            "cost seeded bootstrap 95% intervals.</p>"
            f"<div class='story'>{chart}</div><div class='scroll'><table id='budget-story'>"
            "<thead><tr><th>suite</th><th>budgets</th><th>trials</th>"
            "<th>goal completion [95% Wilson]</th><th>cost mean [95% bootstrap]</th>"
            "<th>cost P99 [95% bootstrap]</th><th>cost max</th><th>P99 without / with</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>")


def _column(picked: pd.DataFrame, name: str) -> list[Any]:
    """One column of the picked rows as plain Python values, None where absent (NA, NaN)."""
    if name not in picked.columns:
        return [None] * len(picked)
    col = picked[name]
    values = col.astype(object).where(col.notna(), None).tolist() if col.hasnans else col.tolist()
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _trial_records(trials: pd.DataFrame, sel: Selection
                   ) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """The table's rows (short fields only, the same size whatever a trial holds) and each
    row's detail from trials.jsonl (answer, error, failed checks, faults), keyed by row."""
    picked = trials.iloc[sel.rows]
    cells = list(zip(*(_column(picked, f) for f in _ROW_FIELDS), strict=True))
    extra = {name: _column(picked, name) for name in
             ("error", "exhausted_limit", "answer", "checks", "faults", "log_id", "seed",
              "retries", "transport", "tokens_in", "tokens_out")}
    records = []
    details: dict[int, dict[str, Any]] = {}
    for i, pos in enumerate(sel.rows.tolist()):
        get = {k: v[i] for k, v in extra.items()}
        checks = get["checks"] if isinstance(get["checks"], list) else []
        failed = [c for c in checks if isinstance(c, dict) and not c.get("ok", False)]
        faults = get["faults"] if isinstance(get["faults"], list) else []
        records.append({
            "row": pos,
            "cells": [clip(c, 200) if isinstance(c, str) else c for c in cells[i]],
            "seed": get["seed"], "retries": get["retries"],
            "transport": clip(get["transport"], 40) if get["transport"] else None,
            "tokens_in": get["tokens_in"], "tokens_out": get["tokens_out"],
            "limit": clip(get["exhausted_limit"], 80) if get["exhausted_limit"] else "",
            "log_id": str(get["log_id"] or ""),
        })
        details[pos] = {
            "error": clip(get["error"]) if get["error"] else "",
            "answer": clip(get["answer"]) if get["answer"] else "",
            "checks_total": len(checks),
            "failed_checks": [{"check": clip(c.get("check", ""), 200),
                               "detail": clip(c.get("detail", ""), 300)}
                              for c in failed[:MAX_LISTED]],
            "failed_total": len(failed),
            "faults": [_fault_text(f) for f in faults[:MAX_LISTED]],
            "faults_total": len(faults),
        }
    return records, details


def _detail_chunks(records: list[dict[str, Any]], details: dict[int, dict[str, Any]],
                   stories: dict[str, dict[str, Any]], budget: int = DETAIL_BUDGET) -> list[str]:
    """Each listed trial's detail (its trials.jsonl fields and its story), in gzip chunks
    the page opens only when a trial in one is clicked: the page loads the table alone,
    however many trials carry detail. Trials that did not pass come first, and chunks
    stop at ``budget`` bytes, so the page stays small whatever the trials hold. A record
    notes its chunk, or -2 when its detail was left out for the budget."""
    def passed(r: dict[str, Any]) -> bool:
        c = r["cells"]
        return bool(c[_OUTCOME] == "done" and c[_GOAL] is True)

    order = sorted(records, key=passed)
    out: list[str] = []
    used = 0
    for start in range(0, len(order), DETAILS_PER_CHUNK):
        part = order[start:start + DETAILS_PER_CHUNK]
        packed = _payload({str(r["row"]): {**details[r["row"]], "story": stories.get(r["log_id"])}
                           for r in part})
        if used + len(packed) > budget:
            for r in order[start:]:
                r["chunk"] = -2
            break
        used += len(packed)
        for r in part:
            r["chunk"] = len(out)
        out.append(packed)
    return out


def _fault_text(fault: Any) -> str:
    """``llm overloaded (call 7, rate)`` rather than a JSON object; unknown keys kept."""
    if not isinstance(fault, dict):
        return clip(fault, 300)
    f = dict(fault)
    head = " ".join(str(f.pop(k)) for k in ("source", "kind", "tool") if f.get(k) is not None)
    where = []
    if "call" in f:
        where.append(f"call {f.pop('call')}")
    if "at_record" in f:
        where.append(f"at record {f.pop('at_record')}")
    where += [f"{k} {clip(f[k], 80)}" for k in sorted(f)]
    return clip(f"{head or 'fault'} ({', '.join(where)})" if where else head or "fault", 300)


def _json_default(value: Any) -> Any:
    """NumPy scalars and anything else a foreign frame may hold: as plain values or text."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _payload(data: Any) -> str:
    """JSON, gzip (no timestamp: same input, same bytes), base64: small, and inert to HTML."""
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return base64.b64encode(gzip.compress(raw.encode("utf-8"), compresslevel=6, mtime=0)).decode()


def _selection_note(sel: Selection, source: str, have_stories: bool, left_out: int = 0) -> str:
    failed = (f"all {sel.failed:,} trials that did not pass" if sel.failed_shown == sel.failed
              else f"{sel.failed_shown:,} of the {sel.failed:,} trials that did not pass "
                   "(evenly spaced)")
    passed = (f"all {sel.passed:,} that passed" if sel.passed_shown == sel.passed
              else f"an evenly spaced sample of {sel.passed_shown:,} of the {sel.passed:,} "
                   "that passed (done with the goal met)")
    detail = (f"State paths, model calls, tool calls and escalations come {_e(source)}."
              if have_stories else f"Drill-down detail is absent: {_e(source)}.")
    budget = (f" To stay small the page carries the detail of all but {left_out:,} of them "
              "(those that did not pass first)." if left_out else "")
    return (f"<p class='note' id='selection'>Of {sel.total:,} trials this page lists {failed} "
            f"and {passed}: {len(sel.rows):,} rows in all. {detail}{budget} Answers, goal "
            "checks and faults come from trials.jsonl.</p>")


def _provenance(summary: dict[str, Any], names: list[str]) -> str:
    prov = summary.get("provenance") or {}
    items = [("source", prov.get("source")), ("harness", prov.get("harness_version")),
             ("agent commit", prov.get("agent_git_commit")), ("base seed", prov.get("base_seed")),
             ("bootstrap", f"{prov.get('bootstrap_resamples')} resamples, seed "
                           f"{prov.get('bootstrap_seed')}" if prov.get("bootstrap_resamples")
              else None),
             ("price table", prov.get("price_table_date")),
             ("transport", ", ".join(names) or "not recorded")]
    return "".join(f"<span><b>{_e(k)}</b> {_e(v)}</span>" for k, v in items if v is not None)


def render_page(summary: dict[str, Any], trials: pd.DataFrame, run_dir: Path | None,
                charts: dict[str, bytes], points: list[dict[str, Any]] | None = None,
                names: list[str] | None = None, detail_budget: int = DETAIL_BUDGET) -> str:
    if names is None:
        names = transports(trials)
    if points is None:
        points = frontier_points(trials)
    sel = choose_trials(trials)
    log_ids = []
    if "log_id" in trials.columns and len(sel.rows):
        log_ids = [str(x) for x in trials["log_id"].iloc[sel.rows].tolist()
                   if x is not None and x is not pd.NA and str(x)]
    stories, source = read_stories(run_dir, log_ids)
    records, details = _trial_records(trials, sel)
    absent = "" if stories else source
    chunks = _detail_chunks(records, details, stories, detail_budget)
    left_out = sum(1 for r in records if r["chunk"] == -2)
    data = _payload({"fields": list(_ROW_FIELDS), "trials": records, "absent": absent})
    chunk_tags = "\n".join(
        f'<script type="application/octet-stream" class="detail-chunk">{c}</script>'
        for c in chunks)
    script = _SCRIPT
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src 'sha256-{digest}'")
    title = "harness report"
    comparison = _comparisons(summary)
    comparison_link = '<a href="#comparison-section">Model comparison</a>' if comparison else ""
    story = _budget_story(summary, charts)
    story_link = '<a href="#budget-story-section">Budget story</a>' if story else ""
    budgets_filter = ('<label>budgets <select id="f-budgets"><option value="">all</option>'
                      '</select></label>'
                      if "budgets" in _shown_dims(summary.get("groups") or []) else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{_STYLE}</style></head>
<body>
<header><h1>Agent evaluation report</h1>
<p class="prov">{_provenance(summary, names)}</p>
<p class="transport" id="transport-note"><b>What these figures measure:</b> {_e(transport_note(names))}.</p>
</header>
<nav>{story_link}<a href="#overview-section">Overview</a><a href="#charts-section">Charts</a>{comparison_link}<a href="#verdicts-section">Thresholds</a><a href="#trials-section">Trials</a></nav>
{story}
<section id="overview-section"><h2>Overview</h2>{_overview(summary)}</section>
<section id="charts-section"><h2>Charts</h2>{_charts_html(charts)}{_frontier_table(points)}</section>
{comparison}
<section id="verdicts-section"><h2>Thresholds and verdicts</h2>{_verdicts(summary)}</section>
<section id="trials-section"><h2>Trials</h2>
{_selection_note(sel, source, bool(stories), left_out)}
<noscript><p class="note">The trial table and drill-down need JavaScript; everything above does not.</p></noscript>
<div class="filters">
<label>outcome <select id="f-outcome"><option value="">all</option></select></label>
<label>model <select id="f-model"><option value="">all</option></select></label>
<label>fault profile <select id="f-fault"><option value="">all</option></select></label>
{budgets_filter}
<label>goal <select id="f-goal"><option value="">all</option><option value="false">not met</option><option value="true">met</option></select></label>
<span id="match-count"></span>
</div>
<div class="trials-layout">
<div class="scroll"><table id="trials"><thead><tr><th>suite</th><th>scenario</th><th>model</th><th>fault</th><th>trial</th><th>outcome</th><th>goal</th><th>cost</th><th>LLM calls</th><th>tool calls</th><th>esc.</th><th>duration s</th></tr></thead><tbody></tbody></table>
<div class="pager"><button id="prev" type="button">previous</button> <span id="page"></span> <button id="next" type="button">next</button></div></div>
<aside id="detail"><p class="note">Click a trial to see its state path, model calls, tool calls, faults, escalations and failed goal checks.</p></aside>
</div>
</section>
<script type="application/octet-stream" id="trial-data">{data}</script>
{chunk_tags}
<script>{script}</script>
</body></html>
"""


_STYLE = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--ok:#1a7f37;--bad:#cf222e}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0 auto;max-width:1500px;padding:0 20px 40px}
header h1{margin:18px 0 4px;font-size:24px}
.prov span{display:inline-block;margin-right:16px;color:var(--muted);font-size:12px}
.transport{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;border-radius:6px}
nav{background:#fff;border-bottom:1px solid var(--line);padding:6px 0}
nav a{margin-right:18px;color:#0969da;text-decoration:none}
h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px;margin-top:28px}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{border:1px solid var(--line);padding:3px 7px;text-align:left;vertical-align:top}
th{background:var(--bg)}
td.n{text-align:right;white-space:nowrap}
tr.overall td{font-weight:600;background:#eef6ff}
.ci{color:var(--muted);font-size:11px}
td.pk{font-size:11.5px;white-space:nowrap}
.small{font-size:11px;color:var(--muted)}
.scroll{overflow:auto}
.note{color:var(--muted);font-size:12.5px}
tr.pass .verdict{color:var(--ok);font-weight:700}
tr.fail .verdict{color:var(--bad);font-weight:700}
.story img{max-width:100%;height:auto}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:6px;background:#fff}
figure img{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:var(--muted)}
#frontier{margin-top:12px;width:auto}
.filters{display:flex;flex-wrap:wrap;gap:14px;align-items:center;margin:8px 0}
.trials-layout{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:14px;align-items:start}
#trials tbody tr{cursor:pointer}
#trials td{white-space:nowrap}
#trials tbody tr:hover{background:#f0f6ff}
#trials tbody tr.selected{background:#ddf4ff}
.o-done{color:var(--ok)}.o-failed,.o-crashed{color:var(--bad)}.o-budget_exhausted{color:#bc4c00}.o-escalated{color:#8250df}
#detail{border:1px solid var(--line);border-radius:6px;padding:8px 12px;position:sticky;top:40px;max-height:88vh;overflow:auto;background:#fff}
#detail h3{margin:4px 0 6px;font-size:15px}
#detail h4{margin:12px 0 4px;font-size:13px}
.path{display:flex;flex-wrap:wrap;gap:3px;align-items:center}
.state{border-radius:10px;padding:1px 8px;font-size:11.5px;background:#eaeef2}
.state.s-done{background:#dafbe1}.state.s-failed{background:#ffebe9}.state.s-awaiting_human{background:#fbefff}
.arrow{color:var(--muted)}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:11.5px}
.pager{margin:6px 0}
@media (max-width:1000px){.trials-layout{grid-template-columns:1fr}}
"""


_SCRIPT = r"""
"use strict";
(async function () {
  const PAGE = 25;
  const groupBy = document.getElementById("group-by");
  if (groupBy) {
    groupBy.addEventListener("change", () => {
      document.querySelectorAll("#overview tbody tr[data-g]").forEach((tr) => {
        tr.hidden = tr.dataset.g !== groupBy.value;
      });
    });
  }
  const el = (tag, text, cls) => {
    const n = document.createElement(tag);
    if (text !== undefined && text !== null) n.textContent = String(text);
    if (cls) n.className = cls;
    return n;
  };
  const unpack = async (node) => {
    const bytes = Uint8Array.from(atob(node.textContent.trim()), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).json();
  };
  const data = await unpack(document.getElementById("trial-data"));
  const chunkNodes = document.querySelectorAll("script.detail-chunk");
  const chunks = new Map();
  const detailOf = async (r) => {
    if (r.chunk < 0) return null;
    if (!chunks.has(r.chunk)) chunks.set(r.chunk, unpack(chunkNodes[r.chunk]));
    return (await chunks.get(r.chunk))[String(r.row)] || null;
  };
  const F = {};
  data.fields.forEach((f, i) => { F[f] = i; });
  const rows = data.trials;
  const filters = {outcome: "f-outcome", model: "f-model", fault_profile: "f-fault"};
  if (document.getElementById("f-budgets")) filters.budgets = "f-budgets";
  for (const [field, id] of Object.entries(filters)) {
    const sel = document.getElementById(id);
    const seen = [...new Set(rows.map((r) => String(r.cells[F[field]])))].sort();
    for (const v of seen) { const o = el("option", v); o.value = v; sel.appendChild(o); }
    sel.addEventListener("change", () => { page = 0; draw(); });
  }
  document.getElementById("f-goal").addEventListener("change", () => { page = 0; draw(); });
  let page = 0;
  let shown = rows;
  const fmtCost = (v) => (v === null || v === undefined) ? "\u2013" : "$" + Number(v).toFixed(4);
  const fmt = (v) => (v === null || v === undefined) ? "\u2013" : String(v);
  function matches(r) {
    for (const [field, id] of Object.entries(filters)) {
      const want = document.getElementById(id).value;
      if (want !== "" && String(r.cells[F[field]]) !== want) return false;
    }
    const goal = document.getElementById("f-goal").value;
    if (goal !== "" && String(r.cells[F.goal_met]) !== goal) return false;
    return true;
  }
  function draw() {
    shown = rows.filter(matches);
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(page, pages - 1);
    const body = document.querySelector("#trials tbody");
    body.replaceChildren();
    for (const r of shown.slice(page * PAGE, page * PAGE + PAGE)) {
      const tr = el("tr");
      tr.dataset.row = r.row;
      const c = r.cells;
      tr.appendChild(el("td", fmt(c[F.suite])));
      tr.appendChild(el("td", fmt(c[F.scenario])));
      tr.appendChild(el("td", fmt(c[F.model])));
      tr.appendChild(el("td", fmt(c[F.fault_profile])));
      tr.appendChild(el("td", fmt(c[F.trial]) + (c[F.budgets] === "off" ? " (no budgets)" : ""), "n"));
      tr.appendChild(el("td", fmt(c[F.outcome]), "o-" + c[F.outcome]));
      tr.appendChild(el("td", c[F.goal_met] === true ? "met" : (c[F.goal_met] === false ? "not met" : "\u2013")));
      tr.appendChild(el("td", fmtCost(c[F.cost_usd]), "n"));
      tr.appendChild(el("td", fmt(c[F.llm_calls]), "n"));
      tr.appendChild(el("td", fmt(c[F.tool_calls]), "n"));
      tr.appendChild(el("td", fmt(c[F.escalations]), "n"));
      tr.appendChild(el("td", c[F.duration_s] === null ? "\u2013" : Number(c[F.duration_s]).toFixed(1), "n"));
      tr.tabIndex = 0;
      tr.addEventListener("click", () => {
        document.querySelectorAll("#trials tr.selected").forEach((x) => x.classList.remove("selected"));
        tr.classList.add("selected");
        detail(r).catch((err) => { document.getElementById("detail").textContent = "could not read this trial's detail: " + err; throw err; });
      });
      tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") tr.click(); });
      body.appendChild(tr);
    }
    document.getElementById("match-count").textContent = shown.length + " of " + rows.length + " listed trials match";
    document.getElementById("page").textContent = "page " + (page + 1) + " of " + pages;
  }
  document.getElementById("prev").addEventListener("click", () => { if (page > 0) { page--; draw(); } });
  document.getElementById("next").addEventListener("click", () => { page++; draw(); });
  function table(headers, items, cells) {
    const t = el("table");
    const hr = el("tr");
    headers.forEach((h) => hr.appendChild(el("th", h)));
    const th = el("thead"); th.appendChild(hr); t.appendChild(th);
    const tb = el("tbody");
    for (const it of items) {
      const tr = el("tr");
      for (const v of cells(it)) {
        const td = el("td");
        if (typeof v === "string" && v.length > 60) td.appendChild(el("pre", v)); else td.textContent = fmt(v);
        tr.appendChild(td);
      }
      tb.appendChild(tr);
    }
    t.appendChild(tb);
    return t;
  }
  function numbered(items) {
    let n = 0;
    return items.map((x) => { n += x.gap ? x.gap : 1; return [x.gap ? 0 : n, x]; });
  }
  function section(box, title, count) {
    box.appendChild(el("h4", count === undefined ? title : title + " (" + count + ")"));
  }
  async function detail(r) {
    const d = await detailOf(r);
    const s = d ? d.story : null;
    const box = document.getElementById("detail");
    box.replaceChildren();
    const c = r.cells;
    box.appendChild(el("h3", [c[F.scenario], c[F.model], c[F.fault_profile]].filter((x) => x !== null && x !== undefined).join(" · ") + " · trial " + fmt(c[F.trial])));
    const facts = "outcome " + c[F.outcome] + (r.limit ? " (" + r.limit + " ran out)" : "") +
      "; goal " + (c[F.goal_met] ? "met" : "not met") + "; cost " + fmtCost(c[F.cost_usd]) +
      "; tokens " + fmt(r.tokens_in) + " in / " + fmt(r.tokens_out) + " out; retries " + fmt(r.retries) +
      "; seed " + fmt(r.seed) + "; transport " + fmt(r.transport);
    box.appendChild(el("p", facts, "note"));
    if (d && d.error) { section(box, "Why it ended"); box.appendChild(el("pre", d.error)); }
    section(box, "State path");
    const path = el("div", null, "path");
    path.id = "state-path";
    if (s && s.kind === "events") {
      s.states.forEach((st, i) => {
        if (i) path.appendChild(el("span", "→", "arrow"));
        path.appendChild(el("span", st, "state s-" + st));
      });
    } else {
      const why = s ? "not recorded for an imported run"
        : r.chunk === -2 ? "left out: this page carries the detail of as many trials as its size budget allows, those that did not pass first"
        : (data.absent || "no event log for this trial");
      path.appendChild(el("span", why, "note"));
    }
    box.appendChild(path);
    if (s && s.problem) box.appendChild(el("p", s.problem, "note"));
    if (!d) return;
    section(box, "Failed goal checks", d.failed_total + " of " + d.checks_total);
    if (d.failed_checks.length) box.appendChild(table(["check", "detail"], d.failed_checks, (x) => [x.check, x.detail]));
    section(box, "Faults injected", d.faults_total);
    if (d.faults.length) box.appendChild(table(["fault"], d.faults, (x) => [x]));
    if (s && s.kind === "events") {
      section(box, "Escalations and the person's decisions", s.escalations.length);
      if (s.escalations.length) box.appendChild(table(["rule", "what", "why", "decision", "note"], s.escalations,
        (x) => x.gap ? ["\u2026", x.gap + " more not shown", "", "", ""] : [x.rule, x.what, x.why, x.decision + (x.edited ? " → " + x.edited : ""), x.note]));
      section(box, "Model calls", s.model_calls_total ?? s.model_calls.length);
      if (s.model_calls.length) box.appendChild(table(["#", "agent", "purpose", "try", "tokens in/out", "cost", "result", "reply"], numbered(s.model_calls),
        ([i, x]) => x.gap ? ["\u2026", "", "", "", "", "", "", x.gap + " more calls not shown"] : [i, x.agent, x.purpose, x.attempt, x.tokens_in + " / " + x.tokens_out, fmtCost(x.cost_usd), x.result, [x.text, ...x.tool_uses].filter(Boolean).join("\n")]));
      section(box, "Tool calls", s.tool_calls_total ?? s.tool_calls.length);
      if (s.tool_calls.length) box.appendChild(table(["#", "agent", "tool", "input", "result"], numbered(s.tool_calls),
        ([i, x]) => x.gap ? ["\u2026", "", "", "", x.gap + " more calls not shown"] : [i, x.agent, x.tool, x.input, (x.is_error ? "ERROR " + x.error_kind + ": " : "") + x.output]));
    } else if (s && s.kind === "transcript") {
      section(box, "Transcript", s.turns.length);
      box.appendChild(table(["role", "content"], s.turns, (x) => [x.role + (x.tool_name ? " (" + x.tool_name + ")" : ""), [x.content, x.tool_call ? "→ " + x.tool_call : ""].filter(Boolean).join("\n")]));
    }
    if (d.answer) { section(box, "Answer"); box.appendChild(el("pre", d.answer)); }
  }
  draw();
  document.body.dataset.ready = "1";
})().catch((err) => { document.getElementById("match-count").textContent = "could not read the trial data: " + err; throw err; });
"""
