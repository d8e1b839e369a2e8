"""The shared codebase for the autonomous-dev scenarios: a warehouse inventory service."""

FILES = {}

FILES["README.md"] = '''# inventory

A small HTTP service that lists the items in our warehouses, prices orders and
exports the nightly stock report.

## Layout

- `src/inventory/models.py`: items and warehouses
- `src/inventory/pagination.py`: cutting a listing into pages
- `src/inventory/api.py`: the HTTP layer (`GET /items`, `POST /quote`)
- `src/inventory/billing.py`: order quotes, VAT and rounding
- `src/inventory/reports.py`: the nightly stock report (CSV)
- `src/inventory/config.py`: settings from the environment

## Listing items

`GET /items?page=N&size=M` returns one page of items. Pages are numbered from 1.
The response carries `items`, `page`, `size`, `total` (all items), `pages` (the
number of pages, the last one possibly short) and `has_next`.

## Money

Amounts are `Decimal`, never `float`. Each line is rounded to the cent half-up
(`ROUND_HALF_UP`), VAT is computed on the rounded net total, and the gross total
is net plus VAT. Prices in the catalogue are net.

## Development

    pip install -e .[test]
    pytest -q

Releases are tagged `vMAJOR.MINOR.PATCH` and listed in CHANGELOG.md. Production
deploys need the on-call engineer's approval.
'''

FILES["CHANGELOG.md"] = '''# Changelog

## 2.3.0
- Items can be filtered by warehouse (`?warehouse=BER`).
- The listing is sorted by SKU.
- The stock report gains a `warehouse` column.

## 2.2.1
- Fixed a crash when a warehouse had no items.

## 2.2.0
- `POST /quote` prices an order with VAT.
'''

FILES["pyproject.toml"] = '''[project]
name = "inventory"
version = "2.3.0"
requires-python = ">=3.11"
dependencies = []

[project.optional-dependencies]
test = ["pytest>=8"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]

[tool.ruff]
line-length = 100
'''

FILES["src/inventory/__init__.py"] = '''"""The inventory service: items, warehouses, quotes and the nightly report."""

__version__ = "2.3.0"
'''

FILES["src/inventory/models.py"] = '''"""Items and warehouses as the service stores them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Warehouse:
    code: str
    city: str
    country: str = "DE"


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    quantity: int
    warehouse: str
    unit_price: Decimal = Decimal("0.00")
    reorder_level: int = 5

    def in_stock(self) -> bool:
        return self.quantity > 0

    def needs_reorder(self) -> bool:
        """At or under its reorder level: the buyers want to hear about it."""
        return self.quantity <= self.reorder_level


def sort_items(items: list[Item]) -> list[Item]:
    """Listing order: by SKU, so pages are stable between requests."""
    return sorted(items, key=lambda item: item.sku)


def in_warehouse(items: list[Item], code: str | None) -> list[Item]:
    if code is None:
        return list(items)
    return [item for item in items if item.warehouse == code]


def find(items: list[Item], sku: str) -> Item:
    for item in items:
        if item.sku == sku:
            return item
    raise KeyError(f"no item with SKU {sku!r}")
'''

FILES["src/inventory/pagination.py"] = '''"""Cutting a sorted listing into pages. Pages are numbered from 1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    size: int
    has_next: bool


def check_bounds(page: int, size: int) -> None:
    if page < 1:
        raise ValueError(f"page must be 1 or more, got {page}")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValueError(f"size must be between 1 and {MAX_PAGE_SIZE}, got {size}")


def paginate(items: list[T], page: int, size: int) -> Page[T]:
    check_bounds(page, size)
    start = (page - 1) * size
    end = start + size
    has_next = end < len(items)
    return Page(items=items[start:end], page=page, size=size, has_next=has_next)
'''

