"""The four charts: real PNGs with something drawn, the same bytes for the same trials,
the frontier's dominated choices, and the transport named on every chart."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg

from harness.report._charts import (
    CHART_FILES,
    frontier_points,
    render_charts,
    transport_note,
    transports,
)


def trials(n: int = 300, transport: str | None = "simulated") -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "suite": "s", "scenario": "sc", "trial": np.arange(n),
        "model": np.where(np.arange(n) % 3 == 0, "big", "small"),
        "fault_profile": np.where(np.arange(n) % 2 == 0, "none", "chaos"),
        "outcome": rng.choice(["done", "failed", "budget_exhausted", "escalated"], n),
        "goal_met": rng.random(n) < 0.7,
        "cost_usd": rng.lognormal(-4, 0.6, n),
        "transport": transport,
    })


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(mpimg.imread(io.BytesIO(png), format="png"))


def test_each_chart_is_a_png_with_something_drawn_and_the_same_bytes_twice() -> None:
    df = trials()
    first = render_charts(df, {"groups": []})
    again = render_charts(df.copy(), {"groups": []})
    assert list(first) == list(CHART_FILES)
    for name, png in first.items():
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), name
        img = pixels(png)
        assert img.shape[0] > 300 and img.shape[1] > 500, name
        # not a blank canvas: many distinct colours
        rgb = (img[..., :3] * 255).astype(np.uint32)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        assert len(np.unique(packed)) > 20, name
        assert b"tIME" not in png and b"Software" not in png, name  # no date, no tool stamp
        assert again[name] == png, name


def test_charts_with_no_cost_still_draw_and_say_so() -> None:
    df = trials(5).drop(columns=["cost_usd"])
    charts = render_charts(df, {"groups": []})
    assert all(len(png) > 1000 for png in charts.values())


def test_the_frontier_marks_a_model_that_costs_more_and_completes_less() -> None:
    df = pd.DataFrame({"model": ["cheap", "cheap", "dear", "dear", "best", "best"],
                       "goal_met": [True, False, False, False, True, True],
                       "cost_usd": [0.01, 0.01, 0.05, 0.05, 0.03, 0.03]})
    pts = {p["model"]: p for p in frontier_points(df)}
    assert pts["dear"]["dominated"]  # best completes more for less
    assert not pts["cheap"]["dominated"] and not pts["best"]["dominated"]
    assert pts["best"]["completion"] == 1.0 and pts["cheap"]["cost"] == pytest.approx(0.01)


@pytest.mark.parametrize(("names", "says"), [
    (["simulated"], "not a real model's intelligence"),
    (["live"], "the real model"),
    (["replay"], "recorded replies of the real model"),
    ([], "transport not recorded"),
])
def test_the_transport_note_says_what_the_figures_measure(names: list[str], says: str) -> None:
    assert says in transport_note(names)


def test_transports_come_from_the_trials_column() -> None:
    df = trials(4)
    df.loc[0, "transport"] = "live"
    assert transports(df) == ["live", "simulated"]
    assert transports(trials(4, transport=None)) == []
