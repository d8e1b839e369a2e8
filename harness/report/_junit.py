"""``junit.xml``: one test case per scenario x model x fault profile, for CI dashboards.

A case fails when its group misses a threshold (or a trial crashed); the failure text
names each threshold missed and the value observed. Observed numbers ride along as
properties, so a dashboard can chart them across builds.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from harness.report._format import pct, usd


def _props(v: dict[str, Any]) -> dict[str, str]:
    o = v["observed"]
    out = {"trials": str(o["trials"]), "goal_met": str(o["goal_met"]),
           "goal_completion_rate": f"{o['goal_completion_rate']:.4f}"}
    for k in ("cost_p50", "cost_p99", "escalation_rate"):
        if o[k] is not None:
            out[k] = f"{o[k]:.6f}"
    out.update({f"threshold.{k}": f"{x:g}" for k, x in v["thresholds"].items()})
    return out


def _details(v: dict[str, Any]) -> str:
    o, th = v["observed"], v["thresholds"]
    lines = [*v["failures"], "",
             f"observed: goal rate {pct(o['goal_completion_rate'])} "
             f"({o['goal_met']}/{o['trials']}), P99 cost {usd(o['cost_p99'])}, "
             f"escalation rate {pct(o['escalation_rate'])}, crashed {o['crashed']}"]
    if th:
        lines.append("thresholds: " + ", ".join(f"{k} {x:g}" for k, x in th.items()))
    return "\n".join(lines)


def render_junit(summary: dict[str, Any], *, name: str = "harness") -> str:
    verdicts = summary["verdicts"]
    suites = ET.Element("testsuites", name=name)
    by_scenario: dict[str, list[dict[str, Any]]] = {}
    for v in verdicts:
        by_scenario.setdefault(v["scenario"], []).append(v)
    total_fail = 0
    for scenario, vs in by_scenario.items():
        fails = sum(not v["passed"] for v in vs)
        total_fail += fails
        suite = ET.SubElement(suites, "testsuite", name=scenario, tests=str(len(vs)),
                              failures=str(fails), errors="0", skipped="0")
        for v in vs:
            case = ET.SubElement(suite, "testcase", classname=f"harness.{scenario}",
                                 name=f"{v['model'] or '-'} / {v['fault_profile'] or '-'}"
                                 + (" / no budgets" if v.get("budgets") == "off" else ""))
            props = ET.SubElement(case, "properties")
            for k, x in _props(v).items():
                ET.SubElement(props, "property", name=k, value=x)
            if not v["passed"]:
                fail = ET.SubElement(case, "failure", message="; ".join(v["failures"]),
                                     type="ThresholdFailed")
                fail.text = _details(v)
    suites.set("tests", str(len(verdicts)))
    suites.set("failures", str(total_fail))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
        suites, encoding="unicode") + "\n"