FILES["src/inventory/api.py"] = '''"""The HTTP layer: query parameters in, JSON out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from inventory.billing import quote
from inventory.models import Item, find, in_warehouse, sort_items
from inventory.pagination import paginate

DEFAULT_PAGE_SIZE = 20


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def list_items(store: list[Item], params: dict[str, str]) -> dict[str, Any]:
    """GET /items: one page of the (optionally filtered) listing."""
    page_no = _int_param(params, "page", 1)
    size = _int_param(params, "size", DEFAULT_PAGE_SIZE)
    items = sort_items(in_warehouse(store, params.get("warehouse")))
    page = paginate(items, page_no, size)
    total = len(items)
    return {
        "items": [item.sku for item in page.items],
        "page": page.page,
        "size": page.size,
        "total": total,
        "pages": -(-total // size),
        "has_next": page.has_next,
    }


def post_quote(store: list[Item], body: dict[str, Any]) -> dict[str, Any]:
    """POST /quote: price an order of {"lines": [{"sku": ..., "quantity": ...}]}."""
    lines = []
    for raw in body.get("lines", []):
        item = find(store, str(raw["sku"]))
        quantity = int(raw["quantity"])
        if quantity < 1:
            raise ValueError(f"quantity must be 1 or more for {item.sku}")
        lines.append((item.sku, quantity, item.unit_price))
    q = quote(lines, country=str(body.get("country", "DE")))
    return {
        "lines": [{"sku": s, "quantity": n, "amount": str(a)} for s, n, a in q.lines],
        "net": str(q.net),
        "vat": str(q.vat),
        "gross": str(q.gross),
        "currency": "EUR",
    }


def health() -> dict[str, Any]:
    return {"status": "ok", "decimal_context": str(Decimal(1) / Decimal(3))[:6]}
'''

FILES["src/inventory/billing.py"] = '''"""Order quotes: line amounts, VAT by country, rounding to the cent.

Amounts are Decimal throughout. Each line is rounded half-up to the cent; VAT is
computed on the rounded net total and rounded half-up too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")

VAT_RATES = {
    "DE": Decimal("0.19"),
    "AT": Decimal("0.20"),
    "FR": Decimal("0.20"),
    "NL": Decimal("0.21"),
}


@dataclass(frozen=True)
class Quote:
    lines: list[tuple[str, int, Decimal]]
    net: Decimal
    vat: Decimal
    gross: Decimal


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def vat_rate(country: str) -> Decimal:
    try:
        return VAT_RATES[country.upper()]
    except KeyError:
        raise ValueError(f"no VAT rate for country {country!r}") from None


def line_amount(quantity: int, unit_price: Decimal) -> Decimal:
    return to_cents(unit_price * quantity)


def quote(lines: list[tuple[str, int, Decimal]], country: str = "DE") -> Quote:
    priced = [(sku, n, line_amount(n, price)) for sku, n, price in lines]
    net = sum((amount for _, _, amount in priced), Decimal("0.00"))
    vat = to_cents(net * vat_rate(country))
    return Quote(lines=priced, net=net, vat=vat, gross=net + vat)
'''

FILES["src/inventory/reports.py"] = '''"""The nightly stock report: one CSV row per item, written for the buyers."""

from __future__ import annotations

import csv
import io
from datetime import date

from inventory.models import Item, sort_items

COLUMNS = ("date", "warehouse", "sku", "name", "quantity", "reorder")


def report_date(day: date) -> str:
    """Dates in the report are ISO 8601 (YYYY-MM-DD): the buyers' spreadsheet sorts them."""
    return day.isoformat()


def rows(items: list[Item], day: date) -> list[dict[str, str]]:
    out = []
    for item in sort_items(items):
        out.append({
            "date": report_date(day),
            "warehouse": item.warehouse,
            "sku": item.sku,
            "name": item.name,
            "quantity": str(item.quantity),
            "reorder": "yes" if item.needs_reorder() else "no",
        })
    return out


def stock_report(items: list[Item], day: date) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\\n")
    writer.writeheader()
    writer.writerows(rows(items, day))
    return buf.getvalue()


def reorder_list(items: list[Item]) -> list[str]:
    """SKUs the buyers should reorder, in listing order."""
    return [item.sku for item in sort_items(items) if item.needs_reorder()]
'''

FILES["src/inventory/config.py"] = '''"""Settings from the environment, read once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    database_url: str
    page_size: int = 20
    report_hour: int = 2
    debug: bool = False


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"{name} must be a yes/no value, got {raw!r}")


def env_int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def load() -> Settings:
    url = os.environ.get("INVENTORY_DATABASE_URL")
    if not url:
        raise RuntimeError("INVENTORY_DATABASE_URL is not set")
    return Settings(
        database_url=url,
        page_size=env_int("INVENTORY_PAGE_SIZE", 20, 1, 100),
        report_hour=env_int("INVENTORY_REPORT_HOUR", 2, 0, 23),
        debug=env_bool("INVENTORY_DEBUG"),
    )
'''

