"""Evidence bundles: everything needed to prove a sealed contract, in one zip.

`build_evidence_bundle` gathers, for a sealed contract whose ledger entries a
signed checkpoint covers (else `EvidenceNotReady`, 409):

- `contract.pdf` (the sealed PDF) and `certificate-of-completion.pdf`;
- `audit-trail.json`: every event in order (created, sent, each consent and
  signature, declined/voided, activated, sealed) with who, when, from where and
  under which disclosure (whose texts are included by version), each event that
  the ledger recorded with its seq;
- `ledger-proofs.json`: one `mindlinks-ledger-proof/1` bundle per ledger entry of
  the contract, all against the latest checkpoint, which is `checkpoint.txt`;
- `keys/ledger-public-key.json` (the GET /api/ledger/public-keys document, retired
  keys included) and `keys/platform-ca.pem`;
- `manifest.json` (SHA-256 of every other file) and `README.txt`.

The zip is deterministic: fixed file order, timestamps and permissions, and
`generated_at` is the time of the newest state it holds (the later of the seal and
the checkpoint), not of the download, so the same state always gives the same
bytes. `evidence_verify` checks it offline.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from mindlinks.companies.repository import get_company
from mindlinks.contracts import repository as contracts
from mindlinks.contracts.documents import read_document
from mindlinks.contracts.errors import EvidenceNotReady
from mindlinks.contracts.models import Contract, ContractDocument
from mindlinks.esign.evidence_verify import (
    AUDIT_FORMAT,
    AUDIT_TRAIL,
    CHECKPOINT,
    COMPLETION_PDF,
    CONTRACT_PDF,
    EVENT_KINDS,
    LEDGER_KEYS,
    LEDGER_PROOFS,
    MANIFEST,
    MANIFEST_FORMAT,
    PLATFORM_CA,
    README,
)
from mindlinks.esign.models import ContractSignature, EsignConsent, EsignDisclosure
from mindlinks.ledger import repository as ledger
from mindlinks.ledger.checkpoints import keyring_for, latest_checkpoint
from mindlinks.ledger.keys import public_key_document
from mindlinks.ledger.models import LedgerCheckpoint, LedgerEntry
from mindlinks.ledger.proofs import proof_bundle
from mindlinks.ledger.schemas import PublicKeyList, PublicKeyOut
from mindlinks.ledger.service import seq_of
from mindlinks.platform.context import AppContext

ZIP_TIMESTAMP: Final = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE: Final = 0o644 << 16
MAX_CONTRACT_ENTRIES: Final = 1000
# Ties in time (a consent and its signature share one) keep this order.
EVENT_ORDER: Final = {
    "created": 0,
    "sent": 1,
    "consent": 2,
    "signed": 3,
    "declined": 4,
    "voided": 4,
    "activated": 5,
    "sealed": 6,
}
KIND_EVENTS: Final = {kind: event for event, kind in EVENT_KINDS.items()}


@dataclass(frozen=True)
class EvidenceBundle:
    contract_id: str
    data: bytes
    checkpoint_size: int

    @property
    def filename(self) -> str:
        return f"evidence-{self.contract_id}.zip"


def rfc3339(moment: datetime | None) -> str | None:
    """UTC with microseconds and `Z` (SQLite hands back naive UTC datetimes)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- what must exist first -------------------------------------------------------------


@dataclass(frozen=True)
class _Sources:
    sent: ContractDocument
    sealed: ContractDocument
    completion: ContractDocument
    signatures: Sequence[ContractSignature]
    signature_seqs: dict[str, int]
    entries: list[LedgerEntry]
    checkpoint: LedgerCheckpoint


def _not_ready(contract: Contract, why: str) -> EvidenceNotReady:
    return EvidenceNotReady(
        f"The evidence bundle of contract {contract.id} is not ready: {why}.",
        extra={"current_status": contract.status},
    )


