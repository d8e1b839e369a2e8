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

from harness.report import write_report
from harness.report._html import render_page
from harness.runner import SuiteOptions, run_suite

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"
# the first bundled scenarios, frozen: quick to run, and every part of the page shows
SCENARIOS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "classic"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run's report through the report stage, each trial's answer made hostile."""
    run = tmp_path_factory.mktemp("run")
    run_suite(SuiteOptions(paths=(str(SCENARIOS),), trials=6, faults="chaos", out=run,
                           tracing=False, progress=False))
    trials = run / "trials.jsonl"
    rows = [json.loads(line) for line in trials.read_text().splitlines() if line.strip()]
    trials.write_text("".join(json.dumps({**r, "answer": HOSTILE}) + "\n" for r in rows))
    out = tmp_path_factory.mktemp("report")
    write_report(run, out)
    return out / "report.html"


def _browser_path() -> str:
    found = _chromium()
    if found is None:
        print("SKIP reason: no chromium on PATH (.ci/run installs Debian's chromium with apt)")
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium with apt)")
    return found


def _open(browser: Any, page_file: Path, problems: list[str]) -> Any:
    """The page loaded and its script done; what it logs, asks or fetches goes in
    ``problems`` (a self-contained page does none of it)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: problems.append(f"request: {r.url}")
            if not r.url.startswith(("file:", "data:")) else None)
    page.goto(page_file.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    return page


def test_the_page_renders_in_chromium_and_a_trial_click_shows_its_state_path(
        report: Path, tmp_path: Path) -> None:
    browser_path = _browser_path()
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            page = _open(browser, report, problems)

            # every chart decoded to a real image
            widths = page.eval_on_selector_all("img[data-chart]", "els => els.map(e => e.naturalWidth)")
            assert len(widths) == 4 and all(w > 100 for w in widths), widths
            assert page.locator("#overview tbody tr").count() >= 1
            bundled = len(list(SCENARIOS.glob("*/*.yaml")))
            assert page.locator("#verdicts tbody tr").count() == bundled  # one a scenario
            rows = page.locator("#trials tbody tr")
            assert rows.count() >= 1

            # the overview switches grouping: one row per fault profile, beside the overall one
            page.select_option("#group-by", "fault_profile")
            shown = page.locator("#overview tbody tr:visible")
            assert shown.count() == 2, shown.all_inner_texts()

            # filtering by outcome leaves only that outcome
            outcomes = page.eval_on_selector_all("#f-outcome option", "os => os.map(o => o.value)")
            pick = next(o for o in outcomes if o and o != "done")
            page.select_option("#f-outcome", pick)
            cells = page.locator("#trials tbody tr td:nth-child(6)").all_inner_texts()
            assert cells and set(cells) == {pick}, cells
            page.select_option("#f-outcome", "")

            # filter to trials whose goal was not met, open the first one
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


def test_a_trial_whose_detail_was_left_out_says_so(tmp_path: Path) -> None:
    browser_path = _browser_path()
    df = pd.DataFrame({"scenario": "s", "model": "m", "trial": [0, 1], "outcome": "failed",
                       "goal_met": False, "answer": "x"})
    page_file = tmp_path / "report.html"
    page_file.write_text(render_page({"groups": []}, df, None, {}, detail_budget=0))
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_file.as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=20_000)
            page.locator("#trials tbody tr").first.click()
            assert "left out" in page.locator("#state-path").inner_text(timeout=10_000)
            assert page.locator("#detail h4", has_text="Failed goal checks").count() == 0
        finally:
            browser.close()
    assert "all but 2 of them" in page_file.read_text()
    assert problems == []


def test_a_run_with_and_without_budgets_leads_with_the_budget_story_chart(
        tmp_path: Path) -> None:
    browser_path = _browser_path()
    run = tmp_path / "run"
    story = Path(__file__).resolve().parents[1] / "budget_story"
    run_suite(SuiteOptions(paths=(str(story),), trials=3, budgets=("on", "off"), out=run,
                           tracing=False, progress=False))
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            page = _open(browser, run / "report.html", problems)
            # the headline chart is the page's first section, decoded to a real image
            first = page.locator("section").first
            assert first.get_attribute("id") == "budget-story-section"
            img = first.locator("img[data-chart='budget_story.png']")
            assert img.evaluate("e => e.naturalWidth") > 600
            assert img.bounding_box()["width"] > 600  # type: ignore[index]
            # two suites and the whole run, each with and without budgets
            assert page.locator("#budget-story tbody tr").count() == 6
            assert page.locator("#budget-story tr[data-budgets='off']").count() == 3
            # every chart decoded, the four of every run after the story
            widths = page.eval_on_selector_all("img[data-chart]",
                                               "els => els.map(e => e.naturalWidth)")
            assert len(widths) == 5 and all(w > 100 for w in widths), widths
            # the trial table filters by variant
            page.select_option("#f-budgets", "off")
            trials = page.locator("#trials tbody tr td:nth-child(5)").all_inner_texts()
            assert len(trials) == 6 and all(t.endswith("(no budgets)") for t in trials), trials
            page.screenshot(path=str(tmp_path / "story.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
