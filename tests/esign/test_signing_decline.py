"""Declining: a party who has not signed refuses the contract, with a reason."""

from __future__ import annotations

import hashlib

import pytest

from mindlinks.contracts.errors import ContractNotFound
from mindlinks.esign.errors import ContractNotDeclinable, NotYourRole
from mindlinks.esign.notices import NOTIFY_DECLINED_JOB
from mindlinks.esign.service import decline_contract
from mindlinks.platform.errors import InvalidInput
from tests.esign.factories import actor, ledger_entries, make_admin, make_deal, queued_jobs, sign

REASON = "The rate is not what Zoë agreed with Clara on the phone."


def test_a_party_declines_before_signing(session, deal):
    declined = decline_contract(session, actor(deal.contractor), deal.contract.id, reason=REASON)
    assert declined.status == "declined"
    assert declined.declined_by == deal.contractor.id
    assert declined.decline_reason == REASON
    assert declined.declined_at is not None
    [entry] = [
        e for e in ledger_entries(session, deal.contract) if e["kind"] == "contract.declined"
    ]
    assert entry["actor"] == f"user:{deal.contractor.id}"
    assert entry["payload"] == {
        "contract_id": deal.contract.id,
        "role": "contractor",
        "document_sha256": deal.contract.document_sha256,
        "reason_sha256": hashlib.sha256(REASON.encode()).hexdigest(),
        "reason_length": len(REASON),
    }
    assert "Zoë" not in str(entry)
    assert [j.payload for j in queued_jobs(session, NOTIFY_DECLINED_JOB)] == [
        {"contract_id": deal.contract.id}
    ]


def test_the_reason_is_trimmed_and_required(session, deal):
    with pytest.raises(InvalidInput) as caught:
        decline_contract(session, actor(deal.client), deal.contract.id, reason="   ")
    assert caught.value.errors[0]["field"] == "reason"
    with pytest.raises(InvalidInput):
        decline_contract(session, actor(deal.client), deal.contract.id, reason="x" * 1001)
    declined = decline_contract(session, actor(deal.client), deal.contract.id, reason="  no  ")
    assert declined.decline_reason == "no"


def test_a_party_that_signed_cannot_decline(session, deal):
    sign(session, deal.client, deal.contract)
    with pytest.raises(ContractNotDeclinable) as caught:
        decline_contract(session, actor(deal.client), deal.contract.id, reason=REASON)
    assert caught.value.status == 409
    assert "already signed" in caught.value.detail
    # The contractor, who has not signed, still may.
    assert (
        decline_contract(session, actor(deal.contractor), deal.contract.id, reason=REASON).status
        == "declined"
    )


@pytest.mark.parametrize("status", ["draft", "active", "void", "declined"])
def test_only_a_contract_waiting_for_signatures_can_be_declined(session, deal, status):
    deal.contract.status = status
    session.flush()
    # The contractor does not see a draft at all; its client is refused with the state.
    party = deal.client if status == "draft" else deal.contractor
    with pytest.raises(ContractNotDeclinable) as caught:
        decline_contract(session, actor(party), deal.contract.id, reason=REASON)
    assert caught.value.extra["current_status"] == status


def test_the_contractor_cannot_decline_a_draft_they_cannot_see(session, deal):
    deal.contract.status = "draft"
    session.flush()
    with pytest.raises(ContractNotFound):
        decline_contract(session, actor(deal.contractor), deal.contract.id, reason=REASON)


def test_a_declined_contract_cannot_be_signed(session, deal):
    from mindlinks.contracts.errors import ContractNotSignable

    decline_contract(session, actor(deal.contractor), deal.contract.id, reason=REASON)
    with pytest.raises(ContractNotSignable) as caught:
        sign(session, deal.client, deal.contract)
    assert "declined" in caught.value.detail


def test_declining_for_another_role_or_another_tenant(session, app_context, deal):
    with pytest.raises(NotYourRole):
        decline_contract(
            session, actor(deal.client), deal.contract.id, reason=REASON, role="contractor"
        )
    other = make_deal(session, app_context)
    with pytest.raises(ContractNotFound):
        decline_contract(session, actor(other.client), deal.contract.id, reason=REASON)
    with pytest.raises(ContractNotFound):
        decline_contract(session, actor(make_admin(session)), deal.contract.id, reason=REASON)


def test_the_admin_may_decline_an_eor_contract_for_the_entity(session, eor_deal, admin):
    declined = decline_contract(session, actor(admin), eor_deal.contract.id, reason=REASON)
    assert declined.status == "declined" and declined.declined_by == admin.id