FILES["tests/conftest.py"] = '''from decimal import Decimal

import pytest

from inventory.models import Item


@pytest.fixture
def store():
    return [
        Item("A1", "bolt M4", 120, "BER", Decimal("0.05"), 50),
        Item("A2", "nut M4", 3, "BER", Decimal("0.03"), 50),
        Item("B1", "hinge", 5, "MUC", Decimal("2.49"), 5),
        Item("B2", "handle", 0, "MUC", Decimal("4.15")),
        Item("C1", "shelf", 12, "HAM", Decimal("19.99"), 2),
    ]
'''

FILES["tests/test_pagination.py"] = '''import pytest

from inventory.pagination import paginate

ITEMS = ["A1", "A2", "A3", "A4", "A5"]


def test_first_page_starts_at_first_item():
    assert paginate(ITEMS, page=1, size=2).items == ["A1", "A2"]


def test_last_page_has_no_next():
    last = paginate(ITEMS, page=3, size=2)
    assert last.items == ["A5"] and last.has_next is False


def test_exact_fit_has_no_next():
    assert paginate(ITEMS[:4], page=2, size=2).has_next is False


def test_rejects_page_zero():
    with pytest.raises(ValueError):
        paginate(ITEMS, page=0, size=2)
'''

FILES["tests/test_api.py"] = '''import pytest

from inventory.api import list_items, post_quote


def test_page_count_rounds_up(store):
    assert list_items(store, {"size": "2"})["pages"] == 3


def test_filter_by_warehouse(store):
    assert list_items(store, {"warehouse": "MUC"})["items"] == ["B1", "B2"]


def test_bad_page_parameter(store):
    with pytest.raises(ValueError):
        list_items(store, {"page": "two"})


def test_quote_endpoint(store):
    out = post_quote(store, {"lines": [{"sku": "B1", "quantity": 3}]})
    assert (out["net"], out["vat"], out["gross"]) == ("7.47", "1.42", "8.89")
'''

FILES["tests/test_billing.py"] = '''from decimal import Decimal

import pytest

from inventory.billing import line_amount, quote, vat_rate


def test_line_rounds_half_up():
    assert line_amount(1, Decimal("0.125")) == Decimal("0.13")


def test_vat_on_rounded_net():
    q = quote([("A1", 3, Decimal("0.335")), ("B1", 1, Decimal("2.49"))])
    assert (q.net, q.vat, q.gross) == (Decimal("3.50"), Decimal("0.67"), Decimal("4.17"))


def test_unknown_country():
    with pytest.raises(ValueError):
        vat_rate("XX")


def test_country_is_case_insensitive():
    assert vat_rate("nl") == Decimal("0.21")
'''

FILES["tests/test_reports.py"] = '''from datetime import date

from inventory.reports import reorder_list, stock_report


def test_report_header(store):
    first = stock_report(store, date(2026, 3, 1)).splitlines()[0]
    assert first == "date,warehouse,sku,name,quantity,reorder"


def test_report_dates_are_iso(store):
    row = stock_report(store, date(2026, 3, 1)).splitlines()[1]
    assert row.startswith("2026-03-01,BER,A1,")


def test_reorder_at_level(store):
    assert reorder_list(store) == ["A2", "B1", "B2"]
'''

FILES["tests/test_config.py"] = '''import pytest

from inventory.config import env_bool, env_int, load


def test_debug_accepts_yes(monkeypatch):
    monkeypatch.setenv("INVENTORY_DEBUG", "Yes")
    assert env_bool("INVENTORY_DEBUG") is True


def test_page_size_bounds(monkeypatch):
    monkeypatch.setenv("INVENTORY_PAGE_SIZE", "500")
    with pytest.raises(ValueError):
        env_int("INVENTORY_PAGE_SIZE", 20, 1, 100)


def test_load_needs_database(monkeypatch):
    monkeypatch.delenv("INVENTORY_DATABASE_URL", raising=False)
    with pytest.raises(RuntimeError):
        load()
'''

