"""``report.md``: the cost-model table first, then the verdicts, then why trials failed."""

from __future__ import annotations

from typing import Any

from harness.report._format import completion, interval, num, pct, pooled, usd

_SIMULATED = ("Transport `simulated`: the numbers measure the agent's architecture under "
              "modelled model behaviour, not a real model's intelligence.")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(head: list[str], rows: list[list[str]], right: int = 1,
           text_last: bool = False) -> list[str]:
    """Columns from ``right`` on are right-aligned numbers (but the last, if text)."""
    align = ["---"] * right + ["---:"] * (len(head) - right)
    if text_last:
        align[-1] = "---"
    return [_row(head), "|" + "|".join(align) + "|", *(_row(r) for r in rows)]


def _cost_rows(groups: list[dict[str, Any]]) -> list[list[str]]:
    """Suites (and suite x model when several models ran), then the total; each split by
    budgets variant when the run has trials without budgets."""
    models = {g["by"]["model"] for g in groups if g["by"]["model"] is not None}
    varied = ("budgets",) if any(g["by"].get("budgets") is not None for g in groups) else ()
    keys = (("suite", "model") if len(models) > 1 else ("suite",)) + varied
    rows = []
    shown = [g for g in groups if pooled(g["by"], *keys)] or \
        [g for g in groups if pooled(g["by"], "scenario", *varied)]
    total = [g for g in groups if pooled(g["by"], *varied)]
    for g in [*shown, *total]:
        by = g["by"]
        label = " / ".join(str(by[k]) for k in ("suite", "scenario", "model")
                           if by[k] is not None) or "**all**"
        if by.get("budgets") == "off":
            label += " (no budgets)"
        cost = g["cost_usd"] or {}
        rows.append([label, num(g["llm_calls_mean"]), usd(cost.get("mean")),
                     usd(cost.get("p99")), completion(g), str(g["trials"])])
    return rows


def render_markdown(summary: dict[str, Any], *, notes: list[str] | None = None) -> str:
    prov = summary["provenance"]
    groups = summary["groups"]
    out = ["# Run report", "", *_budget_story(summary), "## Cost per task", ""]
    out += _table(["Suite", "Avg LLM calls", "Avg cost per task", "P99 cost per task",
                   "Completion (95% CI)", "Trials"], _cost_rows(groups))
    out += ["", "Completion is the goal-completion rate with its Wilson 95% interval; "
            "\"n/a\": the source did not record it."]
    if "simulated" in prov["transports"]:
        out += ["", _SIMULATED]
    for note in notes or []:
        out += ["", f"Note: {note}"]
    out += ["", "## Verdicts", ""]
    verdicts = summary["verdicts"]
    if verdicts:
        rows = []
        for v in verdicts:
            o, th = v["observed"], v["thresholds"]
            faults = v["fault_profile"] + (" (no budgets)" if v.get("budgets") == "off" else "")
            rows.append([v["scenario"], v["model"], faults, str(o["trials"]),
                         pct(o["goal_completion_rate"])
                         + (f" (min {pct(th['min_goal_rate'])})" if "min_goal_rate" in th
                            else ""),
                         usd(o["cost_p99"])
                         + (f" (max {usd(th['max_p99_cost_usd'])})"
                            if "max_p99_cost_usd" in th else ""),
                         pct(o["escalation_rate"])
                         + (f" (max {pct(th['max_escalation_rate'])})"
                            if "max_escalation_rate" in th else ""),
                         ("not judged (crashes only)" if v.get("budgets") == "off" else "PASS")
                         if v["passed"] else "FAIL: " + "; ".join(v["failures"])])
        out += _table(["Scenario", "Model", "Faults", "Trials", "Completion", "P99 cost",
                       "Escalation rate", "Verdict"], rows, right=3, text_last=True)
        passed = sum(v["passed"] for v in verdicts)
        out += ["", f"{passed} of {len(verdicts)} passed."]
    else:
        out.append("No trials.")
    out += _failures(groups)
    out += _attacks(groups)
    out += _comparisons(summary)
    out += ["", "## Provenance", "",
            f"Source: `{prov['source']}`; transports: "
            f"{', '.join(prov['transports']) or 'not recorded'}; base seed "
            f"{'not recorded' if prov['base_seed'] is None else prov['base_seed']}; "
            f"bootstrap seed {prov['bootstrap_seed']} "
            f"({prov['bootstrap_resamples']} resamples); harness {prov['harness_version']}"
            + (f"; agent commit `{prov['agent_git_commit'][:12]}`"
               if prov["agent_git_commit"] else "")
            + (f"; prices as of {prov['price_table_date']}"
               if prov["price_table_date"] else "") + "."]
    return "\n".join(out) + "\n"


