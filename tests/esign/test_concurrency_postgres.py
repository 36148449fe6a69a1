"""Signatures racing on one contract, with real committed transactions.

Both parties of a parallel-order contract sign at the same instant (two threads
released by a barrier, each with its own session and commit): both signatures
are recorded and the contract is activated exactly once, with one schedule and
one `contract.activated` ledger entry. And one party signing twice at once gets
one signature and one 409. Against the real PostgreSQL when the test database
is PostgreSQL (the row lock `FOR UPDATE` is what serializes them); on SQLite the
same run passes through its single writer. Ledger rows can never be deleted, so
the run uses a scratch database of its own (`scratch_engine`), migrated like any
other and dropped afterwards.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from mindlinks.contracts.errors import ContractNotSignable
from mindlinks.contracts.models import Contract
from mindlinks.db import make_session_factory, transaction
from mindlinks.esign.disclosure import sync_disclosures
from mindlinks.esign.models import ContractSignature
from mindlinks.identity.models import User
from mindlinks.ledger import sequencer
from mindlinks.ledger.integrity import verify_ledger
from mindlinks.ledger.models import LedgerEntry
from mindlinks.payments.models import PaymentScheduleItem
from tests.esign.factories import make_deal, sign

ROUNDS_POSTGRES = 12
ROUNDS_SQLITE = 3


@dataclass(frozen=True)
class Ids:
    contract: str
    client: str
    contractor: str


def seed(engine: Engine, app_context, *, signing_order: str, count: int) -> list[Ids]:
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        sync_disclosures(session)
        deals = [make_deal(session, app_context, signing_order=signing_order) for _ in range(count)]
        return [Ids(d.contract.id, d.client.id, d.contractor.id) for d in deals]


def race(engine: Engine, signers: list[tuple[str, str]]) -> list[object]:
    """Each (user id, contract id) signs in its own thread and transaction, all
    released at once; answers each one's outcome (Signed or the exception)."""
    factory = make_session_factory(engine)
    barrier = threading.Barrier(len(signers))
    outcomes: list[object] = [None] * len(signers)

    def run(i: int, user_id: str, contract_id: str) -> None:
        try:
            with factory() as reader:
                user = reader.get(User, user_id)
                contract = reader.get(Contract, contract_id)
            barrier.wait(timeout=30)
            with transaction(factory) as session:
                outcomes[i] = sign(session, user, contract)
        except BaseException as exc:
            outcomes[i] = exc

    threads = [
        threading.Thread(target=run, args=(i, user_id, contract_id))
        for i, (user_id, contract_id) in enumerate(signers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return outcomes


@pytest.fixture
def rounds(scratch_engine: Engine) -> int:
    return ROUNDS_POSTGRES if scratch_engine.dialect.name == "postgresql" else ROUNDS_SQLITE


def test_both_parties_signing_at_once_activate_once(
    scratch_engine: Engine,
    app_context,
    rounds: int,
):
    deals = seed(scratch_engine, app_context, signing_order="parallel", count=rounds)
    for ids in deals:
        outcomes = race(
            scratch_engine, [(ids.client, ids.contract), (ids.contractor, ids.contract)]
        )
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert errors == [], errors
        assert sorted(o.activated for o in outcomes) == [False, True]

    factory = make_session_factory(scratch_engine)
    with transaction(factory) as session:
        sequencer.integrate_pending(session)
    with factory() as session:
        for ids in deals:
            contract = session.get(Contract, ids.contract)
            assert contract.status == "active"
            assert contract.activated_at is not None
            assert contract.fully_signed_at == contract.activated_at
            roles = session.scalars(
                select(ContractSignature.role).where(ContractSignature.contract_id == ids.contract)
            ).all()
            assert sorted(roles) == ["client", "contractor"]
            positions = session.scalars(
                select(PaymentScheduleItem.position).where(
                    PaymentScheduleItem.contract_id == ids.contract
                )
            ).all()
            assert sorted(positions) == list(range(12))
            kinds = Counter(
                session.scalars(
                    select(LedgerEntry.kind).where(
                        LedgerEntry.subject == f"contract:{ids.contract}"
                    )
                ).all()
            )
            assert kinds == {"contract.signed": 2, "contract.activated": 1}
        report = verify_ledger(session)
        assert report.ok, report.reason


def test_one_party_signing_twice_at_once_signs_once(
    scratch_engine: Engine,
    app_context,
    rounds: int,
):
    deals = seed(scratch_engine, app_context, signing_order="sequential", count=rounds)
    for ids in deals:
        outcomes = race(scratch_engine, [(ids.client, ids.contract), (ids.client, ids.contract)])
        refused = [o for o in outcomes if isinstance(o, ContractNotSignable)]
        signed = [o for o in outcomes if not isinstance(o, BaseException)]
        assert (len(signed), len(refused)) == (1, 1), outcomes
        assert "already signed" in refused[0].detail

    factory = make_session_factory(scratch_engine)
    with factory() as session:
        for ids in deals:
            count = session.scalar(
                select(func.count())
                .select_from(ContractSignature)
                .where(ContractSignature.contract_id == ids.contract)
            )
            assert count == 1
            assert session.get(Contract, ids.contract).status == "partially_signed"
