"""Schedules in the database: creation at activation and rolling forward."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mindlinks.payments import service
from mindlinks.payments.errors import PaymentTermsNotSchedulable
from mindlinks.payments.models import PaymentScheduleItem
from tests.payments.factories import HOURLY, MILESTONES, contract_for


def count_items(session: Session, contract_id: str) -> int:
    return session.scalar(
        select(func.count()).where(PaymentScheduleItem.contract_id == contract_id)
    )


def test_fixed_contract_with_an_end_gets_one_item_per_month(session: Session) -> None:
    contract, *_ = contract_for(session)  # 2027-01-01 .. 2027-12-31, EUR 5,000 monthly
    items = service.create_schedule(session, contract, today=date(2026, 12, 1))
    assert [i.position for i in items] == list(range(12))
    assert items[0].period_start == date(2027, 1, 1)
    assert items[-1].due_date == date(2027, 12, 31)
    assert {(i.kind, i.amount_minor, i.currency, i.status) for i in items} == {
        ("fixed", 500_000, "EUR", "scheduled")
    }


def test_create_schedule_is_idempotent(session: Session) -> None:
    contract, *_ = contract_for(session)
    first = service.create_schedule(session, contract)
    again = service.create_schedule(session, contract)
    assert [i.id for i in again] == [i.id for i in first]
    assert count_items(session, contract.id) == 12


def test_open_ended_contract_starting_later_gets_twelve_periods(session: Session) -> None:
    contract, *_ = contract_for(session, end_date=None)
    items = service.create_schedule(session, contract, today=date(2026, 11, 29))
    assert len(items) == 12
    assert items[-1].period_end == date(2027, 12, 31)


def test_open_ended_contract_activated_after_its_start_is_not_born_behind(
    session: Session,
) -> None:
    contract, *_ = contract_for(session, end_date=None)
    # 2027-03-10 lies in period 2 (March); periods 2..13 must exist.
    items = service.create_schedule(session, contract, today=date(2027, 3, 10))
    assert [i.position for i in items] == list(range(14))
    assert sum(1 for i in items if i.period_end >= date(2027, 3, 10)) == 12


def test_hourly_items_carry_the_rate_and_no_amount(session: Session) -> None:
    contract, *_ = contract_for(session, payment_terms=HOURLY, end_date=date(2027, 1, 31))
    items = service.create_schedule(session, contract)
    assert len(items) == 5  # four full weeks and Jan 29-31
    assert {(i.kind, i.amount_minor, i.rate_minor) for i in items} == {("hourly", 0, 9_000)}
    assert items[-1].period_start == date(2027, 1, 29)


def test_milestones_get_one_item_each(session: Session) -> None:
    contract, *_ = contract_for(session, payment_terms=MILESTONES)
    items = service.create_schedule(session, contract)
    assert [(i.title, i.milestone_index, i.amount_minor, i.due_date) for i in items] == [
        ("Design", 0, 100_000, date(2027, 3, 1)),
        ("Build", 1, 250_000, date(2027, 9, 30)),
    ]


def test_terms_that_do_not_validate_are_refused_clearly(session: Session) -> None:
    contract, *_ = contract_for(session)
    contract.payment_terms = {"type": "fixed", "amount_minor": 1.5, "currency": "EUR"}
    session.flush()
    with pytest.raises(PaymentTermsNotSchedulable):
        service.create_schedule(session, contract)
    assert count_items(session, contract.id) == 0


def test_roll_forward_keeps_twelve_future_periods(session: Session) -> None:
    contract, *_ = contract_for(session, end_date=None)
    service.create_schedule(session, contract, today=date(2026, 12, 1))
    # On 2027-04-15 the April period is position 3; positions 3..14 must exist.
    assert service.roll_forward(session, date(2027, 4, 15)) >= 3
    items = service.schedule_of(session, contract.id)
    assert [i.position for i in items] == list(range(15))
    assert items[-1].period_start == date(2028, 3, 1)
    assert sum(1 for i in items if i.period_end >= date(2027, 4, 15)) == 12
    # Nothing more to do the same day, or the next.
    assert service.roll_forward(session, date(2027, 4, 15)) == 0
    assert service.roll_forward(session, date(2027, 4, 30)) == 0
    assert count_items(session, contract.id) == 15


def test_roll_forward_only_touches_active_open_ended_cycle_schedules(session: Session) -> None:
    ended, *_ = contract_for(session)
    draft, *_ = contract_for(session, status="draft", end_date=None)
    terminated, *_ = contract_for(session, status="terminated", end_date=None)
    open_milestones, *_ = contract_for(session, payment_terms=MILESTONES, end_date=None)
    hourly, *_ = contract_for(session, payment_terms=HOURLY, end_date=None)
    for contract in (ended, open_milestones, hourly):
        service.create_schedule(session, contract, today=date(2026, 12, 1))
    service.roll_forward(session, date(2027, 6, 1))
    assert count_items(session, ended.id) == 12
    assert count_items(session, draft.id) == 0
    assert count_items(session, terminated.id) == 0
    assert count_items(session, open_milestones.id) == 2
    # Weekly from Friday 2027-01-01: 2027-06-01 is in week 21; weeks 21..32 exist.
    assert count_items(session, hourly.id) == 33


def test_roll_forward_builds_a_missing_schedule_of_an_active_contract(session: Session) -> None:
    contract, *_ = contract_for(session, end_date=None)
    service.roll_forward(session, date(2026, 12, 1))
    assert count_items(session, contract.id) == 12


def test_roll_forward_skips_a_contract_with_unreadable_terms(session: Session) -> None:
    broken, *_ = contract_for(session, end_date=None)
    broken.payment_terms = {"type": "fixed"}
    healthy, *_ = contract_for(session, end_date=None)
    session.flush()
    service.roll_forward(session, date(2026, 12, 1))
    assert count_items(session, broken.id) == 0
    assert count_items(session, healthy.id) == 12


def test_schedule_pages_follow_positions(session: Session) -> None:
    contract, *_ = contract_for(session)
    service.create_schedule(session, contract)
    first, after = service.schedule_page(session, contract.id, after_position=None, limit=5)
    assert [i.position for i in first] == [0, 1, 2, 3, 4] and after == 4
    rest, after = service.schedule_page(session, contract.id, after_position=9, limit=5)
    assert [i.position for i in rest] == [10, 11] and after is None