def _budget_story(summary: dict[str, Any]) -> list[str]:
    """The headline, when the run holds each trial with budgets and without."""
    story = summary.get("budget_story") or []
    if not story:
        return []
    rows = []
    for e in story:
        name = str(e["suite"]) if e.get("suite") is not None else "**all suites**"
        for variant, label in (("on", "with"), ("off", "without")):
            d = e.get(variant)
            ratio = e.get("p99_ratio") if variant == "off" else None
            shown = "" if ratio is None else f"{ratio:.1f}x"
            if d is None:
                rows.append([name, label, "0", "n/a", "n/a", "n/a", "n/a", shown])
                continue
            rows.append([name, label, str(d["trials"]),
                         f"{pct(d['goal_completion_rate'])} {interval(d['goal_completion_ci'])}",
                         f"{usd(d['cost_mean'])} {interval(d['cost_mean_ci'], 5)}",
                         f"{usd(d['cost_p99'])} {interval(d['cost_p99_ci'], 5)}",
                         usd(d["cost_max"]), shown])
    return ["## The budget story", "",
            "![Cost per task with budgets and without, per suite](budget_story.png)", "",
            *_table(["Suite", "Budgets", "Trials", "Completion (95% CI)",
                     "Mean cost (95% CI)", "P99 cost (95% CI)", "Max cost", "P99 without / with"],
                    rows, right=2),
            "", "The same trials, on the same seeds, with the agent's budget limits and with "
            "every limit removed. Completion carries a Wilson 95% interval, mean and P99 cost "
            "seeded bootstrap 95% intervals.", ""]


def _failures(groups: list[dict[str, Any]]) -> list[str]:
    overall = next((g for g in groups if pooled(g["by"])), None)
    out = ["", "## Top failure reasons", ""]
    if overall is None:
        return [*out, "No trials."]
    o = overall["outcomes"]
    limits = ", ".join(f"{k} {v}" for k, v in overall["budget_exhausted_by"].items())
    out.append(f"Outcomes of {overall['trials']} trials: done {o['done']}, failed "
               f"{o['failed']}, budget exhausted {o['budget_exhausted']}"
               + (f" ({limits})" if limits else "") + f", escalated {o['escalated']}, "
               f"crashed {o['crashed']}. Escalation rate {pct(overall['escalation_rate'])}, "
               f"retry rate {pct(overall['retry_rate'])}.")
    checks = overall["top_failed_checks"]
    if checks:
        out += ["", "Goal checks that failed most often:", ""]
        out += _table(["Check", "Failed trials"], [[c["check"], str(c["count"])]
                                                   for c in checks])
    else:
        out += ["", "No goal check failed."]
    faults = [g for g in groups if pooled(g["by"], "fault_profile")
              and g["completion_change_vs_none"] is not None]
    if faults:
        out += ["", "Completion against the `none` fault profile:", ""]
        out += _table(["Fault profile", "Completion", "Change"],
                      [[g["by"]["fault_profile"], completion(g),
                        f"{g['completion_change_vs_none']:+.0%}"] for g in faults])
    return out


def _attacks(groups: list[dict[str, Any]]) -> list[str]:
    rows = []
    for g in groups:
        a = g["attack"]
        if a is None or not (pooled(g["by"], "scenario", "model", "fault_profile")
                             or pooled(g["by"])):
            continue
        by = g["by"]
        label = " / ".join(str(by[k]) for k in ("scenario", "model", "fault_profile")
                           if by[k] is not None) or "**all**"
        appr = ("n/a (no event log)" if a["with_approval"] is None
                else f"{a['with_approval']} / {a['without_approval']}")
        rows.append([label, str(a["trials"]), f"{pct(a['rate'])} {interval(a['rate_ci'])}",
                     appr, pct(a["completion_rate"])])
    if not rows:
        return []
    return ["", "## Under attack (injected instructions in tool results)", "",
            *_table(["Group", "Attacked trials", "Attack success (95% CI)",
                     "With / without approval", "Completion under attack"], rows)]


def _comparisons(summary: dict[str, Any]) -> list[str]:
    pairs = summary.get("comparisons") or []
    if not pairs:
        return []
    rows = [[f"{c['model_b']} vs {c['model_a']}", str(c["pairs"]),
             "n/a" if c["completion_diff"] is None else f"{c['completion_diff']:+.0%}",
             f"{c['a_only']} / {c['b_only']}", f"{c['mcnemar_p']:.3g}",
             usd(c["cost_diff_mean"], 6) + " " + interval(c["cost_diff_ci"], 6)]
            for c in pairs]
    out = ["", "## Model comparison (paired on scenario, fault profile and trial)", "",
           *_table(["Models", "Pairs", "Completion change", "Only first / only second met",
                    "McNemar p", "Cost change per trial (95% CI)"], rows)]
    dominated = [p for p in summary.get("frontier") or [] if p["dominated_by"]]
    if dominated:
        out += ["", "Dominated (another model completes as often for less): "
                + "; ".join(f"{p['model']} by {', '.join(p['dominated_by'])}"
                            for p in dominated) + "."]
    return out
