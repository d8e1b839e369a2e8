"""One scenario per bundled suite ships with cassettes, recorded through ``--record`` from
the simulated transport; replaying them gives the trials the simulation gave.

If a change to the runtime, a prompt or a scenario alters any request, the replay
misses and this test names the request: re-record with
``harness run scenarios/<suite>/<scenario>.yaml --trials 3 --record``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.llm import load_cassette
from harness.runner import SuiteOptions, run_suite

ROOT = Path(__file__).resolve().parents[1]
RECORDED = sorted({(p.parent.parent, p.name.split("__")[0])
                   for p in (ROOT / "scenarios").glob("*/cassettes/*.json")})


def test_every_suite_has_a_recorded_scenario() -> None:
    suites = {folder.name for folder in (ROOT / "scenarios").iterdir() if folder.is_dir()}
    assert {folder.name for folder, _ in RECORDED} == suites


@pytest.mark.parametrize(("folder", "name"), RECORDED, ids=[n for _, n in RECORDED])
def test_a_recorded_scenario_replays_to_the_simulated_trials(
        tmp_path: Path, folder: Path, name: str) -> None:
    cassettes = sorted((folder / "cassettes").glob(f"{name}__*.json"))
    assert all(load_cassette(c).recorded_from == "simulated" for c in cassettes)
    path = str(folder / f"{name}.yaml")

    def rows(transport: str) -> list[dict[str, object]]:
        out = tmp_path / transport
        run_suite(SuiteOptions(paths=(path,), trials=len(cassettes), transport=transport,
                               out=out, tracing=False, progress=False, report_files=False))
        lines = (out / "trials.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if k != "transport"} for x in lines]

    simulated, replayed = rows("simulated"), rows("replay")
    assert len(replayed) == len(cassettes)
    assert replayed == simulated
