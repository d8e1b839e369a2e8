"""The pytest plugin, driven through ``pytester``: scenario files as test items.

Each test builds a small project (an ini file, a ``scenarios/`` folder, maybe a test
module) and runs pytest on it in-process, with the plugin loaded from its ``pytest11``
entry point exactly as an installed ``harness`` would be.
"""

from __future__ import annotations

import json
from pathlib import Path

# hypothesis, fakes, harness.runner and harness.report are imported here so that
# pytester's in-process runs find them loaded, instead of importing (and then unloading)
# them again for every run: the runtime, hypothesis, which its pytest plugin imports at
# every session end, and the report stage's numpy, which cannot be loaded twice in one
# process at all
import hypothesis  # noqa: F401
import pytest

import fakes.worlds  # noqa: F401
import harness.report
import harness.runner  # noqa: F401
from harness.llm import live_calls_allowed_now

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
MUG = (ROOT / "tests/fixtures/classic/support/refund-broken-mug.yaml").read_text()
MALFORMED = Path(__file__).parent / "malformed"
#: In-process runs re-register the plugin of an already imported package: pytest warns
#: that it cannot rewrite its asserts, which a real (single) session never sees.
QUIET = "-p no:cacheprovider -W ignore::pytest.PytestAssertRewriteWarning"
INI = f"[pytest]\nharness_scenarios = scenarios\naddopts = {QUIET}\n"


def scenario(name: str = "mug", thresholds: str = "  min_goal_rate: 0.0",
             extra: str = "") -> str:
    """The bundled refund scenario under another name, thresholds and trailing fields."""
    head, _, _ = MUG.partition("\ntrials:")
    return (head.replace("name: refund-broken-mug", f"name: {name}")
            + f"\ntrials: 3\nthresholds:\n{thresholds}\n{extra}")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    (pytester.path / "scenarios").mkdir()
    return pytester


def write(project: pytest.Pytester, rel: str, text: str) -> Path:
    path = project.path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def trial_lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(ln) for f in sorted(out.rglob("trials.jsonl"))
            for ln in f.read_text().splitlines()]


# --- collecting and judging ------------------------------------------------------------


def test_a_passing_scenario_is_a_passing_item(project: pytest.Pytester) -> None:
    write(project, "scenarios/support/mug.yaml", scenario())
    result = project.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "harness: scenarios in scenarios; transport=simulated seed=0*live calls off",
        "scenarios/support/mug.yaml::mug[[]configured[]] PASSED*",
        "*= harness scenarios =*",
        "mug * configured * none * 3 *PASS",
    ])


def test_plain_pytest_runs_testpaths_and_the_scenario_paths(project: pytest.Pytester) -> None:
    project.makeini(INI + "testpaths = tests\n")
    write(project, "tests/test_unit.py", "def test_unit():\n    pass\n")
    write(project, "scenarios/mug.yaml", scenario())
    result = project.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["tests/test_unit.py::test_unit", "scenarios/mug.yaml::mug*"])
    # naming a path runs only that path
    only = project.runpytest("tests", "--collect-only", "-q")
    assert "mug" not in only.stdout.str()


def test_an_impossible_threshold_fails_with_a_readable_report(
        project: pytest.Pytester) -> None:
    # no trial can cost nothing, and A101 is never meant to be refunded
    write(project, "scenarios/mug.yaml", scenario(
        thresholds="  min_goal_rate: 0.9\n  max_p99_cost_usd: 0.0").replace(
        "    - {path: orders.A101.status, equals: shipped}",
        "    - {path: orders.A101.status, equals: refunded}"))
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "mug: thresholds failed: goal rate 0% < 90%; P99 cost $0.0* > $0.0000",
        "scenario mug on configured (faults: none, seed 0, 3 trials, simulated)",
        "  goal rate   0% (0/3), 95% CI [[]0.00, 0.*[]]   threshold >= 90%",
        "  cost        P50 $0.0*  P99 $0.0*   threshold P99 <= $0.00000",
        "  escalated   */3 trials, rate *%",
        "  outcomes    *",
        "  verdict     FAIL: goal rate 0% < 90%; P99 cost*",
        "failing trials (3 of 3):",
        "  trial 0 (seed *): *",
        "      x world orders.A101.status: is 'shipped', want 'refunded'",
        "the same trials again: harness run */scenarios/mug.yaml --seed 0 --out DIR",
        "*FAILED scenarios/mug.yaml::mug[[]configured[]]*",
    ])
    out = result.stdout.str()
    assert "Traceback" not in out and "harness/runner" not in out and "_pytest" not in out


