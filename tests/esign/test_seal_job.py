"""Sealing a signed contract from the database: documents, contract row, ledger,
idempotency, refusals, and the list of contracts left unsealed."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select, update

from mindlinks.contracts import repository
from mindlinks.contracts.documents import read_document
from mindlinks.contracts.models import Contract
from mindlinks.esign.models import ContractSignature
from mindlinks.esign.pki import load_signing_authority
from mindlinks.esign.seal_job import (
    ContractNotSealable,
    LedgerEntryNotSequenced,
    seal_contract,
    unsealed_contracts,
)
from mindlinks.esign.sealing import SEAL_FIELD, embedded_completion
from mindlinks.platform.clock import now
from tests.esign.factories import drawn, ledger_entries, make_deal, png_bytes
from tests.esign.seal_factories import signed_deal


def _trusted(app_context) -> ValidationContext:
    ca = load_signing_authority(app_context.settings).ca_cert
    der = ca.public_bytes(serialization.Encoding.DER)
    return ValidationContext(trust_roots=[asn1_x509.Certificate.load(der)], allow_fetching=False)


def _entries(session, contract: Contract, kind: str) -> list[dict]:
    return [e for e in ledger_entries(session, contract) if e["kind"] == kind]


@pytest.fixture
def signed(session, app_context):
    """Signed by Clara Client and, with a drawn signature, Zoë Łukasiewicz."""
    return signed_deal(session, app_context, contractor_signature=drawn(png_bytes()))


@pytest.fixture
def signed_cjk(session, app_context):
    """The same, the contractor named 张伟 (rendering CJK costs seconds: used sparingly)."""
    return signed_deal(
        session, app_context, contractor_name="张伟", contractor_signature=drawn(png_bytes())
    )


def test_sealing_stores_the_sealed_pdf_and_the_certificate_and_marks_the_contract(
    session, app_context, signed
):
    contract = signed.contract
    assert contract.status == "active"
    sha = seal_contract(session, app_context, contract.id)

    session.refresh(contract)
    assert contract.sealed_sha256 == sha
    assert contract.sealed_at is not None
    sealed_doc = repository.document_of(session, contract.id, "sealed")
    completion_doc = repository.document_of(session, contract.id, "completion")
    assert sealed_doc is not None and completion_doc is not None
    assert sealed_doc.sha256 == sha
    sealed = read_document(app_context, sealed_doc)
    completion = read_document(app_context, completion_doc)
    assert sealed.startswith(signed.sent_pdf)
    assert embedded_completion(sealed) == completion
    assert completion.startswith(b"%PDF-")


def test_every_signature_of_the_sealed_contract_validates(session, app_context, signed_cjk):
    signed = signed_cjk
    seal_contract(session, app_context, signed.contract.id)
    document = repository.document_of(session, signed.contract.id, "sealed")
    assert document is not None
    sealed = read_document(app_context, document)
    signatures = list(PdfFileReader(io.BytesIO(sealed)).embedded_signatures)
    assert [s.field_name for s in signatures] == ["client", "contractor", SEAL_FIELD]
    for embedded in signatures:
        status = validate_pdf_signature(embedded, _trusted(app_context))
        assert status.bottom_line, (embedded.field_name, status.summary())
    assert (
        validate_pdf_signature(signatures[-1], _trusted(app_context)).coverage
        == SignatureCoverageLevel.ENTIRE_FILE
    )
    names = [s.signer_cert.subject.native["common_name"] for s in signatures[:2]]
    assert names == ["Clara Client", "张伟"]
    contractor = signatures[1].signer_cert.subject.native
    signature = session.scalar(
        select(ContractSignature).where(
            ContractSignature.contract_id == signed.contract.id,
            ContractSignature.role == "contractor",
        )
    )
    assert signature is not None and signature.kyc_session_id
    assert contractor["serial_number"] == f"kyc:{signature.kyc_session_id}"
    assert contractor["email_address"] == signed.deal.contractor.email


def test_sealing_appends_contract_sealed_with_ids_and_hashes_only(session, app_context, signed):
    sha = seal_contract(session, app_context, signed.contract.id)
    (entry,) = _entries(session, signed.contract, "contract.sealed")
    completion = repository.document_of(session, signed.contract.id, "completion")
    assert completion is not None
    assert entry["actor"] == "system"
    assert entry["payload"] == {
        "contract_id": signed.contract.id,
        "document_sha256": signed.contract.document_sha256,
        "sealed_sha256": sha,
        "completion_sha256": completion.sha256,
    }


def test_the_certificate_of_completion_cites_the_ledger_and_the_certificates(
    session, app_context, signed, monkeypatch
):
    from mindlinks.esign import seal_job

    seen = {}
    render = seal_job.render_completion_pdf

    def capture(data):
        seen["data"] = data
        return render(data)

    monkeypatch.setattr(seal_job, "render_completion_pdf", capture)
    seal_contract(session, app_context, signed.contract.id)
    data = seen["data"]
    signed_seqs = [e["seq"] for e in _entries(session, signed.contract, "contract.signed")]
    (activated,) = _entries(session, signed.contract, "contract.activated")
    assert [s.ledger_seq for s in data.signers] == signed_seqs
    assert data.activated_ledger_seq == activated["seq"]
    assert data.document_sha256 == signed.contract.document_sha256
    assert data.page_count == 1
    contractor = data.signers[1]
    assert contractor.name == "Zoë Łukasiewicz"
    assert contractor.kyc_session_id and contractor.kyc_provider == "sandbox"
    assert contractor.kyc_decided_at is not None
    assert contractor.signature_type == "drawn" and contractor.drawn_png
    assert contractor.ip == "203.0.113.7" and contractor.user_agent == "pytest-browser/1.0"
    assert data.signers[0].organization == signed.deal.company.legal_name
    document = repository.document_of(session, signed.contract.id, "sealed")
    assert document is not None
    sealed = read_document(app_context, document)
    serials = [
        format(s.signer_cert.serial_number, "x")
        for s in PdfFileReader(io.BytesIO(sealed)).embedded_signatures[:2]
    ]
    assert [s.certificate_serial for s in data.signers] == serials


def test_sealing_twice_answers_the_same_seal_and_writes_nothing(session, app_context, signed):
    first = seal_contract(session, app_context, signed.contract.id)
    again = seal_contract(session, app_context, signed.contract.id)
    assert again == first
    assert len(_entries(session, signed.contract, "contract.sealed")) == 1


def test_an_eor_contract_is_sealed_with_three_signers(session, app_context):
    signed = signed_deal(session, app_context, kind="eor")
    seal_contract(session, app_context, signed.contract.id)
    document = repository.document_of(session, signed.contract.id, "sealed")
    assert document is not None
    signatures = list(
        PdfFileReader(io.BytesIO(read_document(app_context, document))).embedded_signatures
    )
    assert [s.field_name for s in signatures] == ["client", "contractor", "eor", SEAL_FIELD]
    eor = signatures[2].signer_cert.subject.native
    assert eor["common_name"] == "Ada Admin"
    assert eor["organization_name"] == app_context.settings.eor_entity_name
    for embedded in signatures:
        assert validate_pdf_signature(embedded, _trusted(app_context)).bottom_line


def test_a_contract_not_signed_by_everyone_is_not_sealed(session, app_context):
    deal = make_deal(session, app_context)
    with pytest.raises(ContractNotSealable, match="sent"):
        seal_contract(session, app_context, deal.contract.id)


def test_a_missing_signature_is_refused(session, app_context, signed):
    session.execute(
        update(ContractSignature)
        .where(
            ContractSignature.contract_id == signed.contract.id,
            ContractSignature.role == "contractor",
        )
        .values(role="eor")
    )
    with pytest.raises(ContractNotSealable, match="no signature yet for contractor"):
        seal_contract(session, app_context, signed.contract.id)


def test_a_signature_over_another_document_is_refused(session, app_context, signed):
    session.execute(
        update(ContractSignature)
        .where(ContractSignature.contract_id == signed.contract.id)
        .values(document_sha256="00" * 32)
    )
    with pytest.raises(ContractNotSealable, match="not the sent document"):
        seal_contract(session, app_context, signed.contract.id)


def test_a_sent_document_that_differs_from_the_frozen_hash_is_refused(session, app_context, signed):
    session.execute(
        update(Contract).where(Contract.id == signed.contract.id).values(document_sha256="11" * 32)
    )
    with pytest.raises(ContractNotSealable, match="stored sent document"):
        seal_contract(session, app_context, signed.contract.id)


def test_an_unsequenced_signature_entry_makes_the_job_wait(session, app_context, signed):
    session.execute(
        update(ContractSignature)
        .where(ContractSignature.contract_id == signed.contract.id)
        .values(ledger_seq=None, ledger_pending_id=987_654_321)
    )
    with pytest.raises(LedgerEntryNotSequenced, match="987654321"):
        seal_contract(session, app_context, signed.contract.id)
    session.refresh(signed.contract)
    assert signed.contract.sealed_sha256 is None


def test_unsealed_contracts_lists_those_waiting_past_the_grace_period(session, app_context, signed):
    contract = signed.contract
    grace = app_context.settings.seal_stuck_after_seconds
    session.execute(
        update(Contract)
        .where(Contract.id == contract.id)
        .values(
            activated_at=now() - timedelta(seconds=grace + 60),
            seal_attempts=3,
            seal_error="TimestampUnavailable: the TSA failed",
        )
    )
    listed = {u.contract_id: u for u in unsealed_contracts(session, grace)}
    assert contract.id in listed
    stuck = listed[contract.id]
    assert stuck.status == "active" and stuck.seal_attempts == 3
    assert stuck.seal_error == "TimestampUnavailable: the TSA failed"
    assert grace + 50 <= stuck.waiting_seconds <= grace + 3600
    assert stuck.signed_at.tzinfo is not None

    seal_contract(session, app_context, contract.id)
    assert contract.id not in {u.contract_id for u in unsealed_contracts(session, grace)}


def test_a_contract_within_the_grace_period_is_not_listed(session, app_context, signed):
    grace = app_context.settings.seal_stuck_after_seconds
    assert signed.contract.id not in {u.contract_id for u in unsealed_contracts(session, grace)}
    assert signed.contract.id in {u.contract_id for u in unsealed_contracts(session, 0)}


def test_contracts_still_being_signed_are_not_listed(session, app_context):
    deal = make_deal(session, app_context)
    assert deal.contract.id not in {u.contract_id for u in unsealed_contracts(session, 0)}


def test_the_esign_job_round_seals_with_this_function(session, app_context, signed):
    from mindlinks.esign.seal_runs import run_seal_round

    sha = run_seal_round(session, app_context, signed.contract.id)
    session.refresh(signed.contract)
    assert sha is not None and signed.contract.sealed_sha256 == sha
    assert signed.contract.seal_error is None
