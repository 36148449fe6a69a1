"""Sealing a fully signed contract: what the `esign.seal_contract` job runs.

`seal_contract(session, ctx, contract_id)` answers the SHA-256 of the sealed PDF.
It runs in three steps, each usable alone:

1. `gather_seal_inputs` (reads only): the contract, its frozen sent PDF (checked
   against `document_sha256`), every party's signature in signing order with its
   consent and disclosure, the contractor's KYC session, and the ledger seq of
   each `contract.signed` entry and of `contract.activated`. An entry the
   sequencer has not numbered yet raises `LedgerEntryNotSequenced`: the job
   retries later rather than print a certificate without it;
2. `produce_sealed` (pure, the slow part): issues each signer's one-use
   certificate, renders the certificate of completion (which cites them), and
   seals (`sealing.seal_document`), with an RFC 3161 timestamp on the platform
   seal when `MINDLINKS_TSA_URL` is set;
3. `store_sealed`: the `sealed` and `completion` documents in the blob store,
   `sealed_sha256` / `sealed_at` on the contract (a conditional UPDATE) and a
   `contract.sealed` ledger entry (ids and hashes only), in the caller's
   transaction.

It is idempotent: a contract already sealed answers its hash and changes nothing,
and the row lock taken first makes a second job for the same contract wait and
then find it sealed. Failures raise; the job wrapper (`seal_runs`) records them on
the contract and retries. `unsealed_contracts` lists what the admin page shows:
contracts past their last signature and still unsealed after the grace period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mindlinks.companies.repository import get_company
from mindlinks.config import Settings
from mindlinks.contracts import repository
from mindlinks.contracts.documents import read_document, store_document
from mindlinks.contracts.models import Contract, ContractTemplate
from mindlinks.db import UTCDateTime
from mindlinks.esign.activation import signature_ids_in_order
from mindlinks.esign.completion import (
    CompletionData,
    CompletionSigner,
    render_completion_pdf,
    rfc3339,
)
from mindlinks.esign.models import ContractSignature, EsignConsent, EsignDisclosure
from mindlinks.esign.pki import SigningAuthority, certificate_sha256, load_signing_authority
from mindlinks.esign.sealing import (
    IssuedSignerCertificate,
    SignerSeal,
    issue_signer_certificates,
    page_count,
    seal_document,
)
from mindlinks.kyc.models import KycSession
from mindlinks.kyc.service import verification_record
from mindlinks.ledger import repository as ledger
from mindlinks.ledger.service import append_entry, seq_of
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext

SEALED_KIND: Final = "contract.sealed"
SIGNED_KIND: Final = "contract.signed"
ACTIVATED_KIND: Final = "contract.activated"
KYC_DECIDED_KIND: Final = "kyc.decided"
# Every status a contract can have once all parties signed.
SIGNED_STATUSES: Final = frozenset({"fully_signed", "active", "completed", "terminated"})
ROLE_LABELS: Final[dict[str, str]] = {
    "client": "Client",
    "contractor": "Contractor",
    "eor": "EOR Entity",
}


class ContractNotSealable(RuntimeError):
    """The contract is not (or not consistently) fully signed: nothing to seal."""


class LedgerEntryNotSequenced(RuntimeError):
    """A ledger entry the certificate of completion cites has no seq yet; retry later."""


@dataclass(frozen=True)
class SignerRecord:
    """One signature with everything the seal and the certificate state about it."""

    signature: ContractSignature
    consent: EsignConsent
    disclosure: EsignDisclosure
    ledger_seq: int
    organization: str | None
    kyc: KycSession | None
    kyc_ledger_seq: int | None


@dataclass(frozen=True)
class SealInputs:
    contract: Contract
    template: ContractTemplate
    company_name: str
    sent_pdf: bytes
    signers: Sequence[SignerRecord]
    activated_ledger_seq: int | None


@dataclass(frozen=True)
class SealOutputs:
    contract_id: str
    document_sha256: str
    sealed_pdf: bytes
    completion_pdf: bytes
    # The signer certificates only: their one-use keys are gone with `produce_sealed`.
    certificates: Sequence[x509.Certificate]


@dataclass(frozen=True)
class UnsealedContract:
    """A contract past its last signature whose sealed PDF is still missing."""

    contract_id: str
    company_id: str
    title: str
    status: str
    signed_at: datetime  # activation, or the last signature
    waiting_seconds: int
    seal_attempts: int
    seal_error: str | None


# --- 1. gathering ---------------------------------------------------------------------


def _entry_seq(session: Session, subject: str, kind: str) -> int | None:
    found = ledger.entries(session, subject=subject, kind=kind, limit=1)
    return found[0].seq if found else None


def _signature_seq(session: Session, signature: ContractSignature) -> int:
    if signature.ledger_seq is not None:
        return signature.ledger_seq
    seq = seq_of(session, signature.ledger_pending_id)
    if seq is None:
        raise LedgerEntryNotSequenced(
            f"the {SIGNED_KIND} entry of signature {signature.id} (pending "
            f"{signature.ledger_pending_id}) has no seq yet"
        )
    signature.ledger_seq = seq
    return seq


def _organization(role: str, company_name: str, settings: Settings) -> str | None:
    if role == "client":
        return company_name
    if role == "eor":
        return settings.eor_entity_name
    return None


def _signer_records(
    session: Session, contract: Contract, company_name: str, settings: Settings
) -> list[SignerRecord]:
    parties = repository.parties_of(session, contract.id)
    records: list[SignerRecord] = []
    for signature_id in signature_ids_in_order(session, contract.id):
        signature = session.get(ContractSignature, signature_id)
        assert signature is not None
        if signature.document_sha256 != contract.document_sha256:
            raise ContractNotSealable(
                f"signature {signature.id} is over {signature.document_sha256}, not the sent "
                f"document {contract.document_sha256}"
            )
        consent = session.get(EsignConsent, signature.consent_id)
        assert consent is not None  # a foreign key guarantees it
        disclosure = session.get(EsignDisclosure, consent.disclosure_version)
        assert disclosure is not None
        kyc = (
            verification_record(session, signature.kyc_session_id)
            if signature.kyc_session_id
            else None
        )
        records.append(
            SignerRecord(
                signature=signature,
                consent=consent,
                disclosure=disclosure,
                ledger_seq=_signature_seq(session, signature),
                organization=_organization(signature.role, company_name, settings),
                kyc=kyc,
                kyc_ledger_seq=(
                    _entry_seq(session, f"kyc:{kyc.id}", KYC_DECIDED_KIND) if kyc else None
                ),
            )
        )
    unsigned = {p.role for p in parties} - {r.signature.role for r in records}
    if unsigned:
        raise ContractNotSealable(f"no signature yet for {', '.join(sorted(unsigned))}")
    return records


def gather_seal_inputs(session: Session, ctx: AppContext, contract: Contract) -> SealInputs:
    """Everything sealing needs, read (and checked) from the database and blob store."""
    if contract.status not in SIGNED_STATUSES:
        raise ContractNotSealable(f"the contract is {contract.status}, not fully signed")
    sent = repository.document_of(session, contract.id, "sent")
    if sent is None or contract.document_sha256 is None:
        raise ContractNotSealable("the contract has no sent document")
    if sent.sha256 != contract.document_sha256:
        raise ContractNotSealable(
            f"the stored sent document is {sent.sha256}, the contract names "
            f"{contract.document_sha256}"
        )
    sent_pdf = read_document(ctx, sent)
    company_name = get_company(session, contract.company_id).legal_name
    signers = _signer_records(session, contract, company_name, ctx.settings)
    activated_seq = _entry_seq(session, f"contract:{contract.id}", ACTIVATED_KIND)
    if contract.activated_at is not None and activated_seq is None:
        raise LedgerEntryNotSequenced(f"the {ACTIVATED_KIND} entry has no seq yet")
    return SealInputs(
        contract=contract,
        template=repository.template_of(session, contract),
        company_name=company_name,
        sent_pdf=sent_pdf,
        signers=signers,
        activated_ledger_seq=activated_seq,
    )


# --- 2. producing (pure) ----------------------------------------------------------------


def signer_seal(contract: Contract, record: SignerRecord) -> SignerSeal:
    signature = record.signature
    label = ROLE_LABELS.get(signature.role, signature.role)
    return SignerSeal(
        role=signature.role,
        name=signature.signer_name,
        email=signature.signer_email,
        signed_at=signature.signed_at,
        reason=(
            f"Signed as {label} through Mind-Links on {rfc3339(signature.signed_at)} "
            f"(signature {signature.id})"
        ),
        contract_id=contract.id,
        signature_id=signature.id,
        kyc_session_id=signature.kyc_session_id,
        typed_name=signature.typed_name,
        drawn_png=signature.drawn_png if signature.signature_type == "drawn" else None,
        organization=record.organization,
    )


def _identity(record: SignerRecord) -> str:
    role = record.signature.role
    if record.kyc is not None:
        return "Identity verified by document, selfie and liveness check (KYC)"
    if role == "client":
        return f"Platform account, verified email; signing for {record.organization}"
    if role == "eor":
        return f"Mind-Links administrator, signing for {record.organization}"
    return "Platform account, verified email"


def completion_data(
    inputs: SealInputs,
    issued: Sequence[IssuedSignerCertificate],
    authority: SigningAuthority,
    *,
    ledger_origin: str | None = None,
    generated_at: datetime | None = None,
) -> CompletionData:
    contract = inputs.contract
    signers = []
    for record, certificate in zip(inputs.signers, issued, strict=True):
        signature, kyc = record.signature, record.kyc
        signers.append(
            CompletionSigner(
                role=signature.role,
                name=signature.signer_name,
                email=signature.signer_email,
                organization=record.organization,
                identity=_identity(record),
                signature_id=signature.id,
                signature_type=signature.signature_type,
                typed_name=signature.typed_name,
                drawn_png=signature.drawn_png,
                signed_at=signature.signed_at,
                disclosure_version=record.disclosure.version,
                disclosure_sha256=record.consent.disclosure_sha256,
                consent_accepted_at=record.consent.accepted_at,
                certificate_serial=certificate.serial_hex,
                certificate_sha256=certificate.sha256_fingerprint,
                kyc_session_id=signature.kyc_session_id,
                kyc_provider=kyc.provider if kyc else None,
                kyc_decided_at=kyc.decided_at if kyc else None,
                kyc_ledger_seq=record.kyc_ledger_seq,
                ip=signature.ip,
                user_agent=signature.user_agent,
                ledger_seq=record.ledger_seq,
                document_sha256=signature.document_sha256,
            )
        )
    assert contract.document_sha256 is not None
    return CompletionData(
        contract_id=contract.id,
        title=contract.title,
        document_name=f"contract-{contract.id}.pdf",
        document_sha256=contract.document_sha256,
        page_count=page_count(inputs.sent_pdf),
        status=f"Completed: signed by all {len(signers)} parties; contract {contract.status}",
        signers=signers,
        generated_at=generated_at or now(),
        template_name=inputs.template.name,
        template_version=inputs.template.version,
        company_name=inputs.company_name,
        signing_order=inputs.template.signing_order,
        created_at=contract.created_at,
        sent_at=contract.sent_at,
        fully_signed_at=contract.fully_signed_at,
        activated_at=contract.activated_at,
        activated_ledger_seq=inputs.activated_ledger_seq,
        platform_ca_sha256=certificate_sha256(authority.ca_cert),
        platform_seal_sha256=certificate_sha256(authority.seal_cert),
        ledger_origin=ledger_origin,
    )


def produce_sealed(
    inputs: SealInputs, authority: SigningAuthority, settings: Settings
) -> SealOutputs:
    """The certificate of completion and the sealed PDF (no database, no blobs)."""
    contract = inputs.contract
    seals = [signer_seal(contract, record) for record in inputs.signers]
    issued = issue_signer_certificates(authority, seals)
    completion = render_completion_pdf(
        completion_data(inputs, issued, authority, ledger_origin=settings.ledger_origin)
    )
    sealed = seal_document(
        inputs.sent_pdf,
        seals,
        authority,
        completion_pdf=completion,
        tsa_url=settings.tsa_url,
        issued=issued,
        tsa_timeout=settings.tsa_timeout_seconds,
    )
    assert contract.document_sha256 is not None
    certificates = [one.certificate for one in issued]
    return SealOutputs(contract.id, contract.document_sha256, sealed, completion, certificates)


# --- 3. storing ---------------------------------------------------------------------------


def store_sealed(session: Session, ctx: AppContext, outputs: SealOutputs) -> str:
    """Store both documents, mark the contract sealed and append `contract.sealed`."""
    sealed = store_document(session, ctx, outputs.contract_id, "sealed", outputs.sealed_pdf)
    completion = store_document(
        session, ctx, outputs.contract_id, "completion", outputs.completion_pdf
    )
    sealed_at = now()
    moved = session.execute(
        update(Contract)
        .where(Contract.id == outputs.contract_id, Contract.sealed_sha256.is_(None))
        .values(sealed_sha256=sealed.sha256, sealed_at=sealed_at, updated_at=sealed_at)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise ContractNotSealable(f"contract {outputs.contract_id} was sealed meanwhile")
    append_entry(
        session,
        SEALED_KIND,
        f"contract:{outputs.contract_id}",
        "system",
        {
            "contract_id": outputs.contract_id,
            "document_sha256": outputs.document_sha256,
            "sealed_sha256": sealed.sha256,
            "completion_sha256": completion.sha256,
        },
    )
    session.flush()
    return sealed.sha256


def seal_contract(session: Session, ctx: AppContext, contract_id: str) -> str:
    """Seal the contract (see the module) and answer the sealed PDF's SHA-256."""
    contract = repository.lock_contract(session, contract_id)
    if contract.sealed_sha256 is not None:
        return contract.sealed_sha256
    if repository.document_of(session, contract_id, "sealed") is not None:
        raise ContractNotSealable(
            f"contract {contract_id} has a sealed document but does not record its hash"
        )
    inputs = gather_seal_inputs(session, ctx, contract)
    outputs = produce_sealed(inputs, load_signing_authority(ctx.settings), ctx.settings)
    sha256 = store_sealed(session, ctx, outputs)
    session.refresh(contract)
    return sha256


