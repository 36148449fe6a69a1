"""Payment terms validation: shapes, money rules, dates against the contract period."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from mindlinks.contracts.terms import (
    FixedTerms,
    HourlyTerms,
    MilestoneTerms,
    dump_payment_terms,
    load_payment_terms,
    parse_payment_terms,
)
from mindlinks.platform.errors import InvalidFields

START = date(2027, 1, 1)
END = date(2027, 12, 31)


def fixed(**changes: Any) -> dict[str, Any]:
    return {"type": "fixed", "amount_minor": 500_000, "currency": "EUR", "cycle": "monthly"} | (
        changes
    )


def hourly(**changes: Any) -> dict[str, Any]:
    return {"type": "hourly", "rate_minor": 8_000, "currency": "USD", "cycle": "weekly"} | changes


def milestones(*items: dict[str, Any], **changes: Any) -> dict[str, Any]:
    items = items or (
        {"title": "Design", "amount_minor": 100_000, "due_date": "2027-03-01"},
        {"title": "Build", "amount_minor": 200_000, "due_date": "2027-06-30"},
    )
    return {"type": "milestones", "currency": "GBP", "milestones": list(items)} | changes


def errors_of(raw: object, start: date = START, end: date | None = END) -> dict[str, str]:
    with pytest.raises(InvalidFields) as caught:
        parse_payment_terms(raw, start, end)
    problem = caught.value
    assert problem.status == 422
    assert problem.errors
    return {e["field"]: e["message"] for e in problem.errors}


def test_valid_fixed_hourly_and_milestone_terms_parse_to_typed_models() -> None:
    assert parse_payment_terms(fixed(), START, END) == FixedTerms(
        type="fixed", amount_minor=500_000, currency="EUR", cycle="monthly"
    )
    assert isinstance(parse_payment_terms(hourly(), START, None), HourlyTerms)
    parsed = parse_payment_terms(milestones(total_minor=300_000), START, END)
    assert isinstance(parsed, MilestoneTerms)
    assert parsed.milestones[1].due_date == date(2027, 6, 30)


@pytest.mark.parametrize(
    "amount",
    [10.5, 10.0, True, False, "500", -1, 0, None, [1], 10**13 + 1],
    ids=["float", "whole-float", "true", "false", "string", "negative", "zero", "null",
         "list", "over-cap"],
)  # fmt: skip
def test_amounts_must_be_positive_integers_within_the_cap(amount: object) -> None:
    errors = errors_of(fixed(amount_minor=amount))
    assert set(errors) == {"payment_terms.amount_minor"}
    assert errors_of(hourly(rate_minor=amount)).keys() == {"payment_terms.rate_minor"}


def test_the_amount_messages_say_what_is_wrong() -> None:
    assert "integer" in errors_of(fixed(amount_minor=10.5))["payment_terms.amount_minor"]
    assert "positive" in errors_of(fixed(amount_minor=-5))["payment_terms.amount_minor"]
    assert "at most" in errors_of(fixed(amount_minor=10**14))["payment_terms.amount_minor"]


def test_the_cap_itself_is_accepted() -> None:
    assert parse_payment_terms(fixed(amount_minor=10**13), START, END).amount_minor == 10**13


@pytest.mark.parametrize("currency", ["eur", "EURO", "XXX", "ABC", "XAU", "HRK", "", 978, None])
def test_currency_must_be_an_active_iso_4217_code(currency: object) -> None:
    assert set(errors_of(fixed(currency=currency))) == {"payment_terms.currency"}


@pytest.mark.parametrize("currency", ["JPY", "KWD", "CLF", "CHF", "XOF", "ZWG"])
def test_currencies_of_every_exponent_are_accepted(currency: str) -> None:
    assert parse_payment_terms(fixed(currency=currency), START, END).currency == currency


def test_unknown_cycle_type_and_extra_keys_are_refused() -> None:
    errors = errors_of(fixed(cycle="daily", note="x"))
    assert errors == {
        "payment_terms.cycle": "must be one of: weekly, biweekly, monthly",
        "payment_terms.note": "unknown field",
    }
    assert errors_of(fixed(type="barter")) == {
        "payment_terms.type": "must be one of: fixed, hourly, milestones"
    }
    assert errors_of({"amount_minor": 1}) == {"payment_terms.type": "is required"}


@pytest.mark.parametrize("raw", [None, [], "fixed", 5])
def test_terms_that_are_not_an_object_are_refused(raw: object) -> None:
    assert set(errors_of(raw)) == {"payment_terms"}


def test_every_problem_is_reported_at_once() -> None:
    errors = errors_of({"type": "fixed", "amount_minor": 1.5, "currency": "eur"})
    assert set(errors) == {
        "payment_terms.amount_minor",
        "payment_terms.currency",
        "payment_terms.cycle",
    }


def test_milestones_outside_the_contract_period_are_refused() -> None:
    errors = errors_of(
        milestones(
            {"title": "Kickoff", "amount_minor": 1, "due_date": "2026-12-31"},
            {"title": "Launch", "amount_minor": 1, "due_date": "2028-01-01"},
        )
    )
    assert errors == {
        "payment_terms.milestones.0.due_date": (
            "must be on or after the contract's start date (2027-01-01)"
        ),
        "payment_terms.milestones.1.due_date": (
            "must be on or before the contract's end date (2027-12-31)"
        ),
    }


def test_the_period_bounds_themselves_are_inside() -> None:
    terms = milestones(
        {"title": "First day", "amount_minor": 1, "due_date": "2027-01-01"},
        {"title": "Last day", "amount_minor": 1, "due_date": "2027-12-31"},
    )
    assert len(parse_payment_terms(terms, START, END).milestones) == 2  # type: ignore[union-attr]


def test_open_ended_contracts_take_any_milestone_on_or_after_the_start() -> None:
    late = milestones({"title": "Far", "amount_minor": 1, "due_date": "2040-01-01"})
    assert parse_payment_terms(late, START, None)
    early = milestones({"title": "Early", "amount_minor": 1, "due_date": "2026-06-01"})
    assert set(errors_of(early, end=None)) == {"payment_terms.milestones.0.due_date"}


def test_milestone_due_dates_must_be_in_order() -> None:
    errors = errors_of(
        milestones(
            {"title": "B", "amount_minor": 1, "due_date": "2027-05-01"},
            {"title": "A", "amount_minor": 1, "due_date": "2027-04-01"},
        )
    )
    assert "due-date order" in errors["payment_terms.milestones.1.due_date"]


def test_milestone_due_dates_may_repeat() -> None:
    same_day = milestones(
        {"title": "Code", "amount_minor": 1, "due_date": "2027-05-01"},
        {"title": "Docs", "amount_minor": 1, "due_date": "2027-05-01"},
    )
    assert parse_payment_terms(same_day, START, END)


def test_milestones_must_sum_to_the_total_when_one_is_given() -> None:
    errors = errors_of(milestones(total_minor=300_001))
    assert errors == {
        "payment_terms.total_minor": (
            "the milestones sum to 300000, not 300001; make their amounts add up to the total"
        )
    }
    assert errors_of(milestones(total_minor=0)).keys() == {"payment_terms.total_minor"}


def test_milestone_titles_must_be_present_short_and_unique() -> None:
    errors = errors_of(
        milestones(
            {"title": "Design", "amount_minor": 1, "due_date": "2027-02-01"},
            {"title": " design ", "amount_minor": 1, "due_date": "2027-03-01"},
            {"title": "   ", "amount_minor": 1, "due_date": "2027-04-01"},
            {"title": "x" * 201, "amount_minor": 1, "due_date": "2027-05-01"},
            {"amount_minor": 1, "due_date": "2027-06-01"},
        )
    )
    assert errors == {
        "payment_terms.milestones.1.title": (
            "repeats the title of milestones.0; titles must be unique"
        ),
        "payment_terms.milestones.2.title": "must not be empty",
        "payment_terms.milestones.3.title": "must be at most 200 characters",
        "payment_terms.milestones.4.title": "is required",
    }


def test_between_one_and_a_hundred_milestones() -> None:
    assert errors_of(milestones(milestones=[])) == {
        "payment_terms.milestones": "must hold at least one milestone"
    }
    many = [{"title": f"M{i}", "amount_minor": 1, "due_date": "2027-06-01"} for i in range(101)]
    assert errors_of(milestones(*many)) == {
        "payment_terms.milestones": "must hold at most 100 milestones"
    }
    assert parse_payment_terms(milestones(*many[:100]), START, END)


@pytest.mark.parametrize(
    ("due_date", "message"),
    [
        ("2027-02-30", "2027-02-30 is not a real calendar date"),
        ("01/03/2027", "must be a date in YYYY-MM-DD form"),
        ("2027-03-01T00:00:00", "must be a date in YYYY-MM-DD form"),
        (1_800_000_000, "must be a date in YYYY-MM-DD form"),
    ],
)
def test_due_dates_are_plain_calendar_dates(due_date: object, message: str) -> None:
    raw = milestones({"title": "A", "amount_minor": 1, "due_date": due_date})
    assert errors_of(raw) == {"payment_terms.milestones.0.due_date": message}


def test_a_broken_milestone_does_not_hide_the_others_period_problems() -> None:
    errors = errors_of(
        milestones(
            {"title": "Broken", "amount_minor": 2.5, "due_date": "2027-02-01"},
            {"title": "Too late", "amount_minor": 1, "due_date": "2029-01-01"},
        )
    )
    assert set(errors) == {
        "payment_terms.milestones.0.amount_minor",
        "payment_terms.milestones.1.due_date",
    }


def test_a_schedule_of_more_than_a_thousand_periods_is_refused() -> None:
    errors = errors_of(fixed(cycle="weekly"), end=date(2047, 1, 1))
    assert "at most 1000" in errors["payment_terms.cycle"]
    assert parse_payment_terms(fixed(cycle="monthly"), START, date(2047, 1, 1))


def test_end_before_start_is_left_to_the_contract_and_skips_the_upper_bound() -> None:
    terms = milestones({"title": "A", "amount_minor": 1, "due_date": "2027-03-01"})
    assert parse_payment_terms(terms, START, date(2026, 1, 1))


def test_dump_and_load_round_trip() -> None:
    for raw in (fixed(), hourly(), milestones(total_minor=300_000)):
        parsed = parse_payment_terms(raw, START, END)
        dumped = dump_payment_terms(parsed)
        assert dumped == raw
        assert load_payment_terms(dumped) == parsed
    assert "total_minor" not in dump_payment_terms(parse_payment_terms(milestones(), START, END))
