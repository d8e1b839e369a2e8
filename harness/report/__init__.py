"""The report stage: a stored run's trials to summary.json, report.md, junit.xml,
report.html, charts and the end-of-run table; comparisons of models and of runs."""

from harness.report._compare import compare_runs, frontier, model_pairs
from harness.report._load import load_trials
from harness.report._summary import SCHEMA, SCHEMA_VERSION, build_summary
from harness.report._terminal import print_summary, render_verdicts
from harness.report._verdicts import ScenarioInfo, Verdict, scenario_infos
from harness.report._write import Report, build_report, write_report

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "Report",
    "ScenarioInfo",
    "Verdict",
    "build_report",
    "build_summary",
    "compare_runs",
    "frontier",
    "load_trials",
    "model_pairs",
    "print_summary",
    "render_verdicts",
    "scenario_infos",
    "write_report",
]
