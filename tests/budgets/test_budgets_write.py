"""Setting ``agent.limits`` in place: only the limits' own text changes, every other byte
(comments, order, quoting, blank lines, line endings) is kept, and a file that cannot be
edited safely is refused, not mangled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.budgets import set_limits
from harness.errors import ConfigError
from harness.scenario import load_scenario

FIXTURE = Path(__file__).with_name("refund-unbounded.yaml")
NEW = {"llm_calls": "16", "tool_calls": "8", "tokens_in": "8123", "tokens_out": "857",
       "cost_usd": "0.0197", "wall_time_s": "50.4"}


def _expected(text: str, values: dict[str, str]) -> Any:
    data = yaml.safe_load(text)
    data["agent"]["limits"] = {**(data["agent"].get("limits") or {}),
                               **{k: yaml.safe_load(v) for k, v in values.items()}}
    return data


def test_the_fixture_keeps_every_other_byte(tmp_path: Path) -> None:
    text = FIXTURE.read_text()
    out = set_limits(text, NEW, file=str(FIXTURE))
    before, after = text.splitlines(keepends=True), out.splitlines(keepends=True)
    assert len(before) == len(after)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert [b for _, b in changed] == [
        "    llm_calls: 16     # calls, retries included\n",
        "    tool_calls: 8\n",
        "    tokens_in: 8123\n",
        "    tokens_out: 857\n",
        "    cost_usd: 0.0197\n",
        "    wall_time_s: 50.4  # virtual seconds on the simulated transport\n",
    ]
    assert "    # output tokens and dollars\n" in after
    assert yaml.safe_load(out) == _expected(text, NEW)
    (tmp_path / "s.yaml").write_text(out)  # still a valid scenario, with the new limits
    limits = load_scenario(tmp_path / "s.yaml").scenario.agent.limits
    assert (limits.llm_calls, limits.cost_usd, limits.wall_time_s) == (16, 0.0197, 50.4)


_LAYOUTS = {
    "block, four-space, comments": (
        "# top\nname: x\nagent:\n    orchestrator: {model: m}   # o\n"
        "    limits:\n        llm_calls: 30  # keep me\n        cost_usd: '0.5'\n\n"
        "# after\nworld:\n    kind: s\n"),
    "no limits, a sequence last": (
        "agent:\n  roles:\n  - name: a\n    tools: [x, y]\n  - name: b\n\n\n# gap\n"
        "trials: 3\n"),
    "flow limits": "agent:\n  limits: {tool_calls: 3}   # flow\n  x: null\nz: 1\n",
    "empty flow limits": "agent:\n  limits: {}\n",
    "limits: null with a comment": "agent:\n  limits: null  # later\n  x: 1\n",
    "limits: with nothing": "agent:\n  limits:\n  x: 1\n",
    "CRLF, no newline at the end": "a: 1\r\nagent:\r\n  limits:\r\n    tokens_in: 5",
    "own-loop agent": "agent:\n  entry: pkg.mod:run   # own loop\n  limits:\n    llm_calls: 9\n",
}


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(sorted(_LAYOUTS)),
       st.dictionaries(st.sampled_from(sorted(NEW)),
                       st.one_of(st.integers(0, 10**9).map(str),
                                 st.decimals(0, 10**6, places=4).map(lambda d: format(d, "f"))),
                       min_size=1))
def test_any_layout_changes_only_the_limits(layout: str, values: dict[str, str]) -> None:
    text = _LAYOUTS[layout]
    out = set_limits(text, values, file="s.yaml")
    assert yaml.safe_load(out) == _expected(text, values)
    # every line of the original is still there, in order (edited ones aside)
    nl = "\r\n" if "\r\n" in text else "\n"
    limit_keys = tuple(f"{k}:" for k in NEW)
    kept = [ln for ln in text.split(nl) if not ln.strip().startswith(limit_keys)
            and "limits:" not in ln]
    rest = iter(out.split(nl))
    assert all(any(ln == o for o in rest) for ln in kept), out
    for comment in ("# top", "# keep me", "# after", "# gap", "# flow", "# later", "# own loop"):
        assert (comment in out) == (comment in text)
    if nl == "\r\n":
        assert out.count("\n") == out.count("\r\n")


def test_quoting_and_order_of_untouched_keys_survive() -> None:
    text = "agent:\n  limits:\n    tokens_out: 7\n    llm_calls: 30\n  x: 'q'\n"
    out = set_limits(text, {"llm_calls": "12"}, file="s.yaml")
    assert out == "agent:\n  limits:\n    tokens_out: 7\n    llm_calls: 12\n  x: 'q'\n"


@pytest.mark.parametrize("text, why", [
    ("defaults: &d {llm_calls: 3}\nagent:\n  limits: *d\n", "in place"),  # shared by alias
    ("agent: {limits: {llm_calls: 3}}\n", "flow mapping"),
    ("agent:\n  limits: [1, 2]\n", "not a mapping"),
    ("name: x\n", "no agent"),
    ("- a\n", "top level"),
    ("agent:\n  limits: {llm_calls: [\n", "invalid YAML"),
])
def test_files_that_cannot_be_edited_safely_are_refused(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as err:
        set_limits(text, {"llm_calls": "5"}, file="s.yaml")
    assert str(err.value).startswith("s.yaml")