# passing checks on the healthy parts of the tree: (name, file, contains, test_file)
HEALTHY = [
    ("first_page_starts_at_first_item", "src/inventory/pagination.py", "start = (page - 1) * size", "tests/test_pagination.py"),
    ("last_page_has_no_next", "src/inventory/pagination.py", "has_next = end < len(items)", "tests/test_pagination.py"),
    ("rejects_page_zero", "src/inventory/pagination.py", "page < 1", "tests/test_pagination.py"),
    ("page_count_rounds_up", "src/inventory/api.py", "-(-total // size)", "tests/test_api.py"),
    ("filter_by_warehouse", "src/inventory/models.py", "item.warehouse == code", "tests/test_api.py"),
    ("bad_page_parameter", "src/inventory/api.py", "must be a whole number", "tests/test_api.py"),
    ("line_rounds_half_up", "src/inventory/billing.py", "rounding=ROUND_HALF_UP", "tests/test_billing.py"),
    ("vat_on_rounded_net", "src/inventory/billing.py", "vat = to_cents(net * vat_rate(country))", "tests/test_billing.py"),
    ("unknown_country", "src/inventory/billing.py", "no VAT rate for country", "tests/test_billing.py"),
    ("country_is_case_insensitive", "src/inventory/billing.py", "VAT_RATES[country.upper()]", "tests/test_billing.py"),
    ("report_header", "src/inventory/reports.py", 'COLUMNS = ("date", "warehouse", "sku", "name", "quantity", "reorder")', "tests/test_reports.py"),
    ("report_dates_are_iso", "src/inventory/reports.py", "return day.isoformat()", "tests/test_reports.py"),
    ("reorder_at_level", "src/inventory/models.py", "self.quantity <= self.reorder_level", "tests/test_reports.py"),
    ("debug_accepts_yes", "src/inventory/config.py", "value = raw.strip().lower()", "tests/test_config.py"),
    ("page_size_bounds", "src/inventory/config.py", "if not low <= value <= high:", "tests/test_config.py"),
    ("load_needs_database", "src/inventory/config.py", "INVENTORY_DATABASE_URL is not set", "tests/test_config.py"),
    ("quote_endpoint", "src/inventory/billing.py", "gross=net + vat", "tests/test_api.py"),
]

# -- the rest of each module: what a real module carries besides the lines a task touches --

FILES["src/inventory/models.py"] += '''

@dataclass(frozen=True)
class Reservation:
    """Stock held for an order that is not yet picked."""

    order_id: str
    sku: str
    quantity: int
    warehouse: str

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError(f"a reservation holds at least one unit, got {self.quantity}")


@dataclass(frozen=True)
class Movement:
    """One change to an item's stock: a delivery (positive) or a pick (negative)."""

    sku: str
    warehouse: str
    change: int
    reason: str


def available(item: Item, reservations: list[Reservation]) -> int:
    """Units that can still be promised: stock minus what is reserved, never below zero."""
    held = sum(r.quantity for r in reservations
               if r.sku == item.sku and r.warehouse == item.warehouse)
    return max(0, item.quantity - held)


def apply_movements(items: list[Item], movements: list[Movement]) -> list[Item]:
    """The items after the movements, in the same order; an unknown SKU is an error."""
    by_key = {(item.sku, item.warehouse): item for item in items}
    for move in movements:
        key = (move.sku, move.warehouse)
        if key not in by_key:
            raise KeyError(f"no item {move.sku} in warehouse {move.warehouse}")
        item = by_key[key]
        quantity = item.quantity + move.change
        if quantity < 0:
            raise ValueError(f"{move.reason}: {move.sku} would go below zero ({quantity})")
        by_key[key] = Item(item.sku, item.name, quantity, item.warehouse, item.unit_price,
                           item.reorder_level)
    return [by_key[(item.sku, item.warehouse)] for item in items]


def warehouses_of(items: list[Item]) -> list[str]:
    """Warehouse codes that hold any of the items, sorted."""
    return sorted({item.warehouse for item in items})
'''

FILES["src/inventory/pagination.py"] += '''

@dataclass(frozen=True)
class Cursor:
    """An opaque position for clients that page through a listing that changes under them."""

    after_sku: str
    size: int

    def encode(self) -> str:
        return f"{self.after_sku}:{self.size}"

    @staticmethod
    def decode(raw: str) -> Cursor:
        sku, _, size = raw.rpartition(":")
        if not sku or not size.isdigit():
            raise ValueError(f"not a cursor: {raw!r}")
        check_bounds(1, int(size))
        return Cursor(after_sku=sku, size=int(size))


def after_cursor(skus: list[str], cursor: Cursor | None, size: int) -> tuple[list[str], Cursor | None]:
    """The next ``size`` SKUs after the cursor's, and the cursor for the page after that."""
    check_bounds(1, size)
    start = 0
    if cursor is not None:
        start = next((i + 1 for i, sku in enumerate(skus) if sku == cursor.after_sku), len(skus))
    chunk = skus[start:start + size]
    more = start + size < len(skus)
    return chunk, (Cursor(after_sku=chunk[-1], size=size) if more and chunk else None)
'''

