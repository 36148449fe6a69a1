"""Queries of the payments module.

Who may read a schedule is the contract's business (`contracts.auth`): a
schedule is read only through a contract already loaded for the actor, so these
queries take a contract id and never decide visibility themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mindlinks.contracts.models import Contract
from mindlinks.payments.models import PaymentScheduleItem


def items_of(session: Session, contract_id: str) -> Sequence[PaymentScheduleItem]:
    return session.scalars(
        select(PaymentScheduleItem)
        .where(PaymentScheduleItem.contract_id == contract_id)
        .order_by(PaymentScheduleItem.position)
    ).all()


def items_page(
    session: Session, contract_id: str, *, after_position: int | None, limit: int
) -> Sequence[PaymentScheduleItem]:
    """Up to `limit` items after `after_position`, by position (the unique
    (contract_id, position) index serves it)."""
    stmt = select(PaymentScheduleItem).where(PaymentScheduleItem.contract_id == contract_id)
    if after_position is not None:
        stmt = stmt.where(PaymentScheduleItem.position > after_position)
    return session.scalars(stmt.order_by(PaymentScheduleItem.position).limit(limit)).all()


def open_ended_active_contracts(
    session: Session,
) -> Sequence[tuple[str, date, dict[str, object], int | None]]:
    """(contract id, start date, payment terms, last position or None) of every
    active contract without an end date: the schedules that roll forward.

    Reads the contracts table directly, the one place this module does: the
    roll-forward job needs a set of contracts, and a per-contract service call
    would be one query per contract.
    """
    last_position = (
        select(
            PaymentScheduleItem.contract_id.label("contract_id"),
            func.max(PaymentScheduleItem.position).label("last_position"),
        )
        .group_by(PaymentScheduleItem.contract_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Contract.id,
            Contract.start_date,
            Contract.payment_terms,
            last_position.c.last_position,
        )
        .outerjoin(last_position, last_position.c.contract_id == Contract.id)
        .where(Contract.status == "active", Contract.end_date.is_(None))
        .order_by(Contract.id)
    ).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows]
