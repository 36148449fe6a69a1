"""The last signature activates the contract in its own transaction: status,
schedule, ledger entry, emails and the sealing job, or none of them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mindlinks.esign import activation
from mindlinks.esign.models import ContractSignature
from mindlinks.esign.notices import NOTIFY_ACTIVATED_JOB, NOTIFY_TURN_JOB, SEAL_JOB
from mindlinks.payments.models import PaymentScheduleItem
from tests.esign.factories import ledger_entries, make_deal, party, queued_jobs, sign


def schedule(session, contract):
    return session.scalars(
        select(PaymentScheduleItem)
        .where(PaymentScheduleItem.contract_id == contract.id)
        .order_by(PaymentScheduleItem.position)
    ).all()


def test_the_last_signature_activates_with_schedule_ledger_emails_and_seal_job(session, deal):
    contract = deal.contract
    first = sign(session, deal.client, contract)
    assert schedule(session, contract) == []
    last = sign(session, deal.contractor, contract)

    assert last.activated is True
    assert contract.status == "active"
    assert contract.fully_signed_at == last.signature.signed_at
    assert contract.activated_at == last.signature.signed_at

    items = schedule(session, contract)
    assert len(items) == 12  # monthly, 2027-01-01 .. 2027-12-31
    assert {i.currency for i in items} == {"EUR"}
    assert sum(i.amount_minor for i in items) == 12 * 500_000

    kinds = [e["kind"] for e in ledger_entries(session, contract)]
    assert kinds == ["contract.signed", "contract.signed", "contract.activated"]
    activated = ledger_entries(session, contract)[-1]
    assert activated["actor"] == f"user:{deal.contractor.id}"
    assert activated["payload"] == {
        "contract_id": contract.id,
        "document_sha256": contract.document_sha256,
        "signature_ids": [first.signature.id, last.signature.id],
        "schedule": {"items": 12, "total_minor": 6_000_000, "currency": "EUR"},
    }

    [notify] = queued_jobs(session, NOTIFY_ACTIVATED_JOB)
    assert notify.payload == {"contract_id": contract.id}
    [seal] = queued_jobs(session, SEAL_JOB)
    assert seal.idempotency_key == f"esign.seal_contract:{contract.id}"
    assert seal.payload == {"contract_id": contract.id}
    assert seal.max_attempts == 20


def test_a_parallel_contract_takes_signatures_in_any_order(session, app_context):
    deal = make_deal(session, app_context, signing_order="parallel")
    contractor_first = sign(session, deal.contractor, deal.contract)
    assert contractor_first.contract.status == "partially_signed"
    # Both parties were waiting from the send: nobody is told "your turn" again.
    assert queued_jobs(session, NOTIFY_TURN_JOB) == []
    last = sign(session, deal.client, deal.contract)
    assert last.activated and deal.contract.status == "active"


def test_an_eor_contract_is_activated_by_the_admin_countersignature(session, eor_deal, admin):
    contract = eor_deal.contract
    sign(session, eor_deal.client, contract)
    sign(session, eor_deal.contractor, contract)
    assert contract.status == "partially_signed"
    assert party(session, contract, "eor").awaiting_since is not None
    assert party(session, contract, "eor").user_id is None
    signed = sign(session, admin, contract)
    assert signed.activated and contract.status == "active"
    assert signed.signature.role == "eor"
    assert party(session, contract, "eor").user_id == admin.id
    assert [j.payload["role"] for j in queued_jobs(session, NOTIFY_TURN_JOB)] == [
        "contractor",
        "eor",
    ]
    activated = ledger_entries(session, contract)[-1]
    assert activated["kind"] == "contract.activated"
    assert len(activated["payload"]["signature_ids"]) == 3


def test_a_failing_activation_leaves_no_last_signature(session, deal, monkeypatch):
    sign(session, deal.client, deal.contract)

    def broken(*args, **kwargs):
        raise RuntimeError("schedule store is down")

    monkeypatch.setattr(activation, "create_schedule", broken)
    with pytest.raises(RuntimeError), session.begin_nested():
        sign(session, deal.contractor, deal.contract)
    session.expire_all()
    roles = session.scalars(
        select(ContractSignature.role).where(ContractSignature.contract_id == deal.contract.id)
    ).all()
    assert roles == ["client"]
    assert deal.contract.status == "partially_signed"
    assert deal.contract.activated_at is None
    assert party(session, deal.contract, "contractor").signed_at is None
    assert [e["kind"] for e in ledger_entries(session, deal.contract)] == ["contract.signed"]
    assert queued_jobs(session, SEAL_JOB) == []


def test_activation_cannot_happen_twice(session, deal):
    sign(session, deal.client, deal.contract)
    sign(session, deal.contractor, deal.contract)
    from mindlinks.contracts.errors import ContractTransitionNotAllowed
    from tests.esign.factories import actor

    with pytest.raises(ContractTransitionNotAllowed):
        activation.activate(
            session, deal.contract, actor(deal.client), signed_at=deal.contract.activated_at
        )
    assert [e["kind"] for e in ledger_entries(session, deal.contract)].count(
        "contract.activated"
    ) == 1
