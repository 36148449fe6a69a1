"""Frozen PDFs of a contract: stored encrypted, read back only if they are intact.

A `ContractDocument` row keeps the SHA-256 and size of the plaintext; the bytes
live in the blob store, sealed with AES-GCM under the blob key ring. The
associated data binds a blob to its contract and kind
(`contract-document:<contract id>:<kind>`), so a sent PDF copied over another
contract's, or a sealed PDF swapped for a sent one, fails to open. Reading checks
the plaintext hash against the row too: a blob that opens but is not what was
frozen (restored from the wrong backup, say) is refused loudly rather than served.
"""

from __future__ import annotations

import hashlib
from typing import Final

from sqlalchemy.orm import Session

from mindlinks.contracts import repository
from mindlinks.contracts.models import ContractDocument
from mindlinks.platform.blobs import blob_store_for
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext
from mindlinks.platform.ids import new_id

DOCUMENT_KINDS: Final = frozenset({"sent", "sealed", "completion"})
PDF_CONTENT_TYPE: Final = "application/pdf"


class ContractDocumentExists(RuntimeError):
    """A document of this kind is already frozen for the contract (callers check first)."""


class ContractDocumentCorrupt(RuntimeError):
    """The stored bytes are not the ones whose hash was recorded."""


def document_binding(contract_id: str, kind: str) -> bytes:
    return f"contract-document:{contract_id}:{kind}".encode()


def document_blob_key(contract_id: str, kind: str, document_id: str) -> str:
    # A fresh id per document: blob keys are never reused.
    return f"contracts/{contract_id}/{kind}-{document_id}.pdf.enc"


def store_document(
    session: Session, ctx: AppContext, contract_id: str, kind: str, data: bytes
) -> ContractDocument:
    """Seal `data` into the blob store and add its row (flushed, not committed).

    Raises `ContractDocumentExists` if the contract already has a document of
    this kind; the unique (contract_id, kind) constraint backs that check up when
    two transactions race, and the loser's blob is simply never referenced.
    """
    if kind not in DOCUMENT_KINDS:
        raise ValueError(f"unknown contract document kind {kind!r}")
    if repository.document_of(session, contract_id, kind) is not None:
        raise ContractDocumentExists(f"contract {contract_id} already has a {kind} document")
    document_id = new_id()
    key = document_blob_key(contract_id, kind, document_id)
    blob_store_for(ctx).put(
        key,
        data,
        associated_data=document_binding(contract_id, kind),
        content_type=PDF_CONTENT_TYPE,
    )
    document = ContractDocument(
        id=document_id,
        contract_id=contract_id,
        kind=kind,
        blob_key=key,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        created_at=now(),
    )
    session.add(document)
    session.flush()
    return document


def read_document(ctx: AppContext, document: ContractDocument) -> bytes:
    """The document's plaintext bytes, checked against its recorded SHA-256.

    BlobNotFound / BlobIntegrityError come from the store (missing, tampered or
    bound to another record); `ContractDocumentCorrupt` when it opens but its hash
    differs from the row's.
    """
    data = blob_store_for(ctx).get(
        document.blob_key,
        associated_data=document_binding(document.contract_id, document.kind),
    )
    digest = hashlib.sha256(data).hexdigest()
    if digest != document.sha256 or len(data) != document.size_bytes:
        raise ContractDocumentCorrupt(
            f"the {document.kind} document of contract {document.contract_id} has SHA-256 "
            f"{digest} ({len(data)} bytes); {document.sha256} ({document.size_bytes} bytes) "
            "was recorded"
        )
    return data
