"""The signing ceremony, service level: what one signature records, and every
refusal in the order the checks run."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mindlinks.companies import service as companies
from mindlinks.contracts.errors import ContractNotFound, ContractNotSignable
from mindlinks.esign.errors import (
    ConsentRequired,
    DisclosureOutdated,
    NotYourRole,
    SignatureInvalid,
)
from mindlinks.esign.models import ContractSignature, EsignConsent
from mindlinks.esign.notices import NOTIFY_TURN_JOB
from mindlinks.esign.signing import SigningClient
from mindlinks.identity.errors import EmailNotVerified
from mindlinks.kyc.errors import KycNotApproved
from tests.contracts.factories import client_company
from tests.esign.factories import (
    drawn,
    ledger_entries,
    make_admin,
    make_deal,
    party,
    png_bytes,
    queued_jobs,
    sign,
)
from tests.factories import make_user


def consents(session, contract):
    return session.scalars(
        select(EsignConsent).where(EsignConsent.contract_id == contract.id)
    ).all()


def signatures(session, contract):
    return session.scalars(
        select(ContractSignature).where(ContractSignature.contract_id == contract.id)
    ).all()


# --- what a signature records ------------------------------------------------------


def test_the_first_signature_records_consent_signature_party_and_ledger(session, deal, disclosure):
    contract = deal.contract
    signed = sign(session, deal.client, contract)

    assert signed.activated is False
    assert signed.contract.status == "partially_signed"
    signature = signed.signature
    assert signature.role == "client"
    assert signature.user_id == deal.client.id
    assert (signature.signer_name, signature.signer_email) == ("Clara Client", deal.client.email)
    assert signature.document_sha256 == contract.document_sha256
    assert (signature.signature_type, signature.typed_name) == ("typed", "Clara Client")
    assert signature.drawn_png is None
    assert (signature.ip, signature.user_agent) == ("203.0.113.7", "pytest-browser/1.0")
    assert signature.kyc_session_id is None

    [consent] = consents(session, contract)
    assert consent.id == signature.consent_id
    assert (consent.disclosure_version, consent.disclosure_sha256) == (
        disclosure.version,
        disclosure.sha256,
    )
    assert consent.user_id == deal.client.id
    assert (consent.ip, consent.user_agent) == ("203.0.113.7", "pytest-browser/1.0")
    assert consent.accepted_at == signature.signed_at

    client_party = party(session, contract, "client")
    assert client_party.signed_at == signature.signed_at

    [entry] = [e for e in ledger_entries(session, contract) if e["kind"] == "contract.signed"]
    assert entry["actor"] == f"user:{deal.client.id}"
    assert entry["payload"] == {
        "contract_id": contract.id,
        "role": "client",
        "signature_id": signature.id,
        "signature_type": "typed",
        "document_sha256": contract.document_sha256,
        "consent_id": consent.id,
        "disclosure_version": disclosure.version,
        "disclosure_sha256": disclosure.sha256,
    }
    assert signature.ledger_pending_id is not None
    if session.get_bind().dialect.name == "sqlite":
        assert signature.ledger_seq == entry["seq"]
    else:
        # Numbered after the commit; the sealing round writes it.
        assert signature.ledger_seq is None


def test_the_ledger_holds_no_names_emails_or_addresses(session, deal):
    sign(session, deal.client, deal.contract)
    sign(session, deal.contractor, deal.contract)
    raw = str(ledger_entries(session, deal.contract))
    for secret in (
        "Clara",
        "Łukasiewicz",
        deal.client.email,
        deal.contractor.email,
        "203.0.113.7",
        "pytest-browser",
    ):
        assert secret not in raw


def test_the_next_party_is_told_it_is_their_turn(session, deal):
    contractor_party = party(session, deal.contract, "contractor")
    assert contractor_party.awaiting_since is None
    sign(session, deal.client, deal.contract)
    assert contractor_party.awaiting_since is not None
    assert [j.payload for j in queued_jobs(session, NOTIFY_TURN_JOB)] == [
        {"contract_id": deal.contract.id, "role": "contractor"}
    ]


def test_a_contractor_signature_records_the_kyc_session_that_verified_them(session, deal):
    from mindlinks.kyc.service import approved_session_id

    sign(session, deal.client, deal.contract)
    signed = sign(session, deal.contractor, deal.contract)
    kyc_id = approved_session_id(session, deal.contractor.id)
    assert kyc_id is not None
    assert signed.signature.kyc_session_id == kyc_id
    entry = next(
        e
        for e in ledger_entries(session, deal.contract)
        if e["kind"] == "contract.signed" and e["payload"]["role"] == "contractor"
    )
    assert entry["payload"]["kyc_session_id"] == kyc_id


def test_a_drawn_signature_keeps_the_png_and_its_hash(session, deal):
    import hashlib

    png = png_bytes()
    signed = sign(session, deal.client, deal.contract, signature=drawn(png, data_url=True))
    assert signed.signature.signature_type == "drawn"
    assert signed.signature.drawn_png == png
    assert signed.signature.drawn_png_sha256 == hashlib.sha256(png).hexdigest()
    assert signed.signature.typed_name is None


def test_a_long_user_agent_is_cut_to_512(session, deal):
    signed = sign(
        session, deal.client, deal.contract, client=SigningClient("198.51.100.1", "A" * 2000)
    )
    assert signed.signature.user_agent == "A" * 512


def test_any_staff_member_signs_for_the_client_and_becomes_its_user(session, app_context, deal):
    member = make_user(session, role="client", full_name="Mo Member")
    companies.link_member(session, deal.company.id, member.id)
    signed = sign(session, member, deal.contract)
    assert signed.signature.user_id == member.id
    assert party(session, deal.contract, "client").user_id == member.id


# --- refusals, in order --------------------------------------------------------------


@pytest.mark.parametrize("consent", [None, False, "true", 1])
def test_consent_must_be_exactly_true(session, deal, consent):
    with pytest.raises(ConsentRequired) as caught:
        sign(session, deal.client, deal.contract, consent=consent)
    assert caught.value.status == 422
    assert caught.value.errors == [{"field": "consent", "message": caught.value.detail}]
    assert consents(session, deal.contract) == []


def test_consent_is_checked_before_the_turn(session, deal):
    # Not the contractor's turn yet, but the missing consent is what they hear first.
    with pytest.raises(ConsentRequired):
        sign(session, deal.contractor, deal.contract, consent=False)


def test_an_outdated_disclosure_version_must_be_shown_again(session, deal, disclosure):
    with pytest.raises(DisclosureOutdated) as caught:
        sign(session, deal.client, deal.contract, disclosure_version=disclosure.version + 5)
    assert caught.value.status == 422
    assert caught.value.errors[0]["field"] == "disclosure_version"
    assert caught.value.extra["current_version"] == disclosure.version
    signed = sign(session, deal.client, deal.contract, disclosure_version=disclosure.version)
    assert signed.contract.status == "partially_signed"


def test_a_party_cannot_sign_for_another_role(session, deal):
    with pytest.raises(NotYourRole) as caught:
        sign(session, deal.client, deal.contract, role="contractor")
    assert caught.value.status == 403
    assert caught.value.slug == "not-your-role"
    with pytest.raises(NotYourRole):
        sign(session, deal.client, deal.contract, role="eor")
    # Naming one's own role is fine.
    assert sign(session, deal.client, deal.contract, role="client").signature.role == "client"


def test_a_contractor_without_approved_kyc_gets_403_with_the_link(session, app_context):
    deal = make_deal(session, app_context, kyc=False)
    sign(session, deal.client, deal.contract)
    with pytest.raises(KycNotApproved) as caught:
        sign(session, deal.contractor, deal.contract)
    assert caught.value.status == 403
    assert caught.value.extra["links"] == [{"rel": "verify-identity", "href": "/kyc"}]
    assert caught.value.extra["kyc_status"] == "none"
    assert len(signatures(session, deal.contract)) == 1


def test_an_unverified_email_cannot_sign(session, deal):
    deal.client.email_verified_at = None
    session.flush()
    with pytest.raises(EmailNotVerified):
        sign(session, deal.client, deal.contract)


def test_signing_a_draft_is_409(session, app_context):
    deal = make_deal(session, app_context, sent=False)
    with pytest.raises(ContractNotSignable) as caught:
        sign(session, deal.client, deal.contract)
    assert caught.value.status == 409
    assert "draft" in caught.value.detail
    assert caught.value.extra["current_status"] == "draft"
    assert consents(session, deal.contract) == []


def test_signing_twice_is_409(session, deal):
    sign(session, deal.client, deal.contract)
    with pytest.raises(ContractNotSignable) as caught:
        sign(session, deal.client, deal.contract)
    assert "already signed" in caught.value.detail
    assert len(signatures(session, deal.contract)) == 1
    assert len(consents(session, deal.contract)) == 1


def test_signing_out_of_order_is_409_naming_who_is_awaited(session, deal):
    with pytest.raises(ContractNotSignable) as caught:
        sign(session, deal.contractor, deal.contract)
    assert "not your turn" in caught.value.detail
    assert "waiting for the client" in caught.value.detail
    assert signatures(session, deal.contract) == []


def test_the_eor_countersigns_last(session, app_context, eor_deal, admin):
    with pytest.raises(ContractNotSignable) as caught:
        sign(session, admin, eor_deal.contract)
    assert "waiting for the client and the contractor" in caught.value.detail
    sign(session, eor_deal.client, eor_deal.contract)
    with pytest.raises(ContractNotSignable):
        sign(session, admin, eor_deal.contract)


@pytest.mark.parametrize("status", ["void", "declined", "active", "completed"])
def test_a_contract_past_signing_is_409_naming_its_state(session, deal, status):
    deal.contract.status = status
    session.flush()
    with pytest.raises(ContractNotSignable) as caught:
        sign(session, deal.client, deal.contract)
    assert status.replace("_", " ") in caught.value.detail
    assert caught.value.extra["current_status"] == status


def test_the_state_is_checked_before_the_signature_value(session, deal):
    bad = {"type": "drawn", "value": "not a png"}
    with pytest.raises(ContractNotSignable):
        sign(session, deal.contractor, deal.contract, signature=bad)
    with pytest.raises(SignatureInvalid) as caught:
        sign(session, deal.client, deal.contract, signature=bad)
    assert caught.value.errors[0]["field"] == "signature.value"
    assert signatures(session, deal.contract) == []
    assert consents(session, deal.contract) == []


def test_another_tenant_sees_no_contract(session, app_context, deal):
    _, stranger = client_company(session)
    other = make_deal(session, app_context)
    for user in (stranger, other.contractor, other.client):
        with pytest.raises(ContractNotFound):
            sign(session, user, deal.contract)


def test_an_admin_does_not_see_a_direct_contract(session, deal):
    with pytest.raises(ContractNotFound):
        sign(session, make_admin(session), deal.contract)


def test_a_duplicate_that_slips_past_the_checks_is_409_not_500(session, deal, monkeypatch):
    """The unique (contract, role) index is the backstop when the row lock is not
    there (an engine without FOR UPDATE, a bug): the loser gets the 409."""
    from mindlinks.esign import signing

    sign(session, deal.client, deal.contract)
    client_party = party(session, deal.contract, "client")
    # Make the checks believe the client has not signed.
    real = signing.party_for_turn

    def forgetful(contract, parties, role):
        for p in parties:
            if p.role == role:
                p.signed_at = None
        return real(contract, parties, role)

    monkeypatch.setattr(signing, "party_for_turn", forgetful)
    with pytest.raises(ContractNotSignable) as caught:
        sign(session, deal.client, deal.contract)
    assert "already signed" in caught.value.detail
    assert client_party.id  # the session is still usable
    assert len(signatures(session, deal.contract)) == 1