# --- the admin view ------------------------------------------------------------------------


def unsealed_contracts(
    session: Session, older_than_seconds: int, *, limit: int = 200
) -> list[UnsealedContract]:
    """Contracts signed by every party (fully signed, active, or already ended)
    whose sealed PDF is still missing `older_than_seconds` after activation (or
    the last signature), oldest first."""
    current = now()
    since = func.coalesce(Contract.activated_at, Contract.fully_signed_at, type_=UTCDateTime())
    rows = session.execute(
        select(
            Contract.id,
            Contract.company_id,
            Contract.title,
            Contract.status,
            since,
            Contract.seal_attempts,
            Contract.seal_error,
        )
        .where(
            Contract.status.in_(SIGNED_STATUSES),
            Contract.sealed_sha256.is_(None),
            since.is_not(None),
            since <= current - timedelta(seconds=older_than_seconds),
        )
        .order_by(since, Contract.id)
        .limit(limit)
    ).all()
    found = []
    for contract_id, company_id, title, status, signed, attempts, error in rows:
        found.append(
            UnsealedContract(
                contract_id=contract_id,
                company_id=company_id,
                title=title,
                status=status,
                signed_at=signed,
                waiting_seconds=int((current - signed).total_seconds()),
                seal_attempts=attempts,
                seal_error=error,
            )
        )
    return found
