"""Schedule generation (pure): worked examples and properties."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindlinks.contracts.terms import FixedTerms, HourlyTerms, Milestone, MilestoneTerms
from mindlinks.payments.schedule import (
    ScheduleItemSpec,
    add_months,
    build_schedule,
    period_anchor,
    position_covering,
    prorate,
)


def fixed(amount: int = 500_000, cycle: str = "monthly", currency: str = "EUR") -> FixedTerms:
    return FixedTerms(type="fixed", amount_minor=amount, currency=currency, cycle=cycle)  # type: ignore[arg-type]


def spans(items: list[ScheduleItemSpec]) -> list[tuple[date, date]]:
    return [(i.period_start, i.period_end) for i in items]


# Worked examples


def test_monthly_from_jan_31_clamps_each_month_without_drifting() -> None:
    items = build_schedule(fixed(), date(2027, 1, 31), date(2027, 5, 30))
    assert spans(items) == [
        (date(2027, 1, 31), date(2027, 2, 27)),
        (date(2027, 2, 28), date(2027, 3, 30)),
        (date(2027, 3, 31), date(2027, 4, 29)),
        (date(2027, 4, 30), date(2027, 5, 30)),
    ]
    assert [i.due_date for i in items] == [i.period_end for i in items]
    assert [i.amount_minor for i in items] == [500_000] * 4
    assert [i.position for i in items] == [0, 1, 2, 3]


def test_monthly_from_jan_31_in_a_leap_year_uses_feb_29() -> None:
    items = build_schedule(fixed(), date(2028, 1, 31), None, horizon_periods=3)
    assert [i.period_start for i in items] == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]
    assert items[0].period_end == date(2028, 2, 28)


def test_a_ten_day_partial_last_month_is_prorated_half_up() -> None:
    # Second period: Feb 1 - Feb 28 2027 (28 days); the contract ends on Feb 10.
    items = build_schedule(fixed(amount=100_000), date(2027, 1, 1), date(2027, 2, 10))
    assert spans(items) == [
        (date(2027, 1, 1), date(2027, 1, 31)),
        (date(2027, 2, 1), date(2027, 2, 10)),
    ]
    # 100000 * 10 / 28 = 35714.2857... -> 35714
    assert [i.amount_minor for i in items] == [100_000, 35_714]
    assert items[-1].due_date == date(2027, 2, 10)


def test_proration_rounds_half_up_in_integers() -> None:
    assert prorate(1, 1, 2) == 1  # 0.5 -> 1
    assert prorate(3, 1, 2) == 2  # 1.5 -> 2
    assert prorate(5, 1, 4) == 1  # 1.25 -> 1
    assert prorate(7, 3, 4) == 5  # 5.25 -> 5
    assert prorate(10**13, 30, 31) == 9_677_419_354_839  # 9677419354838.709...
    with pytest.raises(ValueError, match="cannot prorate"):
        prorate(100, 5, 4)


def test_jpy_with_exponent_zero_prorates_to_whole_yen() -> None:
    items = build_schedule(
        fixed(amount=300_001, currency="JPY"), date(2027, 4, 1), date(2027, 5, 15)
    )
    assert [i.amount_minor for i in items] == [300_001, 145_162]  # 300001 * 15 / 31 = 145161.77
    assert {i.currency for i in items} == {"JPY"}


def test_weekly_and_biweekly_periods() -> None:
    weekly = build_schedule(fixed(cycle="weekly", amount=700), date(2027, 1, 4), date(2027, 1, 20))
    assert spans(weekly) == [
        (date(2027, 1, 4), date(2027, 1, 10)),
        (date(2027, 1, 11), date(2027, 1, 17)),
        (date(2027, 1, 18), date(2027, 1, 20)),
    ]
    assert [i.amount_minor for i in weekly] == [700, 700, 300]
    biweekly = build_schedule(fixed(cycle="biweekly"), date(2027, 1, 4), None, horizon_periods=2)
    assert spans(biweekly) == [
        (date(2027, 1, 4), date(2027, 1, 17)),
        (date(2027, 1, 18), date(2027, 1, 31)),
    ]


def test_a_contract_shorter_than_one_period_has_one_prorated_item() -> None:
    items = build_schedule(fixed(amount=310), date(2027, 1, 1), date(2027, 1, 1))
    assert spans(items) == [(date(2027, 1, 1), date(2027, 1, 1))]
    assert items[0].amount_minor == 10  # 310 / 31


def test_open_ended_contracts_get_the_horizon_and_continue_from_a_position() -> None:
    first = build_schedule(fixed(), date(2027, 1, 15), None)
    assert len(first) == 12
    assert first[-1].period_end == date(2028, 1, 14)
    more = build_schedule(fixed(), date(2027, 1, 15), None, horizon_periods=3, from_position=12)
    assert [i.position for i in more] == [12, 13, 14]
    assert more[0].period_start == first[-1].period_end + timedelta(days=1)


def test_hourly_terms_give_zero_amount_periods_with_the_rate() -> None:
    terms = HourlyTerms(type="hourly", rate_minor=9_500, currency="CHF", cycle="biweekly")
    items = build_schedule(terms, date(2027, 1, 1), date(2027, 2, 5))
    assert spans(items) == [
        (date(2027, 1, 1), date(2027, 1, 14)),
        (date(2027, 1, 15), date(2027, 1, 28)),
        (date(2027, 1, 29), date(2027, 2, 5)),
    ]
    assert {(i.kind, i.amount_minor, i.rate_minor, i.currency) for i in items} == {
        ("hourly", 0, 9_500, "CHF")
    }


def test_milestones_one_item_each_from_the_previous_due_date() -> None:
    terms = MilestoneTerms(
        type="milestones",
        currency="KWD",
        milestones=[
            Milestone(title="Design", amount_minor=1_500, due_date=date(2027, 2, 15)),
            Milestone(title="Build", amount_minor=2_500, due_date=date(2027, 5, 1)),
            Milestone(title="Docs", amount_minor=500, due_date=date(2027, 5, 1)),
        ],
    )
    items = build_schedule(terms, date(2027, 1, 1), date(2027, 12, 31))
    assert [(i.kind, i.position, i.milestone_index, i.title) for i in items] == [
        ("milestone", 0, 0, "Design"),
        ("milestone", 1, 1, "Build"),
        ("milestone", 2, 2, "Docs"),
    ]
    assert spans(items) == [
        (date(2027, 1, 1), date(2027, 2, 15)),
        (date(2027, 2, 16), date(2027, 5, 1)),
        (date(2027, 5, 1), date(2027, 5, 1)),
    ]
    assert [i.due_date for i in items] == [date(2027, 2, 15), date(2027, 5, 1), date(2027, 5, 1)]
    assert [i.amount_minor for i in items] == [1_500, 2_500, 500]


def test_end_before_start_is_refused() -> None:
    with pytest.raises(ValueError, match="before start"):
        build_schedule(fixed(), date(2027, 2, 1), date(2027, 1, 1))


def test_add_months_clamps_and_crosses_years() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2027, 1, 31), 13) == date(2028, 2, 29)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert add_months(date(2027, 12, 15), 1) == date(2028, 1, 15)


# Properties

CYCLES = st.sampled_from(["weekly", "biweekly", "monthly"])
STARTS = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


@settings(max_examples=300, deadline=None)
@given(
    start=STARTS,
    length=st.integers(min_value=0, max_value=800),
    cycle=CYCLES,
    amount=st.integers(min_value=1, max_value=10**13),
)
def test_fixed_schedules_with_an_end_cover_the_period_exactly(
    start: date, length: int, cycle: str, amount: int
) -> None:
    end = start + timedelta(days=length)
    items = build_schedule(fixed(amount=amount, cycle=cycle), start, end)
    assert items[0].period_start == start
    assert items[-1].period_end == end
    for before, after in itertools.pairwise(items):
        assert after.period_start == before.period_end + timedelta(days=1)
    for position, item in enumerate(items):
        assert item.position == position
        assert item.period_start <= item.period_end == item.due_date
        assert type(item.amount_minor) is int
        assert 0 <= item.amount_minor <= amount
    # Every period but the last is full and pays the whole amount; the last pays
    # its days' share, rounded half-up.
    assert all(i.amount_minor == amount for i in items[:-1])
    last = items[-1]
    full_end = period_anchor(start, cycle, last.position + 1) - timedelta(days=1)
    full_days = (full_end - last.period_start).days + 1
    days = (last.period_end - last.period_start).days + 1
    exact_twice = 2 * amount * days  # compare 2x to stay in integers
    assert abs(2 * full_days * last.amount_minor - exact_twice) <= full_days
    assert sum(i.amount_minor for i in items) == amount * (len(items) - 1) + last.amount_minor
    assert build_schedule(fixed(amount=amount, cycle=cycle), start, end) == items


@settings(max_examples=200, deadline=None)
@given(
    start=STARTS,
    cycle=CYCLES,
    horizon=st.integers(min_value=1, max_value=40),
    split=st.integers(min_value=0, max_value=40),
)
def test_rolling_forward_continues_the_same_periods(
    start: date, cycle: str, horizon: int, split: int
) -> None:
    split = min(split, horizon)
    whole = build_schedule(fixed(cycle=cycle), start, None, horizon_periods=horizon)
    head = build_schedule(fixed(cycle=cycle), start, None, horizon_periods=split)
    tail = build_schedule(
        fixed(cycle=cycle), start, None, horizon_periods=horizon - split, from_position=split
    )
    assert head + tail == whole
    assert len(whole) == horizon
    assert all(i.amount_minor == 500_000 for i in whole)


@settings(max_examples=300, deadline=None)
@given(start=STARTS, offset=st.integers(min_value=-40, max_value=3000), cycle=CYCLES)
def test_position_covering_finds_the_period_holding_a_day(
    start: date, offset: int, cycle: str
) -> None:
    day = start + timedelta(days=offset)
    position = position_covering(start, cycle, day)
    if day < start:
        assert position == 0
    else:
        assert (
            period_anchor(start, cycle, position) <= day < period_anchor(start, cycle, position + 1)
        )


@settings(max_examples=200, deadline=None)
@given(
    start=STARTS,
    offsets=st.lists(st.integers(min_value=0, max_value=2000), min_size=1, max_size=100),
    amounts=st.lists(st.integers(min_value=1, max_value=10**13), min_size=100, max_size=100),
)
def test_milestone_schedules_stay_inside_the_period_and_sum_to_the_terms(
    start: date, offsets: list[int], amounts: list[int]
) -> None:
    dues = sorted(start + timedelta(days=o) for o in offsets)
    terms = MilestoneTerms(
        type="milestones",
        currency="EUR",
        milestones=[
            Milestone(title=f"M{i}", amount_minor=amounts[i], due_date=due)
            for i, due in enumerate(dues)
        ],
    )
    items = build_schedule(terms, start, dues[-1])
    assert [i.position for i in items] == list(range(len(dues)))
    assert [i.due_date for i in items] == dues
    assert sum(i.amount_minor for i in items) == sum(amounts[: len(dues)])
    for before, after in itertools.pairwise(items):
        assert before.period_end <= after.period_end
        assert after.period_start > before.period_end or after.period_end == before.period_end
    assert all(start <= i.period_start <= i.period_end == i.due_date for i in items)
