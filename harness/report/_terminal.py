"""The end-of-run table, with ``rich``: verdicts per group, roll-ups per suite, the total.

On a terminal it is a coloured table (compact on a narrow one: the reasons a group
failed go under the table); off one (a pipe, a CI log) the same rows print plain,
without colour or box drawing, wide enough that no verdict is wrapped.
"""

from __future__ import annotations

import io
import sys
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.table import Table

from harness.report._format import completion, interval, pct, pooled, usd

#: Below this many columns a terminal gets the compact table: no P50, and each failing
#: group's reasons on a line of their own under the table instead of in a column.
COMPACT_BELOW = 130


def _verdict_table(summary: dict[str, Any], plain: bool, compact: bool = False) -> Table:
    t = Table(box=None if plain else box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              title=None if plain else "Verdicts")
    # numbers never shrink; names and the verdict wrap on a narrow terminal
    columns = [("scenario", 12, False), ("model", 8, False), ("faults", 6, False),
               ("n", 3, True), ("goal (95% CI)", 17, True), ("P50 $", 8, True),
               ("P99 $", 8, True), ("esc rate", 4, True), ("verdict", 4, False)]
    if compact:  # the escalation column still shows rates ("40%"), under a shorter name
        columns = [("scenario", 10, False), ("model", 6, False), ("faults", 6, False),
                   ("n", 3, True), ("goal (95% CI)", 17, True), ("P99 $", 8, True),
                   ("esc", 4, True), ("verdict", 4, False)]
    varied = has_budgets(summary)
    if varied:  # the run has trials without budgets: say which variant each row is
        columns.insert(3, ("budgets", 3, False))
    for name, width, number in columns:
        t.add_column(name, justify="right" if number else "left", no_wrap=number,
                     min_width=width, overflow="ellipsis" if number else "fold")
    groups = {(g["by"]["scenario"], g["by"]["model"], g["by"]["fault_profile"],
               g["by"].get("budgets")): g for g in summary["groups"]}
    for v in summary["verdicts"]:
        o = v["observed"]
        g = groups.get((v["scenario"], v["model"] or None, v["fault_profile"] or None,
                        v.get("budgets")))
        ci = interval(g["goal_completion_ci"]) if g else ""
        verdict = ("not judged" if v.get("budgets") == "off" else "PASS") if v["passed"] else (
            "FAIL" if compact else "FAIL: " + "; ".join(v["failures"]))
        if not plain:
            verdict = f"[green]{verdict}[/]" if v["passed"] else f"[bold red]{verdict}[/]"
        cells = [v["scenario"], v["model"], v["fault_profile"], str(o["trials"]),
                 f"{pct(o['goal_completion_rate'])} {ci}", usd(o["cost_p50"]),
                 usd(o["cost_p99"]), pct(o["escalation_rate"]), verdict]
        if compact:
            del cells[5]
        if varied:
            cells.insert(3, str(v.get("budgets")))
        t.add_row(*cells)
    return t


def has_budgets(summary: dict[str, Any]) -> bool:
    """Whether the run has trials without budgets (its groups are then split by variant)."""
    return any(g["by"].get("budgets") is not None for g in summary.get("groups", []))


def _failure_lines(summary: dict[str, Any]) -> list[str]:
    return [f"[bold red]FAIL[/] {v['scenario']} / {v['model']} / {v['fault_profile']}"
            + ("" if v.get("budgets") is None else f" / budgets {v['budgets']}") + ": "
            + "; ".join(v["failures"]) for v in summary["verdicts"] if not v["passed"]]


def _rollup_table(summary: dict[str, Any], plain: bool, compact: bool = False) -> Table:
    t = Table(box=None if plain else box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              title=None if plain else "Per suite")
    columns = [("suite", 10), ("trials", 6), ("completion (95% CI)", 17),
               ("avg LLM calls", 6), ("total $", 8), ("mean $", 8), ("P99 $", 8),
               ("esc rate", 4)]
    if compact:
        columns = [("suite", 10), ("n", 3), ("goal (95% CI)", 17), ("LLM calls", 6),
                   ("mean $", 8), ("P99 $", 8), ("esc", 4)]
    varied = has_budgets(summary)
    if varied:
        columns.insert(1, ("budgets", 3))
    for name, width in columns:
        if name in ("suite", "budgets"):
            t.add_column(name, justify="left", overflow="fold", min_width=width)
        else:
            t.add_column(name, justify="right", no_wrap=True, min_width=width)
    keep = ("budgets",) if varied else ()
    rows = [g for g in summary["groups"] if pooled(g["by"], "suite", *keep)]
    rows += [g for g in summary["groups"] if pooled(g["by"], *keep)]
    for g in rows:
        cost = g["cost_usd"] or {}
        label = g["by"]["suite"] or ("total" if plain else "[bold]total[/]")
        cells = [label, str(g["trials"]), completion(g),
                 "n/a" if g["llm_calls_mean"] is None else f"{g['llm_calls_mean']:.1f}",
                 usd(cost.get("total"), 4), usd(cost.get("mean")), usd(cost.get("p99")),
                 pct(g["escalation_rate"])]
        if compact:
            del cells[4]
        if varied:
            cells.insert(1, str(g["by"]["budgets"]))
        t.add_row(*cells)
    return t


def print_summary(summary: dict[str, Any], file: IO[str] | None = None,
                  *, plain: bool | None = None) -> None:
    stream = file or sys.stdout
    if plain is None:
        plain = not stream.isatty()
    if plain:
        buf = io.StringIO()
        console = Console(file=buf, width=240, color_system=None, force_terminal=False,
                          highlight=False, soft_wrap=True)
    else:
        console = Console(file=stream, highlight=False)
    compact = not plain and console.width < COMPACT_BELOW
    console.print(_verdict_table(summary, plain, compact))
    if compact:
        for line in _failure_lines(summary):
            console.print(line)
    console.print()
    console.print(_rollup_table(summary, plain, compact))
    if plain:
        stream.write("\n".join(ln.rstrip() for ln in buf.getvalue().splitlines()) + "\n")


def render_verdicts(summaries: list[dict[str, Any]]) -> str:
    """The verdict rows of several summaries as one plain table (the pytest plugin's
    terminal summary, one summary per collected item)."""
    merged = {"groups": [g for s in summaries for g in s["groups"]],
              "verdicts": [v for s in summaries for v in s["verdicts"]]}
    buf = io.StringIO()
    Console(file=buf, width=240, color_system=None, force_terminal=False, highlight=False,
            soft_wrap=True).print(_verdict_table(merged, plain=True))
    return "\n".join(ln.rstrip() for ln in buf.getvalue().splitlines())