FILES["src/inventory/api.py"] += '''

def get_item(store: list[Item], sku: str) -> dict[str, Any]:
    """GET /items/<sku>: one item, or a 404 the router turns into JSON."""
    try:
        item = find(store, sku)
    except KeyError:
        return {"error": "not_found", "sku": sku, "status": 404}
    return {
        "sku": item.sku,
        "name": item.name,
        "quantity": item.quantity,
        "warehouse": item.warehouse,
        "unit_price": str(item.unit_price),
        "in_stock": item.in_stock(),
        "needs_reorder": item.needs_reorder(),
    }


def stock_levels(store: list[Item], params: dict[str, str]) -> dict[str, Any]:
    """GET /stock: units per warehouse, for the dashboard on the warehouse floor."""
    levels: dict[str, int] = {}
    for item in in_warehouse(store, params.get("warehouse")):
        levels[item.warehouse] = levels.get(item.warehouse, 0) + item.quantity
    return {"levels": dict(sorted(levels.items())), "items": len(store)}


ERRORS = {
    ValueError: (400, "bad_request"),
    KeyError: (404, "not_found"),
    RuntimeError: (503, "unavailable"),
}


def error_response(err: Exception) -> dict[str, Any]:
    """The JSON body for an error raised below the HTTP layer (unknown kinds are 500s)."""
    for kind, (status, code) in ERRORS.items():
        if isinstance(err, kind):
            return {"status": status, "error": code, "message": str(err)}
    return {"status": 500, "error": "internal", "message": "internal error"}
'''

FILES["src/inventory/billing.py"] += '''

DISCOUNT_TIERS = (
    (Decimal("1000.00"), Decimal("0.05")),
    (Decimal("5000.00"), Decimal("0.08")),
)


def volume_discount(net: Decimal) -> Decimal:
    """The sales desk's volume discount on a net total, rounded to the cent."""
    rate = Decimal("0")
    for threshold, tier_rate in DISCOUNT_TIERS:
        if net >= threshold:
            rate = tier_rate
    return to_cents(net * rate)


def format_eur(amount: Decimal) -> str:
    """German formatting for quotes printed for customers: 1.234,50 EUR."""
    whole, _, cents = f"{to_cents(amount):,.2f}".partition(".")
    return f"{whole.replace(',', '.')},{cents} EUR"


def invoice_number(year: int, sequence: int) -> str:
    """INV-2026-000123: the finance team's format, one sequence per year."""
    if sequence < 1:
        raise ValueError(f"invoice sequence starts at 1, got {sequence}")
    return f"INV-{year}-{sequence:06d}"


def split_by_country(orders: list[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """Net totals per country, for the monthly VAT return."""
    totals: dict[str, Decimal] = {}
    for country, net in orders:
        vat_rate(country)  # an unknown country is an error here too
        key = country.upper()
        totals[key] = totals.get(key, Decimal("0.00")) + net
    return dict(sorted(totals.items()))
'''

FILES["src/inventory/reports.py"] += '''

def warehouse_summary(items: list[Item]) -> list[dict[str, str]]:
    """One row per warehouse: items, units, and how many need reordering."""
    out = []
    for code in sorted({item.warehouse for item in items}):
        mine = [item for item in items if item.warehouse == code]
        out.append({
            "warehouse": code,
            "items": str(len(mine)),
            "units": str(sum(item.quantity for item in mine)),
            "reorder": str(sum(1 for item in mine if item.needs_reorder())),
        })
    return out


def reorder_email(items: list[Item], day: date) -> str:
    """The plain-text mail the buyers get with the report."""
    skus = reorder_list(items)
    if not skus:
        return f"Stock report {report_date(day)}: nothing to reorder."
    lines = [f"Stock report {report_date(day)}: {len(skus)} item(s) to reorder.", ""]
    for item in sort_items(items):
        if item.sku in skus:
            lines.append(f"- {item.sku} {item.name}: {item.quantity} left "
                         f"(reorder level {item.reorder_level}, {item.warehouse})")
    return "\\n".join(lines)
'''

