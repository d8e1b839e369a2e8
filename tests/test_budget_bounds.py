"""Numbers Python cannot hold never reach the budget: a scenario's limits are finite and
bounded when it loads, and the budget's arithmetic stays finite for every value inside
those bounds.

``cost_usd: .inf`` once made every trial ``crashed`` (``OverflowError`` in
``max_output_tokens_for``), and ``cost_usd: 1.0e308`` with a huge ``tokens_in`` ended in
a traceback. Now such a file exits 2 naming the file, the field and the line; and the
property tests below drive the budget's checks with the most extreme values the bounds
allow, and with prices from zero up through the smallest float to the largest allowed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.cli import main
from harness.core import (
    DIMENSIONS,
    MAX_CALLS,
    MAX_SECONDS,
    MAX_TOKEN_PRICE,
    MAX_TOKENS,
    MAX_USD,
    ModelPrice,
    RunLimits,
    RunUsage,
    Usage,
)
from harness.core._budget import (
    check_before_model_call,
    check_before_tool_call,
    fractions_used,
    model_reservation,
    summary,
)
from harness.errors import LimitExceeded

ROOT = Path(__file__).resolve().parent.parent
MUG = (ROOT / "tests/fixtures/classic/support/refund-broken-mug.yaml").read_text()


def with_fields(**fields: str) -> tuple[str, dict[str, int]]:
    """The bundled refund scenario, one trial, with ``key: value`` lines replaced; the
    text and the line of each replaced key."""
    text = MUG.replace("\ntrials: 20\n", "\ntrials: 1\n")
    lines: dict[str, int] = {}
    for key, value in fields.items():
        pattern = re.compile(rf"^(\s*){re.escape(key)}: .*$", re.M)
        m = pattern.search(text)
        assert m is not None, key
        text = text[:m.start()] + f"{m.group(1)}{key}: {value}" + text[m.end():]
        lines[key] = text[:m.start()].count("\n") + 1
    return text, lines


@pytest.mark.parametrize(("key", "value", "field", "says"), [
    ("cost_usd", ".inf", "agent.limits.cost_usd", "finite number"),
    ("wall_time_s", ".inf", "agent.limits.wall_time_s", "finite number"),
    ("llm_calls", ".nan", "agent.limits.llm_calls", "finite number"),
    ("cost_usd", "1.0e+308", "agent.limits.cost_usd", f"at most {int(MAX_USD):,}"),
    ("tokens_in", str(10**30), "agent.limits.tokens_in", f"at most {MAX_TOKENS:,}"),
    ("tool_calls", str(MAX_CALLS + 1), "agent.limits.tool_calls", f"at most {MAX_CALLS:,}"),
    ("wall_time_s", "1.0e+300", "agent.limits.wall_time_s", f"at most {int(MAX_SECONDS):,}"),
    ("max_tokens", str(10**20), "agent.orchestrator.max_tokens", f"at most {MAX_TOKENS:,}"),
    ("min_goal_rate", ".nan", "thresholds.min_goal_rate", "finite number"),
])
def test_a_limit_python_cannot_hold_is_refused_at_load_naming_file_field_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: str, field: str,
        says: str) -> None:
    text, lines = with_fields(**{key: value})
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    out = tmp_path / "run"
    for argv in (["scenarios", str(path)], ["run", str(path), "--out", str(out)]):
        assert main(argv) == 2
        cap = capsys.readouterr()
        err = cap.err.strip()
        assert "Traceback" not in cap.out + cap.err and len(err.splitlines()) == 1, cap.err
        assert f"{path}:{lines[key]}, field {field!r}" in err and says in err, err
    assert not out.exists()


def test_a_huge_cost_limit_beside_a_huge_token_limit_is_refused_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, lines = with_fields(cost_usd="1.0e+308", tokens_in=str(10**30))
    path = tmp_path / "huge.yaml"
    path.write_text(text)
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{min(lines.values())}" in err and "Traceback" not in err


def test_every_limit_at_its_bound_runs_a_trial_that_does_not_crash(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The bounds are generous: a run may use them all and the budget still works."""
    text, _ = with_fields(llm_calls=str(MAX_CALLS), tool_calls=str(MAX_CALLS),
                          tokens_in=str(MAX_TOKENS), tokens_out=str(MAX_TOKENS),
                          cost_usd=f"{MAX_USD:.1f}", wall_time_s=f"{MAX_SECONDS:.1f}")
    path = tmp_path / "bounds.yaml"
    path.write_text(text)
    out = tmp_path / "run"
    code = main(["run", str(path), "--out", str(out), "--no-trace"])
    lines = (out / "trials.jsonl").read_text().splitlines()
    assert code in (0, 1), capsys.readouterr().err
    assert len(lines) == 1 and '"outcome":"crashed"' not in lines[0].replace(" ", "")