def _gather(session: Session, contract: Contract) -> _Sources:
    if contract.sealed_sha256 is None or contract.sealed_at is None:
        raise _not_ready(contract, "it is not sealed yet")
    documents = {
        kind: contracts.document_of(session, contract.id, kind)
        for kind in ("sent", "sealed", "completion")
    }
    sent, sealed, completion = documents["sent"], documents["sealed"], documents["completion"]
    if sent is None or sealed is None or completion is None:
        raise _not_ready(contract, "its sealed PDF or certificate of completion is not stored yet")
    signatures = session.scalars(
        select(ContractSignature)
        .where(ContractSignature.contract_id == contract.id)
        .order_by(ContractSignature.signed_at, ContractSignature.role)
    ).all()
    signature_seqs: dict[str, int] = {}
    for signature in signatures:
        seq = signature.ledger_seq
        if seq is None:
            seq = seq_of(session, signature.ledger_pending_id)
        if seq is None:
            raise _not_ready(contract, f"the {signature.role} signature is not in the ledger yet")
        signature_seqs[signature.id] = seq
    by_seq = {
        entry.seq: entry
        for entry in ledger.entries(
            session, subject=f"contract:{contract.id}", limit=MAX_CONTRACT_ENTRIES
        )
    }
    for seq in signature_seqs.values():
        if seq not in by_seq:
            by_seq[seq] = ledger.get_entry(session, seq)
    entries = [by_seq[seq] for seq in sorted(by_seq)]
    # Each step records its entry in the step's own transaction; one still missing
    # here is queued and not yet numbered (PostgreSQL), so wait rather than leave
    # it out of the bundle.
    recorded = {entry.kind for entry in entries}
    for step, moment, kind in (
        ("sending", contract.sent_at, "contract.sent"),
        ("activation", contract.activated_at, "contract.activated"),
        ("seal", contract.sealed_at, "contract.sealed"),
    ):
        if moment is not None and kind not in recorded:
            raise _not_ready(contract, f"its {step} is not in the ledger yet")
    checkpoint = latest_checkpoint(session)
    last = entries[-1].seq if entries else -1
    if checkpoint is None or checkpoint.tree_size <= last:
        covered = "none" if checkpoint is None else f"tree size {checkpoint.tree_size}"
        raise _not_ready(
            contract,
            f"no signed ledger checkpoint covers its entries yet (its last is seq {last}; "
            f"the latest checkpoint: {covered}); one follows within seconds",
        )
    return _Sources(sent, sealed, completion, signatures, signature_seqs, entries, checkpoint)


# --- the audit trail -------------------------------------------------------------------


def _first_seq(entries: Sequence[LedgerEntry], kind: str) -> int | None:
    return next((entry.seq for entry in entries if entry.kind == kind), None)


def _contract_events(contract: Contract, src: _Sources) -> list[dict[str, Any]]:
    entries = src.entries
    events: list[dict[str, Any]] = [
        {"type": "created", "at": rfc3339(contract.created_at), "user_id": contract.created_by},
        {
            "type": "sent",
            "at": rfc3339(contract.sent_at),
            "document_sha256": contract.document_sha256,
            "sent_pdf_size": src.sent.size_bytes,
            "ledger_seq": _first_seq(entries, "contract.sent"),
        },
    ]
    if contract.declined_at is not None:
        events.append(
            {
                "type": "declined",
                "at": rfc3339(contract.declined_at),
                "user_id": contract.declined_by,
                "reason": contract.decline_reason,
                "ledger_seq": _first_seq(entries, "contract.declined"),
            }
        )
    if contract.voided_at is not None:
        events.append(
            {
                "type": "voided",
                "at": rfc3339(contract.voided_at),
                "reason": contract.void_reason,
                "ledger_seq": _first_seq(entries, "contract.voided"),
            }
        )
    if contract.activated_at is not None:
        events.append(
            {
                "type": "activated",
                "at": rfc3339(contract.activated_at),
                "fully_signed_at": rfc3339(contract.fully_signed_at),
                "ledger_seq": _first_seq(entries, "contract.activated"),
            }
        )
    events.append(
        {
            "type": "sealed",
            "at": rfc3339(contract.sealed_at),
            "sealed_sha256": contract.sealed_sha256,
            "completion_sha256": src.completion.sha256,
            "ledger_seq": _first_seq(entries, "contract.sealed"),
        }
    )
    return events