FILES["src/inventory/config.py"] += '''

def describe(settings: Settings) -> dict[str, str]:
    """Settings for the start-up log line: the database URL without its password."""
    url = settings.database_url
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return {
        "database": f"{scheme}{sep}{rest}",
        "page_size": str(settings.page_size),
        "report_hour": f"{settings.report_hour:02d}:00",
        "debug": "on" if settings.debug else "off",
    }
'''

FILES["tests/test_api.py"] += '''

def test_get_item_not_found(store):
    assert get_item(store, "ZZ")["status"] == 404


def test_stock_levels(store):
    assert stock_levels(store, {})["levels"] == {"BER": 123, "HAM": 12, "MUC": 5}


def test_error_response_maps_kinds():
    assert error_response(ValueError("size"))["status"] == 400
    assert error_response(OSError("disk"))["status"] == 500
'''.replace("", "")
FILES["tests/test_api.py"] = FILES["tests/test_api.py"].replace(
    "from inventory.api import list_items, post_quote",
    "from inventory.api import error_response, get_item, list_items, post_quote, stock_levels")

FILES["tests/test_billing.py"] += '''

def test_volume_discount_tiers():
    assert volume_discount(Decimal("999.99")) == Decimal("0.00")
    assert volume_discount(Decimal("1000.00")) == Decimal("50.00")
    assert volume_discount(Decimal("6000.00")) == Decimal("480.00")


def test_format_eur():
    assert format_eur(Decimal("1234.5")) == "1.234,50 EUR"


def test_invoice_number():
    assert invoice_number(2026, 123) == "INV-2026-000123"
'''
FILES["tests/test_billing.py"] = FILES["tests/test_billing.py"].replace(
    "from inventory.billing import line_amount, quote, vat_rate",
    "from inventory.billing import (format_eur, invoice_number, line_amount, quote, vat_rate,\n"
    "                               volume_discount)")

FILES["tests/test_reports.py"] += '''

def test_warehouse_summary(store):
    rows = warehouse_summary(store)
    assert [r["warehouse"] for r in rows] == ["BER", "HAM", "MUC"]
    assert rows[2] == {"warehouse": "MUC", "items": "2", "units": "5", "reorder": "2"}


def test_reorder_email_lists_items(store):
    text = reorder_email(store, date(2026, 3, 1))
    assert text.splitlines()[0] == "Stock report 2026-03-01: 3 item(s) to reorder."
'''
FILES["tests/test_reports.py"] = FILES["tests/test_reports.py"].replace(
    "from inventory.reports import reorder_list, stock_report",
    "from inventory.reports import reorder_email, reorder_list, stock_report, warehouse_summary")

FILES["tests/test_models.py"] = '''import pytest

from inventory.models import Movement, Reservation, apply_movements, available, warehouses_of


def test_available_subtracts_reservations(store):
    held = [Reservation("O-1", "A1", 20, "BER"), Reservation("O-2", "A1", 30, "BER")]
    assert available(store[0], held) == 70


def test_available_never_negative(store):
    assert available(store[1], [Reservation("O-3", "A2", 9, "BER")]) == 0


def test_movement_below_zero_is_refused(store):
    with pytest.raises(ValueError):
        apply_movements(store, [Movement("B2", "MUC", -1, "pick")])


def test_warehouses_of(store):
    assert warehouses_of(store) == ["BER", "HAM", "MUC"]
'''

HEALTHY += [
    ("get_item_not_found", "src/inventory/api.py", '"status": 404', "tests/test_api.py"),
    ("stock_levels", "src/inventory/api.py", "levels[item.warehouse] = levels.get(item.warehouse, 0) + item.quantity", "tests/test_api.py"),
    ("volume_discount_tiers", "src/inventory/billing.py", "if net >= threshold:", "tests/test_billing.py"),
    ("format_eur", "src/inventory/billing.py", "whole.replace(',', '.')", "tests/test_billing.py"),
    ("warehouse_summary", "src/inventory/reports.py", "def warehouse_summary", "tests/test_reports.py"),
    ("reorder_email_lists_items", "src/inventory/reports.py", "item(s) to reorder.", "tests/test_reports.py"),
    ("available_subtracts_reservations", "src/inventory/models.py", "return max(0, item.quantity - held)", "tests/test_models.py"),
    ("movement_below_zero_is_refused", "src/inventory/models.py", "would go below zero", "tests/test_models.py"),
    ("warehouses_of", "src/inventory/models.py", "return sorted({item.warehouse for item in items})", "tests/test_models.py"),
]