# -- the models refuse what the budget could not compute with ---------------------------


@settings(max_examples=80, database=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_cost_or_time_limit_is_finite_and_bounded_or_refused(x: float) -> None:
    for name, bound in (("cost_usd", MAX_USD), ("wall_time_s", MAX_SECONDS)):
        try:
            limits = RunLimits(**{name: x})
        except ValidationError:
            assert not (math.isfinite(x) and 0 <= x <= bound)
        else:
            assert math.isfinite(x) and 0 <= getattr(limits, name) <= bound


@settings(max_examples=40, database=None)
@given(st.integers(min_value=0, max_value=10**40))
def test_a_token_count_past_the_bound_is_refused(n: int) -> None:
    for make in (lambda: RunLimits(tokens_in=n), lambda: Usage(input_tokens=n)):
        if n <= MAX_TOKENS:
            make()
        else:
            with pytest.raises(ValidationError):
                make()


# -- the budget's arithmetic at the extremes ---------------------------------------------

#: Prices per million tokens from free through the smallest float to the largest allowed.
PRICE_VALUES = st.one_of(
    st.sampled_from([0.0, 5e-324, 1e-300, 1e-9, 0.08, 3.0, 75.0, MAX_TOKEN_PRICE]),
    st.floats(0, MAX_TOKEN_PRICE))


def _maybe(inner: st.SearchStrategy[float] | st.SearchStrategy[int],
           *edges: float) -> st.SearchStrategy[float | int | None]:
    return st.one_of(st.none(), st.sampled_from(edges), inner)


limits_st = st.builds(
    RunLimits,
    llm_calls=_maybe(st.integers(0, MAX_CALLS), 0, 1, MAX_CALLS),
    tool_calls=_maybe(st.integers(0, MAX_CALLS), 0, 1, MAX_CALLS),
    tokens_in=_maybe(st.integers(0, MAX_TOKENS), 0, 1, MAX_TOKENS),
    tokens_out=_maybe(st.integers(0, MAX_TOKENS), 0, 16, MAX_TOKENS),
    wall_time_s=_maybe(st.floats(0, MAX_SECONDS), 0.0, MAX_SECONDS),
    cost_usd=_maybe(st.floats(0, MAX_USD), 0.0, 5e-324, MAX_USD),
)
usage_st = st.builds(
    RunUsage,
    llm_calls=st.integers(0, MAX_CALLS), tool_calls=st.integers(0, MAX_CALLS),
    tokens_in=st.one_of(st.integers(0, MAX_TOKENS), st.just(MAX_TOKENS)),
    tokens_out=st.one_of(st.integers(0, MAX_TOKENS), st.just(MAX_TOKENS)),
    cost_usd=st.one_of(st.floats(0, MAX_USD), st.just(MAX_USD)),
)
price_st = st.builds(ModelPrice, model=st.just("m"), input=PRICE_VALUES, output=PRICE_VALUES,
                     cache_write_5m=PRICE_VALUES, cache_write_1h=PRICE_VALUES,
                     cache_read=PRICE_VALUES)
tokens_st = st.one_of(st.sampled_from([0, 1, MAX_TOKENS]), st.integers(0, MAX_TOKENS))


def _within(value: float, limit: float) -> bool:
    """At or under ``limit``, up to float rounding on the way (relative 1e-9)."""
    return value <= limit + max(1e-12, abs(limit) * 1e-9)


@settings(max_examples=300, database=None, suppress_health_check=list(HealthCheck))
@given(limits=limits_st, used=usage_st, reserved=usage_st, price=st.one_of(st.none(), price_st),
       input_tokens=tokens_st, want=st.integers(1, MAX_TOKENS),
       elapsed=st.floats(0, MAX_SECONDS))
def test_the_model_call_check_never_overflows_and_never_lets_a_limit_pass(
        limits: RunLimits, used: RunUsage, reserved: RunUsage, price: ModelPrice | None,
        input_tokens: int, want: int, elapsed: float) -> None:
    """Either the call is refused by name, or it gets a ``max_tokens`` between the floor
    and what it asked for whose worst case, added to what is spent and held, keeps every
    limit: with no ``OverflowError`` on any value the models accept."""
    try:
        max_tokens, timeout = check_before_model_call(
            limits, used, reserved, input_tokens=input_tokens, want_max_tokens=want,
            price=price, elapsed_s=elapsed)
    except LimitExceeded as err:
        assert err.limit in (*DIMENSIONS, "wall_time_s")
        assert str(err)  # its message formats
        return
    assert isinstance(max_tokens, int) and min(want, 16) <= max_tokens <= want
    assert timeout is None or (math.isfinite(timeout) and timeout > 0)
    reservation = model_reservation(input_tokens, max_tokens, price)
    held = used.plus(reserved).plus(reservation)
    # what a model call can pass: calls and tokens, and dollars when it has a price; a
    # dimension the call adds nothing to (a free model's dollars) is not its to keep
    checked = ["llm_calls", "tokens_in", "tokens_out"] + (["cost_usd"] if price else [])
    for name in DIMENSIONS:
        limit = getattr(limits, name)
        value = getattr(held, name)
        assert math.isfinite(value)
        if limit is not None and name in checked and getattr(reservation, name) > 0:
            assert _within(value, limit), (name, value, limit)
    for text in summary(limits, held, elapsed).values():
        assert "inf" not in text and "nan" not in text
    for fraction in fractions_used(limits, held, elapsed).values():
        assert fraction >= 0  # inf for a spend past a denormal limit: far past it, still


@settings(max_examples=300, database=None, suppress_health_check=list(HealthCheck))
@given(price=price_st, tokens=st.lists(tokens_st, min_size=5, max_size=5),
       usd=st.one_of(st.floats(0, MAX_USD), st.just(MAX_USD)))
def test_prices_stay_finite_for_any_token_counts_the_models_accept(
        price: ModelPrice, tokens: list[int], usd: float) -> None:
    inp, out, write, write_1h, read = tokens
    usage = Usage(input_tokens=inp, output_tokens=out, cache_creation_input_tokens=write,
                  cache_creation_1h_input_tokens=min(write, write_1h),
                  cache_read_input_tokens=read)
    assert math.isfinite(price.cost(usage)) and price.cost(usage) >= 0
    assert math.isfinite(price.worst_case_cost(inp, out))
    n = price.max_output_tokens_for(usd, inp)
    assert isinstance(n, int) and 0 <= n <= 2**31


@settings(max_examples=80, database=None, suppress_health_check=list(HealthCheck))
@given(limits=limits_st, used=usage_st, reserved=usage_st, elapsed=st.floats(0, MAX_SECONDS),
       share=st.floats(1e-9, 1.0))
def test_tool_checks_and_slices_hold_at_the_extremes(
        limits: RunLimits, used: RunUsage, reserved: RunUsage, elapsed: float,
        share: float) -> None:
    try:
        timeout = check_before_tool_call(limits, used, reserved, elapsed_s=elapsed)
    except LimitExceeded as err:
        assert str(err)
    else:
        assert timeout is None or math.isfinite(timeout)
    # the escalation rule's fractions and a request's budget line, for any spend at all
    assert all(f >= 0 for f in fractions_used(limits, used.plus(reserved), elapsed).values())
    assert len(summary(limits, used.plus(reserved), elapsed)) >= len(DIMENSIONS)
    sliced = limits.scaled(share)
    assert RunLimits.model_validate(sliced.model_dump()) == sliced


def test_a_free_output_rate_does_not_waive_the_price_of_the_input() -> None:
    """Found by the property above: with output free, the input's own cost went unchecked
    and a call was let through past the dollar limit."""
    price = ModelPrice(model="m", input=3.0, output=0.0, cache_write_5m=3.0,
                       cache_write_1h=3.0, cache_read=0.3)
    assert price.max_output_tokens_for(0.001, 1_000) == 0  # 1,000 tokens cost $0.003
    assert price.max_output_tokens_for(0.01, 1_000) == 2**31
    with pytest.raises(LimitExceeded, match="cost_usd"):
        check_before_model_call(RunLimits(cost_usd=0.001), RunUsage(), RunUsage(),
                                input_tokens=1_000, want_max_tokens=1024, price=price,
                                elapsed_s=0.0)
    # and a rate so small the quotient is past any int: capped, not an OverflowError
    tiny = price.model_copy(update={"output": 5e-324})
    assert tiny.max_output_tokens_for(1.0, 0) == 2**31
    assert tiny.max_output_tokens_for(0.0, 1_000) == 0
