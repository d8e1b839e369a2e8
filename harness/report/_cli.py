"""``harness report``, ``harness compare`` and ``harness import``.

``report`` exits 1 when a threshold fails, like ``run``; ``compare`` exits 1 when a
scenario's completion fell significantly (exact McNemar p < 0.05) between two runs,
so a CI job can compare this week's run with last week's and fail on a regression.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness._files import write_atomic
from harness.report._compare import compare_runs
from harness.report._format import pct, usd
from harness.report._load import load_trials
from harness.report._summary import jsonable
from harness.report._terminal import print_summary
from harness.report._write import print_notes, write_report

EXIT_OK, EXIT_FAILED = 0, 1


def report_main(args: argparse.Namespace) -> int:
    report = write_report(args.path, args.out, seed=args.seed)
    print_summary(report.summary)
    print_notes(report)
    where = report.files[0].parent if report.files else Path(args.out or args.path)
    print(f"\n{report.summary['groups'][0]['trials'] if report.summary['groups'] else 0} "
          f"trials; report in {where}")
    return EXIT_OK if report.passed else EXIT_FAILED


def import_main(args: argparse.Namespace) -> int:
    from harness.report._taubench import import_taubench

    tfile, _ = import_taubench(args.file, args.out, model=args.model, domain=args.domain)
    report = write_report(Path(args.out))
    print_summary(report.summary)
    print(f"\nimported {len(report.trials)} trials into {tfile}; report in {args.out}")
    return EXIT_OK


def _lines(result: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for step in result["comparisons"]:
        out.append(f"## {step['run_b']} against {step['run_a']}")
        out.append("")
        out.append("| Model | Pairs | Completion before | after | change | McNemar p | "
                   "Cost change per trial (95% CI) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for m in step["models"]:
            ci = m["cost_diff_ci"]
            cost = "n/a" if m["cost_diff_mean"] is None else (
                f"{usd(m['cost_diff_mean'], 6)} [{ci[0]:.6f}, {ci[1]:.6f}]")
            change = "n/a" if m["completion_diff"] is None else f"{m['completion_diff']:+.0%}"
            out.append(f"| {m['model']} | {m['pairs']} | {pct(m['completion_a'])} | "
                       f"{pct(m['completion_b'])} | {change} | {m['mcnemar_p']:.3g} | {cost} |")
        fell = [c for c in step["cells"] if c["regressed"]]
        out.append("")
        if fell:
            out.append("Regressed (completion fell):")
            for c in fell:
                star = " (significant, p < 0.05)" if c["significant"] else ""
                out.append(f"- {c['scenario']} on {c['model']}"
                           + (f" under {c['fault_profile']}" if c["fault_profile"] else "")
                           + f": {pct(c['completion_a'])} -> {pct(c['completion_b'])}, "
                           f"McNemar p {c['mcnemar_p']:.3g}{star}")
        else:
            out.append("No scenario regressed.")
        out.append("")
    for f in result["frontiers"]:
        out.append(f"## Cost against completion in {f['run']}")
        out.append("")
        out.append("| Model | Trials | Completion | Mean cost | Dominated by |")
        out.append("|---|---:|---:|---:|---|")
        for p in f["points"]:
            out.append(f"| {p['model']} | {p['trials']} | {pct(p['completion_rate'])} | "
                       f"{usd(p['mean_cost_usd'])} | {', '.join(p['dominated_by']) or '-'} |")
        out.append("")
    return out


def compare_main(args: argparse.Namespace) -> int:
    from harness.errors import UsageError

    if len(args.runs) < 2:
        raise UsageError("compare: give at least two runs")
    runs = [(str(r), load_trials(r)) for r in args.runs]
    result = compare_runs(runs, seed=args.seed)
    text = "\n".join(_lines(result))
    print(text)
    if args.out:
        out = Path(args.out)
        write_atomic(out / "compare.json", json.dumps(jsonable(result), indent=2) + "\n")
        write_atomic(out / "compare.md", "# Run comparison\n\n" + text + "\n")
    significant = any(c["significant"] for s in result["comparisons"] for c in s["cells"])
    sys.stdout.flush()
    return EXIT_FAILED if significant else EXIT_OK
