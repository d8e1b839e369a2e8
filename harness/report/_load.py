"""Reading a stored run's trials into a DataFrame, for the report and for users' own analysis.

A trials file may come from this harness or from another system that writes the same
schema. Only five fields are required (``scenario``, ``model``, ``trial``, ``outcome``,
``goal_met``); a field a file lacks becomes an all-NA column, never zeros, so a report
says "absent" rather than inventing a measurement. A malformed line, a missing
required field or a value of the wrong type is refused with the file, line and field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.errors import ConfigError, UsageError

OUTCOMES = ("done", "failed", "budget_exhausted", "escalated", "crashed")
REQUIRED = ("scenario", "model", "trial", "outcome", "goal_met")
SORT_KEY = ["suite", "scenario", "model", "fault_profile", "budgets", "trial"]
#: The values ``budgets`` may hold; a line without it ran with the agent's budgets (or
#: comes from a source that does not say: the report fills it in only beside ``off``).
BUDGETS = ("on", "off")


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)
            and math.isfinite(float(v)))


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_list_of_dicts(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, dict) for x in v)


#: Column, type test, what the test wants (for the error), pandas dtype. Field order is
#: the column order of the DataFrame (the order of ``trials.jsonl``).
_Check = Callable[[Any], bool]
COLUMNS: tuple[tuple[str, _Check, str, str], ...] = (
    ("run_id", _is_str, "a string", "object"),
    ("scenario", _is_str, "a string", "object"),
    ("suite", _is_str, "a string", "object"),
    ("model", _is_str, "a string", "object"),
    ("fault_profile", _is_str, "a string", "object"),
    ("trial", _is_int, "an integer", "Int64"),
    ("seed", _is_int, "an integer", "Int64"),
    ("outcome", _is_str, "a string", "object"),
    ("goal_met", _is_bool, "true or false", "bool"),
    ("cost_usd", _is_number, "a finite number", "float64"),
    ("llm_calls", _is_int, "an integer", "Int64"),
    ("tool_calls", _is_int, "an integer", "Int64"),
    ("tokens_in", _is_int, "an integer", "Int64"),
    ("tokens_out", _is_int, "an integer", "Int64"),
    ("duration_s", _is_number, "a finite number", "float64"),
    ("escalations", _is_int, "an integer", "Int64"),
    ("retries", _is_int, "an integer", "Int64"),
    ("faults", _is_list_of_dicts, "a list of objects", "object"),
    ("error", _is_str, "a string", "object"),
    ("exhausted_limit", _is_str, "a string", "object"),
    ("answer", _is_str, "a string", "object"),
    ("checks", _is_list_of_dicts, "a list of objects", "object"),
    ("log_id", _is_str, "a string", "object"),
    ("transport", _is_str, "a string", "object"),
    ("budgets", _is_str, "a string", "object"),
)
COLUMN_NAMES = tuple(c[0] for c in COLUMNS)


def trials_path(path: str | Path) -> Path:
    """The trials file of a run folder, or the file itself."""
    p = Path(path)
    if p.is_dir():
        p = p / "trials.jsonl"
    if not p.is_file():
        raise UsageError(f"{p}: no such trials file")
    return p


def load_trials(path: str | Path) -> pd.DataFrame:
    """One row per trial of a run folder or a ``trials.jsonl``, sorted by suite, scenario,
    model, fault profile, budgets and trial (so the order of the file's lines never
    matters).

    Columns, in order: ``run_id, scenario, suite, model, fault_profile, trial, seed,
    outcome, goal_met, cost_usd, llm_calls, tool_calls, tokens_in, tokens_out,
    duration_s, escalations, retries, faults, error, exhausted_limit, answer, checks,
    log_id, transport, budgets`` (``budgets``: ``off`` for a trial run without its
    limits, ``on`` for the others of a file that has such trials, else NA). Counts are nullable integers (``Int64``), money and seconds
    floats (NaN when absent), ``faults`` and ``checks`` lists of dicts, the rest strings
    or None. Raises ``ConfigError`` (a usage error: exit 2) naming file, line and field.
    """
    p = trials_path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text ({err.reason})", file=str(p)) from None
    lines = text.splitlines()
    cols = _read_fast(lines)
    if cols is None:  # something is wrong: find the first bad line and field, and say so
        _check_lines(p, lines)
        raise ConfigError("not in the trials schema", file=str(p))  # pragma: no cover
    return frame(cols)


class _Bad(Exception):
    pass


def _no_constants(name: str) -> Any:
    raise _Bad(name)  # NaN and Infinity are not JSON numbers


#: The types a column may hold (None: absent), for the whole-column check.
_TYPES: dict[str, frozenset[type]] = {
    "a string": frozenset({str, type(None)}),
    "an integer": frozenset({int, type(None)}),
    "a finite number": frozenset({int, float, type(None)}),
    "true or false": frozenset({bool, type(None)}),
    "a list of objects": frozenset({list, type(None)}),
}


def _read_fast(lines: list[str]) -> dict[str, list[Any]] | None:
    """Every line's fields by column, checked a whole column at a time; None at the
    first sign of trouble (the line-by-line check then names it)."""
    cols: dict[str, list[Any]] = {name: [] for name in COLUMN_NAMES}
    appends = [(name, cols[name].append) for name in COLUMN_NAMES]
    try:
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line, parse_constant=_no_constants)
            if type(row) is not dict:
                return None
            for name, add in appends:
                add(row.get(name))
    except (ValueError, _Bad):
        return None
    for name, _, wants, _ in COLUMNS:
        values = cols[name]
        if not set(map(type, values)) <= _TYPES[wants]:
            return None
        if name in REQUIRED and None in values:
            return None
        if wants == "a list of objects" and not all(
                type(x) is dict for v in values if v for x in v):
            return None
        if wants == "a finite number" and not all(
                math.isfinite(v) for v in values if type(v) is float):
            return None
    if not set(cols["outcome"]) <= set(OUTCOMES):
        return None
    if not set(cols["budgets"]) <= {*BUDGETS, None}:
        return None
    return cols


def _check_lines(p: Path, lines: list[str]) -> None:
    """Raise the error of the first bad line: its number, the field and what is wrong."""
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_constant=_no_constants)
        except json.JSONDecodeError as err:
            raise ConfigError(f"not a JSON object: {err.msg} at column {err.colno}",
                              file=str(p), line=lineno) from None
        except _Bad as err:
            raise ConfigError(f"{err} is not a JSON number", file=str(p),
                              line=lineno) from None
        if not isinstance(row, dict):
            raise ConfigError("not a JSON object", file=str(p), line=lineno)
        for name, check, wants, _ in COLUMNS:
            v = row.get(name)
            if v is None:
                if name in REQUIRED:
                    what = "is missing" if name not in row else "is null"
                    raise ConfigError(f"required field {what}", file=str(p), line=lineno,
                                      field=name)
            elif not check(v):
                raise ConfigError(f"must be {wants}, not {json.dumps(v)[:40]}", file=str(p),
                                  line=lineno, field=name)
        if row["outcome"] not in OUTCOMES:
            raise ConfigError(f"unknown outcome {row['outcome']!r}; one of "
                              f"{', '.join(OUTCOMES)}", file=str(p), line=lineno,
                              field="outcome")
        if row.get("budgets") not in (*BUDGETS, None):
            raise ConfigError(f"must be \"on\" or \"off\", not {json.dumps(row['budgets'])[:40]}",
                              file=str(p), line=lineno, field="budgets")


def frame(cols: dict[str, list[Any]]) -> pd.DataFrame:
    """The trials DataFrame from columns of plain values (None where absent), sorted."""
    n = len(cols["scenario"])
    data: dict[str, Any] = {}
    for name, _, _, dtype in COLUMNS:
        values = cols.get(name)
        if not values:
            values = [None] * n
        full = None not in values
        if dtype == "float64":
            data[name] = np.array(values if full else
                                  [math.nan if v is None else v for v in values],
                                  dtype=np.float64)
        elif dtype == "Int64":
            data[name] = (pd.array(np.array(values, dtype=np.int64), dtype="Int64") if full
                          else pd.array(values, dtype="Int64"))
        elif dtype == "bool":
            data[name] = np.array(values, dtype=bool)
        else:
            arr = np.empty(n, dtype=object)
            arr[:] = values
            data[name] = arr
    return sort_trials(budgets_filled(pd.DataFrame(data)))


def budgets_filled(df: pd.DataFrame) -> pd.DataFrame:
    """The trials with ``budgets`` said for every row when any row says it: a line without
    the field then ran with its budgets (``on``), as this harness writes them. A source
    that never says keeps the column all NA, so no report claims what it did not record."""
    if "budgets" not in df.columns or not bool(df["budgets"].notna().any()) or bool(
            df["budgets"].notna().all()):
        return df
    out = df.copy()
    col = out["budgets"].to_numpy(dtype=object, copy=True)
    col[pd.isna(col)] = "on"
    out["budgets"] = col
    return out


def sort_trials(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in the canonical order; ties (a file listing one trial twice) broken by the
    other fields, so equal inputs in any line order give equal frames."""
    # sorted codes per column (NA first), then one stable lexsort: far faster than
    # sort_values over object columns
    def codes(cols: list[str]) -> list[npt.NDArray[np.int64]]:
        return [pd.factorize(df[c], sort=True, use_na_sentinel=True)[0].astype(np.int64)
                for c in cols if c in df.columns]

    keys = codes(SORT_KEY)
    order = np.lexsort(keys[::-1])
    ordered = np.stack([k[order] for k in keys])
    if len(df) > 1 and not (ordered[:, 1:] != ordered[:, :-1]).any(axis=0).all():
        keys += codes(["seed", "outcome", "goal_met", "cost_usd", "log_id", "run_id"])
        order = np.lexsort(keys[::-1])
    return df.take(order).reset_index(drop=True)
