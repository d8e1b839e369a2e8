"""report.html opened in a real headless Chromium (Debian's ``chromium``): the charts and
tables render, the console stays clean, and a click on a trial shows its state path.

Driven with Playwright pointed at the system browser (``executable_path``): it never
downloads a browser of its own. Skips, saying why, only when no chromium is installed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from harness.report._html import write_visuals
from harness.runner import SuiteOptions, run_suite

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _trials(path: Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    keys = ["suite", "scenario", "model", "fault_profile", "trial"]
    return pd.DataFrame(rows).sort_values(keys, kind="stable").reset_index(drop=True)


def _summary(df: pd.DataFrame) -> dict[str, Any]:
    rate = float(df["goal_met"].mean())
    return {"groups": [{"by": dict.fromkeys(("suite", "scenario", "model", "fault_profile")),
                        "trials": len(df), "goal_completion_rate": rate,
                        "goal_completion_ci": [0.0, 1.0], "pass_hat_k": {"1": rate},
                        "cost_usd": {"mean": float(df["cost_usd"].mean()),
                                     "p50": float(df["cost_usd"].median()),
                                     "p99": float(df["cost_usd"].quantile(0.99))}}],
            "verdicts": [{"scenario": "refund-broken-mug", "model": "configured",
                          "fault_profile": "chaos", "passed": False,
                          "failures": ["goal rate 40% < 60%"], "observed": {}, "thresholds": {}}]}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    run_suite(SuiteOptions(paths=(str(SCENARIOS),), trials=2, faults="chaos", out=run,
                           tracing=False, progress=False))
    df = _trials(run / "trials.jsonl")
    df["answer"] = HOSTILE  # a prompt-injection-style answer must show as text, never run
    out = tmp_path_factory.mktemp("report")
    write_visuals(out, _summary(df), df, run)
    return out / "report.html"


def test_the_page_renders_in_chromium_and_a_trial_click_shows_its_state_path(
        report: Path, tmp_path: Path) -> None:
    browser_path = _chromium()
    if browser_path is None:
        print("SKIP reason: no chromium on PATH (.ci/run installs Debian's chromium with apt)")
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium with apt)")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on("request", lambda r: problems.append(f"request: {r.url}")
                    if not r.url.startswith(("file:", "data:")) else None)
            page.goto(report.as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=20_000)

            # every chart decoded to a real image
            widths = page.eval_on_selector_all("img[data-chart]", "els => els.map(e => e.naturalWidth)")
            assert len(widths) == 4 and all(w > 100 for w in widths), widths
            assert page.locator("#overview tbody tr").count() >= 1
            assert page.locator("#verdicts tbody tr").count() == 1
            rows = page.locator("#trials tbody tr")
            assert rows.count() >= 1

            # filter to trials that did not end done, open the first one
            page.select_option("#f-goal", "false")
            first = page.locator("#trials tbody tr").first
            scenario = first.locator("td").nth(1).inner_text()
            first.click()
            path = page.locator("#state-path .state")
            path.first.wait_for(timeout=10_000)
            states = path.all_inner_texts()
            assert states[0] == "idle", states
            assert states[-1] in ("done", "failed"), states
            assert "planning" in states or "executing" in states, states
            assert scenario in page.locator("#detail h3").inner_text()
            assert page.locator("#detail h4", has_text="Model calls").count() == 1
            assert page.locator("#detail pre", has_text=HOSTILE).count() == 1
            assert page.locator("#detail img").count() == 0
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000
    print(f"screenshot: {tmp_path / 'report.png'}")
    assert problems == []
