"""Evidence test data: a test CA, a sealed PDF made with pyHanko, and a sealed
contract with its documents, consents, signatures and ledger entries.

`sealed_contract` writes the rows the signing ceremony and the seal job write
(same ledger kinds and payload shapes), so the evidence bundle can be built and
verified without depending on how those steps are driven.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy.orm import Session

from mindlinks.contracts.documents import store_document
from mindlinks.contracts.models import Contract
from mindlinks.contracts.repository import parties_of
from mindlinks.esign.disclosure import current_disclosure
from mindlinks.esign.models import ContractSignature, EsignConsent
from mindlinks.esign.pki import load_signing_authority, platform_ca_pem
from mindlinks.esign.sealing import SignerSeal, seal_document
from mindlinks.identity.models import User
from mindlinks.ledger.checkpoints import issue_checkpoint, keyring_for
from mindlinks.ledger.service import append_entry
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext
from mindlinks.platform.ids import new_id
from tests.contracts.factories import client_company, linked_contractor, make_contract


def _name(common_name: str, email: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if email:
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attributes)


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class TestCa:
    """A CA like the platform's: it issues each signer a certificate for one signature."""

    name: str = "Mind-Links Test CA"
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        start = datetime.now(UTC) - timedelta(days=1)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(self.name))
            .issuer_name(_name(self.name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(ca=True), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def signer(self, common_name: str, email: str) -> signers.SimpleSigner:
        key = ec.generate_private_key(ec.SECP256R1())
        start = datetime.now(UTC) - timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, email))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
            .add_extension(_usage(ca=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        der = serialization.Encoding.DER
        return signers.SimpleSigner(
            signing_cert=asn1_x509.Certificate.load(cert.public_bytes(der)),
            signing_key=asn1_keys.PrivateKeyInfo.load(
                key.private_bytes(
                    der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            ),
            cert_registry=SimpleCertificateStore.from_certs(
                [asn1_x509.Certificate.load(self.cert.public_bytes(der))]
            ),
        )


@lru_cache(maxsize=8)
def render_pdf(html: str) -> bytes:
    import weasyprint

    return bytes(weasyprint.HTML(string=html).write_pdf())


def sent_pdf(title: str = "Backend development") -> bytes:
    return render_pdf(
        f"<h1>{title}</h1><p>Zoë Łukasiewicz engages 张伟 for backend development.</p>"
    )


def completion_pdf(contract_id: str) -> bytes:
    return render_pdf(f"<h1>Certificate of completion</h1><p>Contract {contract_id}</p>")


PLATFORM_SEAL = ("Mind-Links Platform Seal", "seal@mindlinks.local")


def sign_pdf(data: bytes, signer: signers.SimpleSigner, field_name: str) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
    )
    return bytes(signers.sign_pdf(writer, meta, signer=signer).getvalue())


def seal_pdf(
    sent: bytes,
    signatures: list[tuple[str, str, str]],
    ca: TestCa,
    *,
    seal_by: TestCa | None = None,
) -> bytes:
    """The sent PDF, one signature per (role, name, email), then the platform seal."""
    data = sent
    for role, name, email in signatures:
        data = sign_pdf(data, ca.signer(name, email), f"Signature-{role}")
    return sign_pdf(data, (seal_by or ca).signer(*PLATFORM_SEAL), "Platform-Seal")


@dataclass
class SealedContract:
    contract: Contract
    client: User
    contractor: User
    ca_pem: bytes
    sealed_pdf: bytes
    sent_pdf: bytes
    completion_pdf: bytes
    signatures: list[ContractSignature]


def sign_as(
    session: Session, contract: Contract, user: User, role: str, at: datetime
) -> ContractSignature:
    """The rows and ledger entry `esign.signing` writes for one signature."""
    disclosure = current_disclosure(session)
    consent = EsignConsent(
        id=new_id(),
        user_id=user.id,
        contract_id=contract.id,
        disclosure_version=disclosure.version,
        disclosure_sha256=disclosure.sha256,
        accepted_at=at,
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 (evidence test)",
    )
    session.add(consent)
    session.flush()
    signature_id = new_id()
    payload: dict[str, Any] = {
        "contract_id": contract.id,
        "role": role,
        "signature_id": signature_id,
        "signature_type": "typed",
        "document_sha256": contract.document_sha256,
        "consent_id": consent.id,
        "disclosure_version": disclosure.version,
        "disclosure_sha256": disclosure.sha256,
    }
    kyc_session_id = None
    if role == "contractor":
        kyc_session_id = new_id()
        payload["kyc_session_id"] = kyc_session_id
    appended = append_entry(
        session, "contract.signed", f"contract:{contract.id}", f"user:{user.id}", payload
    )
    signature = ContractSignature(
        id=signature_id,
        contract_id=contract.id,
        party_id=next(p.id for p in parties_of(session, contract.id) if p.role == role),
        role=role,
        user_id=user.id,
        signer_name=user.full_name,
        signer_email=user.email,
        kyc_session_id=kyc_session_id,
        consent_id=consent.id,
        document_sha256=contract.document_sha256,
        signature_type="typed",
        typed_name=user.full_name,
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 (evidence test)",
        signed_at=at,
        ledger_pending_id=appended.pending_id,
        ledger_seq=appended.seq,
    )
    session.add(signature)
    for party in parties_of(session, contract.id):
        if party.role == role:
            party.signed_at = at
    session.flush()
    return signature


def sealed_contract(
    session: Session,
    app_context: AppContext,
    *,
    ca: TestCa | None = None,
    checkpoint: bool = True,
    seal: bool = True,
) -> SealedContract:
    """A direct contract signed by both parties, activated, sealed and checkpointed:
    by the platform's own sealing (its CA) unless a test CA is given."""
    t0 = now() - timedelta(hours=1)
    company, client = client_company(session, full_name="Zoë Łukasiewicz")
    contractor = linked_contractor(session, company, full_name="张伟")
    contract = make_contract(session, company=company, client=client, contractor=contractor)
    pdf = sent_pdf(contract.title)
    store_document(session, app_context, contract.id, "sent", pdf)
    contract.created_at = t0 - timedelta(minutes=30)
    contract.status = "sent"
    contract.document_sha256 = hashlib.sha256(pdf).hexdigest()
    contract.sent_at = t0
    session.flush()
    append_entry(
        session,
        "contract.sent",
        f"contract:{contract.id}",
        f"user:{client.id}",
        {"contract_id": contract.id, "document_sha256": contract.document_sha256},
    )
    signatures = [
        sign_as(session, contract, client, "client", t0 + timedelta(minutes=5)),
        sign_as(session, contract, contractor, "contractor", t0 + timedelta(minutes=9)),
    ]
    contract.status = "active"
    contract.fully_signed_at = contract.activated_at = signatures[-1].signed_at
    append_entry(
        session,
        "contract.activated",
        f"contract:{contract.id}",
        f"user:{contractor.id}",
        {
            "contract_id": contract.id,
            "document_sha256": contract.document_sha256,
            "signature_ids": [s.id for s in signatures],
        },
    )
    completion = completion_pdf(contract.id)
    if ca is None:
        sealed = platform_seal(app_context, contract, signatures, pdf, completion)
        ca_pem = platform_ca_pem(app_context.settings)
    else:
        people = [(s.role, s.signer_name, s.signer_email) for s in signatures]
        sealed, ca_pem = seal_pdf(pdf, people, ca), ca.pem
    if seal:
        store_document(session, app_context, contract.id, "sealed", sealed)
        store_document(session, app_context, contract.id, "completion", completion)
        contract.sealed_sha256 = hashlib.sha256(sealed).hexdigest()
        contract.sealed_at = t0 + timedelta(minutes=10)
        append_entry(
            session,
            "contract.sealed",
            f"contract:{contract.id}",
            "system",
            {
                "contract_id": contract.id,
                "document_sha256": contract.document_sha256,
                "sealed_sha256": contract.sealed_sha256,
                "completion_sha256": hashlib.sha256(completion).hexdigest(),
            },
        )
    session.flush()
    if checkpoint:
        issue_checkpoint(session, app_context.settings, keyring_for(app_context))
    session.flush()
    return SealedContract(contract, client, contractor, ca_pem, sealed, pdf, completion, signatures)


def platform_seal(
    app_context: AppContext,
    contract: Contract,
    signatures: list[ContractSignature],
    sent: bytes,
    completion: bytes,
) -> bytes:
    """Sealed as the seal job does: the platform CA, its seal, the completion attached."""
    signers_ = [
        SignerSeal(
            role=s.role,
            name=s.signer_name,
            email=s.signer_email,
            signed_at=s.signed_at,
            reason=f"Signed as {s.role}",
            contract_id=contract.id,
            signature_id=s.id,
            kyc_session_id=s.kyc_session_id,
            typed_name=s.typed_name,
        )
        for s in signatures
    ]
    authority = load_signing_authority(app_context.settings)
    return seal_document(sent, signers_, authority, completion)


def trusted_vkeys(app_context: AppContext) -> list[str]:
    return keyring_for(app_context).vkeys


# --- editing bundles, as someone tampering with one would ------------------------------


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rezip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def update_manifest(files: dict[str, bytes]) -> None:
    """Recompute the manifest's hashes, as a careful forger would."""
    import json

    manifest = json.loads(files["manifest.json"])
    manifest["files"] = {
        name: hashlib.sha256(data).hexdigest()
        for name, data in files.items()
        if name != "manifest.json"
    }
    files["manifest.json"] = json.dumps(manifest).encode()


def flip_byte(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)
