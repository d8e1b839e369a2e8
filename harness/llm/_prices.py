"""The dated price table: USD per million tokens for each model we can cost.

Prices are package data (``harness/data/prices.json``) rather than code so a
price change is a reviewed data edit with a new ``as_of`` date. A model missing
from the table is an error, never a zero cost: a silent zero would make the
cheapest-looking model in every report the one we forgot to price.
"""

from __future__ import annotations

import datetime as _dt
import json
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from harness.core._llm_types import ModelPrice, Usage
from harness.errors import ConfigError

_PRICE_FILE = "prices.json"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write_5m: float = Field(ge=0)
    cache_write_1h: float = Field(ge=0)
    cache_read: float = Field(ge=0)
    aliases: tuple[str, ...] = ()


class PriceTable(BaseModel):
    """The whole price file, validated; ``price(model)`` resolves names and aliases."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: _dt.date
    source: str = Field(min_length=1)
    currency: str = "USD"
    unit: str = "USD per million tokens"
    models: dict[str, _Entry]
    _by_name: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _aliases_unique(self) -> PriceTable:
        seen: dict[str, str] = {}
        for name, entry in self.models.items():
            for key in (name, *entry.aliases):
                if key in seen and seen[key] != name:
                    raise ValueError(f"model name {key!r} is claimed by {seen[key]!r} and {name!r}")
                seen[key] = name
        if self.currency != "USD":
            raise ValueError(f"only USD prices are supported, got {self.currency!r}")
        self._by_name = seen
        return self

    def resolve(self, model: str) -> str | None:
        """The table's own name for ``model`` (itself or the entry a dated alias belongs to)."""
        return self._by_name.get(model)

    def known_models(self) -> list[str]:
        return sorted(self._by_name)

    def price(self, model: str) -> ModelPrice:
        """The price of ``model`` (a name or dated alias); ``ConfigError`` if unpriced."""
        canonical = self._by_name.get(model)
        if canonical is None:
            raise ConfigError(
                f"no price for model {model!r} in the price table (as of {self.as_of}); "
                f"priced models: {', '.join(sorted(self.models))}. Add it to "
                "harness/data/prices.json rather than running it at an unknown cost",
                field="model",
            )
        e = self.models[canonical]
        return ModelPrice(
            model=canonical, input=e.input, output=e.output, cache_write_5m=e.cache_write_5m,
            cache_write_1h=e.cache_write_1h, cache_read=e.cache_read,
        )


def parse_price_table(text: str, *, origin: str = "<string>") -> PriceTable:
    """Validate a price file's text; errors name the file and the field."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", file=origin, line=exc.lineno) from None
    try:
        return PriceTable.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise ConfigError(first["msg"], file=origin, field=field) from None


@cache
def load_prices() -> PriceTable:
    """The packaged price table (read once per process)."""
    ref = resources.files("harness").joinpath("data", _PRICE_FILE)
    return parse_price_table(ref.read_text(encoding="utf-8"), origin=f"harness/data/{_PRICE_FILE}")


def price_for(model: str) -> ModelPrice:
    """Shorthand for ``load_prices().price(model)``."""
    return load_prices().price(model)


def cost_of(model: str, usage: Usage) -> float:
    """USD for one finished call of ``model`` with ``usage``."""
    return price_for(model).cost(usage)
