"""Two transactions making the same schedule at once end with one schedule.

Runs against committed data in a scratch database: the real PostgreSQL when the
test database is PostgreSQL (the second insert waits on the unique index, then
fails and its savepoint yields to the first), SQLite otherwise (write
transactions are serialized, so the second finds the first's items).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from mindlinks.contracts.models import Contract
from mindlinks.db import make_session_factory, transaction
from mindlinks.payments import service
from mindlinks.payments.models import PaymentScheduleItem
from tests.payments.factories import contract_for

HOLD_SECONDS = 0.3


def race(engine: Engine, work: Callable[[Session, int], Any]) -> list[Any]:
    """Run `work` in two transactions that start together; the first holds its
    transaction open a little, so the second runs while it is uncommitted."""
    factory = make_session_factory(engine)
    start = threading.Barrier(2)
    results: list[Any] = [None, None]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            if index == 1:
                time.sleep(HOLD_SECONDS / 3)
            with transaction(factory) as session:
                results[index] = work(session, index)
                if index == 0:
                    time.sleep(HOLD_SECONDS)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    return results


def committed_contract(engine: Engine, **fields: Any) -> str:
    with transaction(make_session_factory(engine)) as session:
        contract, *_ = contract_for(session, **fields)
        return contract.id


def item_count(engine: Engine, contract_id: str) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(
            select(func.count()).where(PaymentScheduleItem.contract_id == contract_id)
        )


def test_two_activations_at_once_make_one_schedule(scratch_engine: Engine) -> None:
    contract_id = committed_contract(scratch_engine)

    def create(session: Session, _: int) -> list[str]:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        return [item.id for item in service.create_schedule(session, contract)]

    first, second = race(scratch_engine, create)
    assert len(first) == 12
    assert second == first
    assert item_count(scratch_engine, contract_id) == 12


def test_two_roll_forwards_at_once_add_each_period_once(scratch_engine: Engine) -> None:
    contract_id = committed_contract(scratch_engine, end_date=None)
    with transaction(make_session_factory(scratch_engine)) as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        service.create_schedule(session, contract, today=date(2026, 12, 1))

    added = race(scratch_engine, lambda session, _: service.roll_forward(session, date(2027, 7, 2)))
    # July 2027 is position 6; positions 0..17 must exist: 6 new ones, added once.
    assert sorted(added) == [0, 6]
    assert item_count(scratch_engine, contract_id) == 18