# -- more of each module ------------------------------------------------------------------

FILES["src/inventory/billing.py"] += '''

@dataclass(frozen=True)
class Invoice:
    number: str
    customer: str
    country: str
    quote: Quote
    discount: Decimal

    @property
    def payable(self) -> Decimal:
        """What the customer pays: gross minus the volume discount (never below zero)."""
        return max(Decimal("0.00"), self.quote.gross - self.discount)


def invoice_for(customer: str, country: str, lines: list[tuple[str, int, Decimal]],
                year: int, sequence: int) -> Invoice:
    """An invoice for an accepted quote; the discount is taken on the net total."""
    q = quote(lines, country)
    return Invoice(number=invoice_number(year, sequence), customer=customer,
                   country=country.upper(), quote=q, discount=volume_discount(q.net))


def invoice_text(invoice: Invoice) -> str:
    """The plain-text invoice the finance team mails with the PDF."""
    rows = [f"Invoice {invoice.number} for {invoice.customer} ({invoice.country})", ""]
    for sku, quantity, amount in invoice.quote.lines:
        rows.append(f"  {sku:<8} x{quantity:>4}  {format_eur(amount):>16}")
    rows += [
        "",
        f"  {'net':<14}  {format_eur(invoice.quote.net):>16}",
        f"  {'VAT':<14}  {format_eur(invoice.quote.vat):>16}",
        f"  {'gross':<14}  {format_eur(invoice.quote.gross):>16}",
    ]
    if invoice.discount:
        rows.append(f"  {'discount':<14}  {format_eur(-invoice.discount):>16}")
    rows.append(f"  {'payable':<14}  {format_eur(invoice.payable):>16}")
    return "\\n".join(rows)


def reconcile(quoted: Decimal, invoiced: Decimal) -> Decimal:
    """The difference finance chases: zero when quote and invoice agree to the cent."""
    return to_cents(invoiced) - to_cents(quoted)
'''

FILES["src/inventory/reports.py"] += '''

def parse_report(text: str) -> list[dict[str, str]]:
    """Read a report back (the buyers' macro does the same): header first, then rows."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"unexpected columns {reader.fieldnames}; want {list(COLUMNS)}")
    return list(reader)


def diff_reports(old: str, new: str) -> dict[str, list[str]]:
    """SKUs that appeared, disappeared or changed quantity between two nightly reports."""
    before = {(r["warehouse"], r["sku"]): r for r in parse_report(old)}
    after = {(r["warehouse"], r["sku"]): r for r in parse_report(new)}
    return {
        "added": sorted(sku for (_, sku) in after.keys() - before.keys()),
        "removed": sorted(sku for (_, sku) in before.keys() - after.keys()),
        "changed": sorted(sku for key, row in after.items()
                          if key in before and before[key]["quantity"] != row["quantity"]
                          for sku in [key[1]]),
    }


def report_filename(day: date, warehouse: str | None = None) -> str:
    """stock-2026-03-01.csv, or stock-BER-2026-03-01.csv for one warehouse."""
    middle = f"-{warehouse}" if warehouse else ""
    return f"stock{middle}-{report_date(day)}.csv"
'''

FILES["src/inventory/config.py"] += '''

def env_list(name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma-separated setting (INVENTORY_WAREHOUSES=BER,MUC): trimmed, empty parts dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def check(settings: Settings) -> list[str]:
    """Problems worth a warning at start-up that do not stop the service."""
    warnings = []
    if settings.debug:
        warnings.append("INVENTORY_DEBUG is on: responses carry stack traces")
    if settings.page_size > 50:
        warnings.append(f"INVENTORY_PAGE_SIZE={settings.page_size} makes slow pages on the floor tablets")
    if not settings.database_url.startswith(("postgresql://", "sqlite://")):
        warnings.append("INVENTORY_DATABASE_URL is neither postgresql:// nor sqlite://")
    return warnings
'''

FILES["src/inventory/pagination.py"] += '''

def page_links(base: str, page: Page[T], total: int) -> dict[str, str | None]:
    """The ``links`` object of a listing response: first, prev, next and last pages."""
    last = max(1, -(-total // page.size))
    def link(n: int) -> str:
        return f"{base}?page={n}&size={page.size}"
    return {
        "first": link(1),
        "prev": link(page.page - 1) if page.page > 1 else None,
        "next": link(page.page + 1) if page.has_next else None,
        "last": link(last),
    }
'''
