"""Payment schedules: created at activation, rolled forward for open-ended contracts.

- `create_schedule(session, contract)` runs in the transaction that activates
  the contract. It is idempotent: a contract that has items gets them back.
- `roll_forward(session, today)` keeps every active open-ended contract (fixed
  or hourly) `HORIZON_PERIODS` periods ahead: the period that contains `today`
  and the eleven after it exist. The periodic job `payments.roll_forward_schedules`
  calls it daily.

Races: the unique (contract_id, position) index is the guard. Items are inserted
inside a savepoint; when another transaction inserted the same positions first,
the savepoint rolls back and what is in the table stands (an activation retried
by the signing ceremony, two workers rolling forward at once).

Neither function commits: the request or the job owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks.contracts.models import Contract
from mindlinks.contracts.service import open_ended_active_contracts
from mindlinks.contracts.terms import (
    FixedTerms,
    HourlyTerms,
    MilestoneTerms,
    load_payment_terms,
)
from mindlinks.payments import repository
from mindlinks.payments.errors import PaymentTermsNotSchedulable
from mindlinks.payments.models import PaymentScheduleItem
from mindlinks.payments.schedule import (
    DEFAULT_HORIZON_PERIODS,
    ScheduleItemSpec,
    build_schedule,
    position_covering,
)
from mindlinks.platform.clock import now

log = structlog.get_logger(__name__)

HORIZON_PERIODS = DEFAULT_HORIZON_PERIODS
ROLL_FORWARD_JOB = "payments.roll_forward_schedules"


def create_schedule(
    session: Session, contract: Contract, *, today: date | None = None
) -> list[PaymentScheduleItem]:
    """The contract's schedule, created from its terms unless it exists already.

    Open-ended contracts get the periods up to `HORIZON_PERIODS` ahead of
    `today` (the clock's UTC date by default), so a contract activated after its
    start date is not born behind.
    """
    existing = list(repository.items_of(session, contract.id))
    if existing:
        return existing
    terms = _terms_of(contract.id, contract.payment_terms)
    specs = build_schedule(
        terms,
        contract.start_date,
        contract.end_date,
        horizon_periods=_periods_needed(terms, contract.start_date, today or now().date()),
    )
    if not _insert(session, contract.id, specs):
        log.info("payment_schedule_created_concurrently", contract_id=contract.id)
    return list(repository.items_of(session, contract.id))


def roll_forward(session: Session, today: date) -> int:
    """Add the missing future periods of open-ended schedules; the number added."""
    added = 0
    contracts = open_ended_active_contracts(session)
    last = repository.last_positions(session, [contract_id for contract_id, _, _ in contracts])
    for contract_id, start_date, raw_terms in contracts:
        last_position = last.get(contract_id)
        try:
            terms = _terms_of(contract_id, raw_terms)
        except PaymentTermsNotSchedulable:
            # One bad contract must not stop every other schedule from rolling.
            log.error("payment_schedule_terms_unreadable", contract_id=contract_id)
            continue
        if isinstance(terms, MilestoneTerms):
            continue
        have = 0 if last_position is None else last_position + 1
        needed = _periods_needed(terms, start_date, today)
        if have >= needed:
            continue
        specs = build_schedule(
            terms, start_date, None, horizon_periods=needed - have, from_position=have
        )
        if _insert(session, contract_id, specs):
            added += len(specs)
    if added:
        log.info("payment_schedules_rolled_forward", items_added=added)
    return added


def schedule_of(session: Session, contract_id: str) -> Sequence[PaymentScheduleItem]:
    """Every item of a contract's schedule, by position (empty before activation)."""
    return repository.items_of(session, contract_id)


def schedule_page(
    session: Session, contract_id: str, *, after_position: int | None, limit: int
) -> tuple[Sequence[PaymentScheduleItem], int | None]:
    """A page of items after `after_position`, and the position to continue after
    (None on the last page)."""
    rows = list(
        repository.items_page(session, contract_id, after_position=after_position, limit=limit + 1)
    )
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, rows[-1].position


def _periods_needed(
    terms: FixedTerms | HourlyTerms | MilestoneTerms, start_date: date, today: date
) -> int:
    """How many positions an open-ended schedule must have on `today`."""
    if isinstance(terms, MilestoneTerms):
        return 0  # milestones are finite; the horizon does not apply
    return position_covering(start_date, terms.cycle, today) + HORIZON_PERIODS


def _terms_of(
    contract_id: str, raw: Mapping[str, Any]
) -> FixedTerms | HourlyTerms | MilestoneTerms:
    try:
        return load_payment_terms(raw)
    except ValidationError as exc:
        raise PaymentTermsNotSchedulable(
            f"The payment terms of contract {contract_id} do not validate "
            f"({exc.error_count()} problem(s)); no schedule can be made from them."
        ) from exc


def _insert(session: Session, contract_id: str, specs: Sequence[ScheduleItemSpec]) -> bool:
    """Insert the items in one savepoint; False when another transaction already
    inserted one of these positions (theirs stand, ours are dropped)."""
    if not specs:
        return True
    try:
        with session.begin_nested():
            session.add_all(
                PaymentScheduleItem(
                    contract_id=contract_id,
                    position=spec.position,
                    kind=spec.kind,
                    period_start=spec.period_start,
                    period_end=spec.period_end,
                    due_date=spec.due_date,
                    amount_minor=spec.amount_minor,
                    currency=spec.currency,
                    rate_minor=spec.rate_minor,
                    milestone_index=spec.milestone_index,
                    title=spec.title,
                    status="scheduled",
                )
                for spec in specs
            )
    except IntegrityError:
        return False
    return True