def test_a_malformed_scenario_is_a_collection_error_naming_file_field_and_line(
        project: pytest.Pytester) -> None:
    write(project, "scenarios/typo.yaml", (MALFORMED / "typo-nested-role.yaml").read_text())
    write(project, "scenarios/yaml.yaml",
          (MALFORMED / "bad-yaml-unclosed-bracket.yaml").read_text())
    write(project, "scenarios/mug.yaml", scenario())
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*ERROR collecting scenarios/typo.yaml*",
        "invalid scenario: */scenarios/typo.yaml:11, field 'agent.roles[[]0[]].tool': "
        "unknown field (check the spelling)",
        "*ERROR collecting scenarios/yaml.yaml*",
        "invalid scenario: */scenarios/yaml.yaml:12: invalid YAML*",
    ])
    out = result.stdout.str()
    assert "Traceback" not in out and "ConfigError" not in out and "def collect" not in out


def test_one_scenario_name_in_two_files_is_a_collection_error(
        project: pytest.Pytester) -> None:
    write(project, "scenarios/a.yaml", scenario())
    write(project, "scenarios/b.yaml", scenario())
    result = project.runpytest("--collect-only")
    result.stdout.fnmatch_lines(["*b.yaml, field 'name': scenario name 'mug' is also used by*"])


def test_nothing_is_collected_unless_configured(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\naddopts = {QUIET}\n")
    write(pytester, "scenarios/mug.yaml", scenario())
    write(pytester, "scenarios/bad.yaml", "trials: [\n")
    write(pytester, "tests/test_unit.py", "def test_unit():\n    pass\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert ".yaml" not in result.stdout.str()
    result.stdout.fnmatch_lines(["tests/test_unit.py::test_unit", "1 test collected*"])
    # a scenario file named on the command line is always collected
    named = pytester.runpytest("scenarios/mug.yaml", "--collect-only", "-q")
    named.stdout.fnmatch_lines(["scenarios/mug.yaml::mug[[]configured[]]"])


def test_this_projects_own_configuration_collects_no_scenarios() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    ini = text.partition("[tool.pytest.ini_options]")[2].partition("\n[")[0]
    assert "harness_scenarios" not in ini and 'testpaths = ["tests"]' in ini


# --- options ---------------------------------------------------------------------------


def test_options_reach_the_trials(project: pytest.Pytester) -> None:
    write(project, "scenarios/mug.yaml", scenario())
    out = project.path / "out"
    result = project.runpytest(
        "-v", "--harness-trials", "2", "--harness-seed", "5", "--harness-faults", "flaky-tools",
        "--harness-model", "claude-haiku-4-5", "--harness-model", "claude-sonnet-4-6",
        "--harness-out", str(out))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*mug.yaml::mug[[]claude-haiku-4-5[]] PASSED*",
                                 "*mug.yaml::mug[[]claude-sonnet-4-6[]] PASSED*"])
    rows = trial_lines(out)
    assert len(rows) == 4
    assert {r["model"] for r in rows} == {"claude-haiku-4-5", "claude-sonnet-4-6"}
    assert {r["fault_profile"] for r in rows} == {"flaky-tools"}
    assert {r["trial"] for r in rows} == {0, 1}
    # the seed moves every trial's seed; the same seed gives the same trials again
    again = project.runpytest("--harness-trials", "2", "--harness-seed", "5",
                              "--harness-faults", "flaky-tools", "--harness-model",
                              "claude-haiku-4-5", "--harness-out", str(project.path / "again"))
    again.assert_outcomes(passed=1)
    first = [r for r in rows if r["model"] == "claude-haiku-4-5"]
    assert sorted(map(str, first)) == sorted(map(str, trial_lines(project.path / "again")))
    other = project.runpytest("--harness-trials", "2", "--harness-seed", "6",
                              "--harness-out", str(project.path / "other"))
    other.assert_outcomes(passed=1)
    assert {r["seed"] for r in trial_lines(project.path / "other")}.isdisjoint(
        {r["seed"] for r in rows})