def _signing_events(
    session: Session, contract: Contract, src: _Sources
) -> tuple[list[dict[str, Any]], set[int]]:
    """Consent and signature events, and the disclosure versions they name."""
    consents = session.scalars(
        select(EsignConsent)
        .where(EsignConsent.contract_id == contract.id)
        .order_by(EsignConsent.accepted_at, EsignConsent.id)
    ).all()
    role_of_consent = {s.consent_id: s.role for s in src.signatures}
    events: list[dict[str, Any]] = [
        {
            "type": "consent",
            "at": rfc3339(consent.accepted_at),
            "consent_id": consent.id,
            "user_id": consent.user_id,
            "role": role_of_consent.get(consent.id),
            "disclosure_version": consent.disclosure_version,
            "disclosure_sha256": consent.disclosure_sha256,
            "ip": consent.ip,
            "user_agent": consent.user_agent,
        }
        for consent in consents
    ]
    events += [
        {
            "type": "signed",
            "at": rfc3339(signature.signed_at),
            "signature_id": signature.id,
            "role": signature.role,
            "user_id": signature.user_id,
            "name": signature.signer_name,
            "email": signature.signer_email,
            "ip": signature.ip,
            "user_agent": signature.user_agent,
            "signature_type": signature.signature_type,
            "typed_name": signature.typed_name,
            "drawn_png_sha256": signature.drawn_png_sha256,
            "kyc_session_id": signature.kyc_session_id,
            "consent_id": signature.consent_id,
            "document_sha256": signature.document_sha256,
            "ledger_seq": src.signature_seqs[signature.id],
        }
        for signature in src.signatures
    ]
    return events, {consent.disclosure_version for consent in consents}


def audit_trail(session: Session, contract: Contract, src: _Sources) -> dict[str, Any]:
    template = contracts.template_of(session, contract)
    company = get_company(session, contract.company_id)
    signing, versions = _signing_events(session, contract, src)
    events = _contract_events(contract, src) + signing
    events.sort(key=lambda event: (event["at"] or "", EVENT_ORDER[event["type"]]))
    disclosures = session.scalars(
        select(EsignDisclosure)
        .where(EsignDisclosure.version.in_(versions))
        .order_by(EsignDisclosure.version)
    ).all()
    return {
        "format": AUDIT_FORMAT,
        "contract": {
            "id": contract.id,
            "title": contract.title,
            "status": contract.status,
            "company": {"id": company.id, "legal_name": company.legal_name},
            "contractor_id": contract.contractor_id,
            "template": {
                "id": template.id,
                "key": template.key,
                "name": template.name,
                "kind": template.kind,
                "version": template.version,
                "signing_order": template.signing_order,
                "body_sha256": template.body_sha256,
            },
            "start_date": contract.start_date.isoformat(),
            "end_date": contract.end_date.isoformat() if contract.end_date else None,
            "payment_terms": contract.payment_terms,
        },
        "parties": [
            {
                "role": party.role,
                "user_id": party.user_id,
                "position": party.position,
                "signed_at": rfc3339(party.signed_at),
            }
            for party in contracts.parties_of(session, contract.id)
        ],
        "document_sha256": contract.document_sha256,
        "sent_pdf_size": src.sent.size_bytes,
        "sealed_sha256": contract.sealed_sha256,
        "completion_sha256": src.completion.sha256,
        "events": events,
        "ledger": [
            {
                "seq": entry.seq,
                "kind": entry.kind,
                "recorded_at": rfc3339(entry.recorded_at),
                "leaf_hash": entry.leaf_hash.hex(),
                "event": KIND_EVENTS.get(entry.kind),
            }
            for entry in src.entries
        ],
        "disclosures": [
            {
                "version": disclosure.version,
                "sha256": disclosure.sha256,
                "published_at": rfc3339(disclosure.published_at),
                "body": disclosure.body,
            }
            for disclosure in disclosures
        ],
    }


# --- the zip ---------------------------------------------------------------------------


def ledger_public_keys_document(ctx: AppContext) -> dict[str, Any]:
    """What GET /api/ledger/public-keys answers: the active key, then retired ones."""
    ring = keyring_for(ctx)
    items = [PublicKeyOut(**public_key_document(ring.active))]
    items += [
        PublicKeyOut(**public_key_document(key), retired_at=key.retired_at) for key in ring.retired
    ]
    return PublicKeyList(items=items).model_dump(mode="json")


