"""The price table: hand-computed costs (cache tokens included), and no silent zero."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from harness.core._llm_types import ModelPrice, Usage
from harness.errors import ConfigError
from harness.llm import cost_of, load_prices, parse_price_table, price_for


def test_table_is_dated_and_sourced() -> None:
    table = load_prices()
    assert table.as_of == dt.date(2026, 11, 24)
    assert "Anthropic" in table.source
    assert table.unit == "USD per million tokens"


@pytest.mark.parametrize(("model", "inp", "out"), [
    ("claude-haiku-4-5", 1.0, 5.0),
    ("claude-sonnet-4-5", 3.0, 15.0),
    ("claude-opus-4-1", 15.0, 75.0),
    ("claude-opus-4-5", 5.0, 25.0),
    ("claude-3-5-haiku-20241022", 0.8, 4.0),
])
def test_list_prices_and_cache_multipliers(model: str, inp: float, out: float) -> None:
    p = price_for(model)
    assert (p.input, p.output) == (inp, out)
    assert p.cache_write_5m == pytest.approx(1.25 * inp)
    assert p.cache_write_1h == pytest.approx(2 * inp)
    assert p.cache_read == pytest.approx(0.1 * inp)


def test_claude_3_haiku_keeps_its_published_rounded_cache_prices() -> None:
    p = price_for("claude-3-haiku-20240307")
    assert (p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read) == (
        0.25, 1.25, 0.30, 0.50, 0.03)


def test_dated_alias_resolves_to_the_same_price() -> None:
    assert price_for("claude-haiku-4-5-20251001") == price_for("claude-haiku-4-5")
    assert price_for("claude-opus-4-1-20250805").model == "claude-opus-4-1"


def test_hand_computed_costs_with_cache_tokens() -> None:
    # Sonnet: 1,000 in @ $3, 500 out @ $15, 2,000 cache writes of which 800 at 1 h
    # (1,200 @ $3.75 + 800 @ $6), 10,000 cache reads @ $0.30, all per million.
    usage = Usage(input_tokens=1_000, output_tokens=500, cache_creation_input_tokens=2_000,
                  cache_creation_1h_input_tokens=800, cache_read_input_tokens=10_000)
    expected = (1_000 * 3 + 500 * 15 + 1_200 * 3.75 + 800 * 6 + 10_000 * 0.3) / 1e6
    assert expected == pytest.approx(0.0228)
    assert cost_of("claude-sonnet-4-5", usage) == pytest.approx(expected, rel=1e-12)
    # Haiku 4.5: 1M input + 1M output = $1 + $5.
    assert cost_of("claude-haiku-4-5", Usage(input_tokens=10**6, output_tokens=10**6)) == 6.0
    # Opus 4.1: 200 in, 100 out, 5m write 1,000, read 4,000 -> 0.003 + 0.0075 + 0.01875 + 0.006
    u = Usage(input_tokens=200, output_tokens=100, cache_creation_input_tokens=1_000,
              cache_read_input_tokens=4_000)
    assert cost_of("claude-opus-4-1", u) == pytest.approx(0.03525, rel=1e-12)


def test_price_is_the_core_model_price() -> None:
    assert isinstance(price_for("claude-haiku-4-5"), ModelPrice)


def test_unknown_model_is_an_error_not_zero() -> None:
    with pytest.raises(ConfigError, match="no price for model 'claude-unknown-9'"):
        price_for("claude-unknown-9")


def _file(**models: object) -> str:
    return json.dumps({"as_of": "2026-01-01", "source": "test", "models": models})


def test_bad_files_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"prices\.json.*field 'models\.m\.input'"):
        parse_price_table(_file(m={"input": -1, "output": 1, "cache_write_5m": 1,
                                   "cache_write_1h": 1, "cache_read": 1}), origin="prices.json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_price_table("{", origin="p.json")
    entry = {"input": 1, "output": 1, "cache_write_5m": 1, "cache_write_1h": 1, "cache_read": 1}
    with pytest.raises(ConfigError, match="claimed by"):
        parse_price_table(_file(a={**entry, "aliases": ["x"]}, b={**entry, "aliases": ["x"]}))
