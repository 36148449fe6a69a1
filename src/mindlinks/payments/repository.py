"""Queries of the payments module.

Who may read a schedule is the contract's business (`contracts.auth`): a
schedule is read only through a contract already loaded for the actor, so these
queries take a contract id and never decide visibility themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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


def last_positions(session: Session, contract_ids: Sequence[str]) -> dict[str, int]:
    """The last schedule position of each of these contracts that has items."""
    rows = session.execute(
        select(PaymentScheduleItem.contract_id, func.max(PaymentScheduleItem.position))
        .where(PaymentScheduleItem.contract_id.in_(list(contract_ids)))
        .group_by(PaymentScheduleItem.contract_id)
    ).all()
    return {contract_id: position for contract_id, position in rows}