README_FILES: Final = (
    (CONTRACT_PDF, "the sealed contract: the sent PDF, then a PAdES signature per signer"),
    ("", "and the platform seal, each added as an incremental update"),
    (COMPLETION_PDF, "parties, verified identities, consents, IPs, hashes"),
    (AUDIT_TRAIL, "every event of the contract, in order"),
    (LEDGER_PROOFS, "inclusion proofs of the contract's ledger entries"),
    (CHECKPOINT, "the signed ledger checkpoint the proofs verify against"),
    (LEDGER_KEYS, "copy of the platform's ledger public keys (convenience only)"),
    (PLATFORM_CA, "copy of the platform's signing CA (convenience only)"),
    (MANIFEST, "SHA-256 of every other file"),
)


def readme(contract: Contract, base_url: str) -> str:
    files = "\n".join(f"  {name:<31}{about}" for name, about in README_FILES)
    return f"""Mind-Links evidence bundle for contract {contract.id}

{files}

Verify offline (no account, no network):
  mindlinks evidence trust --url {base_url}     (once: pins the published keys)
  mindlinks evidence verify evidence-{contract.id}.zip
or with keys you obtained yourself:
  mindlinks evidence verify BUNDLE.zip --ledger-key VKEY_OR_FILE --ca platform-ca.pem
Without Mind-Links installed, the verifier is three files that run side by side
(Python 3.11+, cryptography, pyHanko): evidence_verify.py, evidence_verify_pdf.py
and verifier.py, with the same arguments.

It checks every PDF signature against the platform CA; that the last one, the
platform seal, covers the whole file; that the first sent_pdf_size bytes of
{CONTRACT_PDF} (see {MANIFEST}) are the sent document, whose SHA-256 every
signature and ledger entry names; the checkpoint's signature; every inclusion
proof; and that the ledger entries agree with the audit trail. It exits with 0
when everything holds, and with 1 and the first failing check otherwise.

Trust must come from outside this bundle. Checked only against the copies in
keys/, the result says "TRUST NOT ANCHORED" (the exit code is still 0 if every
check passed): that proves the bundle is consistent, not that the platform made it.
"""


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.create_system = 3
            info.external_attr = ZIP_FILE_MODE
            # PDFs are compressed inside already.
            pdf = name.endswith(".pdf")
            info.compress_type = zipfile.ZIP_STORED if pdf else zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=None if pdf else 9)
    return buffer.getvalue()


def build_evidence_bundle(
    session: Session, ctx: AppContext, contract: Contract, *, platform_ca_pem: bytes
) -> EvidenceBundle:
    """The contract's evidence zip; `EvidenceNotReady` until it is sealed and a
    checkpoint covers every ledger entry of it."""
    src = _gather(session, contract)
    checkpoint = src.checkpoint
    trail = audit_trail(session, contract, src)
    proofs = [proof_bundle(session, entry.seq, checkpoint) for entry in src.entries]
    files: list[tuple[str, bytes]] = [
        (CONTRACT_PDF, read_document(ctx, src.sealed)),
        (COMPLETION_PDF, read_document(ctx, src.completion)),
        (AUDIT_TRAIL, _json_bytes(trail)),
        (LEDGER_PROOFS, _json_bytes(proofs)),
        (CHECKPOINT, checkpoint.note.encode("utf-8")),
        (LEDGER_KEYS, _json_bytes(ledger_public_keys_document(ctx))),
        (PLATFORM_CA, platform_ca_pem),
        (README, readme(contract, ctx.settings.base_url).encode("utf-8")),
    ]
    generated = max(rfc3339(contract.sealed_at) or "", rfc3339(checkpoint.issued_at) or "")
    manifest = {
        "format": MANIFEST_FORMAT,
        "contract_id": contract.id,
        "document_sha256": contract.document_sha256,
        "sent_pdf_size": src.sent.size_bytes,
        "sealed_sha256": contract.sealed_sha256,
        "checkpoint": {"tree_size": checkpoint.tree_size, "root_hash": checkpoint.root_hash.hex()},
        "generated_at": generated,
        "files": {name: _sha256(data) for name, data in files},
    }
    files.insert(0, (MANIFEST, _json_bytes(manifest)))
    return EvidenceBundle(contract.id, _zip(files), checkpoint.tree_size)