def test_the_budgets_option_runs_each_trial_with_and_without_limits(
        project: pytest.Pytester) -> None:
    write(project, "scenarios/mug.yaml", scenario())
    out = project.path / "out"
    result = project.runpytest("--harness-trials", "2", "--harness-budgets", "on,off",
                               "--harness-out", str(out))
    result.assert_outcomes(passed=1)
    rows = trial_lines(out)
    assert [(r["trial"], r.get("budgets", "on")) for r in rows] == [
        (0, "on"), (1, "on"), (0, "off"), (1, "off")]
    assert rows[0]["seed"] == rows[2]["seed"]
    assert "budget_story.png" in {p.name for p in out.rglob("*.png")}


def test_a_scenarios_own_models_make_one_item_each(project: pytest.Pytester) -> None:
    write(project, "scenarios/mug.yaml",
          scenario(extra="models: [claude-haiku-4-5, claude-opus-4-5]\n"))
    result = project.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["scenarios/mug.yaml::mug[[]claude-haiku-4-5[]]",
                                 "scenarios/mug.yaml::mug[[]claude-opus-4-5[]]"])


def test_the_replay_transport_without_cassettes_fails_naming_the_request(
        project: pytest.Pytester) -> None:
    write(project, "scenarios/mug.yaml", scenario())
    result = project.runpytest("--harness-transport", "replay", "--harness-trials", "1")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "cassette" in out and "Traceback" not in out


@pytest.mark.parametrize(("argv", "says"), [
    (["--harness-faults", "mayhem"], "--harness-faults: unknown profile 'mayhem'"),
    (["--harness-trials", "0"], "--harness-trials must be at least 1"),
    (["--harness-model", "gpt-9"], "--harness-model gpt-9"),
    (["--harness-transport", "live"], "pass --live as well"),
    (["--harness-budgets", "maybe"], "--harness-budgets 'maybe': give on, off or both"),
])
def test_bad_options_are_usage_errors(argv: list[str], says: str,
                                      project: pytest.Pytester) -> None:
    write(project, "scenarios/mug.yaml", scenario())
    result = project.runpytest(*argv)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert says in result.stderr.str()


def test_junit_xml_carries_the_groups_numbers(project: pytest.Pytester) -> None:
    write(project, "scenarios/mug.yaml", scenario())
    project.runpytest("--junitxml", "junit.xml").assert_outcomes(passed=1)
    xml = (project.path / "junit.xml").read_text()
    for name in ("goal_rate", "goal_rate_ci", "cost_p50_usd", "cost_p99_usd", "trials"):
        assert f'name="{name}"' in xml


# --- live calls ------------------------------------------------------------------------

LIVE_TESTS = """
import pytest
from harness.llm import LiveCallsForbidden, check_live_calls_allowed, live_calls_allowed_now

def test_off():
    assert not live_calls_allowed_now()
    with pytest.raises(LiveCallsForbidden):
        check_live_calls_allowed()

@pytest.mark.live
def test_marked():
    assert live_calls_allowed_now()
"""


def test_live_calls_stay_off_unless_marked_or_switched_on(pytester: pytest.Pytester) -> None:
    before = live_calls_allowed_now()
    pytester.makeini(f"[pytest]\naddopts = {QUIET}\n")
    pytester.makepyfile(test_live=LIVE_TESTS)
    pytester.runpytest().assert_outcomes(passed=2)
    # --live switches them on for everything (so test_off now fails)
    result = pytester.runpytest("--live")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_live.py::test_off*"])
    assert live_calls_allowed_now() == before  # the switch is restored after the session
