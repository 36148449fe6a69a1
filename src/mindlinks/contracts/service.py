"""Contracts: the rules of a contract's life before and around its signatures.

What other modules use:

- `create_draft`, `edit_draft` (module `drafts`): drafting;
- `send_contract(session, ctx, actor, contract)`: renders the draft, freezes its
  PDF (one empty signature field per role) in the encrypted blob store, fixes
  `document_sha256`, moves it to `sent`, starts the first signers' turn, appends
  `contract.sent` to the ledger and queues the notices;
- `void_contract`: before it is fully signed, the client can void it (409 after,
  naming the state); `contract.voided` on the ledger, the other parties told;
- `list_contracts`, `contract_document`, `contract_preview_html`.

Every status change goes through `lifecycle.transition` (a conditional UPDATE).
Functions flush and never commit: the request or the job owns the transaction.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import structlog
from sqlalchemy.orm import Session

from mindlinks.contracts import repository
from mindlinks.contracts.documents import (
    ContractDocumentCorrupt,
    read_document,
    store_document,
)
from mindlinks.contracts.drafts import EDITABLE_FIELDS, create_draft, edit_draft
from mindlinks.contracts.errors import (
    ContractDocumentUnavailable,
    ContractNotFound,
    ContractNotSent,
    ContractTransitionNotAllowed,
)
from mindlinks.contracts.lifecycle import transition
from mindlinks.contracts.models import Contract, ContractDocument
from mindlinks.contracts.notices import NOTIFY_SENT_JOB, NOTIFY_VOIDED_JOB
from mindlinks.contracts.rendering import render_contract_html, render_contract_pdf
from mindlinks.contracts.states import STATUSES, can_move
from mindlinks.contracts.templates import signing_roles
from mindlinks.identity.auth import require_role, require_verified
from mindlinks.jobs.service import enqueue
from mindlinks.ledger.access import register_subject_type
from mindlinks.ledger.service import append_entry
from mindlinks.platform.blobs import BlobIntegrityError, BlobNotFound
from mindlinks.platform.clock import now
from mindlinks.platform.errors import InvalidInput
from mindlinks.platform.pagination import PageParams, paginate

if TYPE_CHECKING:
    from mindlinks.identity.auth import Actor
    from mindlinks.platform.context import AppContext

__all__ = [
    "EDITABLE_FIELDS",
    "NOTIFY_SENT_JOB",
    "NOTIFY_VOIDED_JOB",
    "SENT_KIND",
    "VOIDED_KIND",
    "ContractFile",
    "contract_document",
    "contract_preview_html",
    "create_draft",
    "edit_draft",
    "list_contracts",
    "send_contract",
    "subject_of",
    "void_contract",
]

log = structlog.get_logger(__name__)

SENT_KIND: Final = "contract.sent"
VOIDED_KIND: Final = "contract.voided"


def subject_of(contract_id: str) -> str:
    return f"contract:{contract_id}"


def _require_staff(session: Session, actor: Actor, contract: Contract) -> None:
    """The client company's staff act on a contract; anyone else is refused as if
    it did not exist (direct callers may pass any contract)."""
    require_role(actor, "client")
    if not repository.is_party(session, contract, actor):
        raise ContractNotFound(f"No contract {contract.id} is visible to you.")


# --- send --------------------------------------------------------------------------


def send_contract(session: Session, ctx: AppContext, actor: Actor, contract: Contract) -> Contract:
    """Freeze the draft's PDF and send it for signature (see the module).

    The PDF is rendered before any write, so on SQLite the write lock is held
    only for the short tail; the draft's revision is then claimed with a
    conditional UPDATE, so an edit (or another send) that committed in between
    makes this send fail with 409 rather than freeze a PDF of stale content.
    """
    _require_staff(session, actor, contract)
    require_verified(actor)
    if not can_move(contract.status, "sent"):
        raise ContractTransitionNotAllowed(contract.status, "sent")
    revision = contract.revision
    template = repository.template_of(session, contract)
    roles = signing_roles(template.kind)
    started = time.perf_counter()
    html = render_contract_html(session, contract)
    pdf = render_contract_pdf(html, roles)
    render_ms = round((time.perf_counter() - started) * 1000)
    if not repository.bump_draft(session, contract.id, revision):
        session.refresh(contract)
        if contract.status != "draft":
            raise ContractTransitionNotAllowed(contract.status, "sent")
        raise ContractTransitionNotAllowed(
            "draft",
            "sent",
            detail="The draft changed while it was being sent; review it and send again.",
        )
    document = store_document(session, ctx, contract.id, "sent", pdf)
    moment = now()
    transition(
        session,
        contract,
        "sent",
        sent_at=moment,
        document_sha256=document.sha256,
        updated_at=moment,
    )
    parties = repository.parties_of(session, contract.id)
    first = min(p.position for p in parties)
    first_roles = []
    for party in parties:
        if party.position == first:
            party.awaiting_since = moment
            first_roles.append(party.role)
    session.flush()
    append_entry(
        session,
        SENT_KIND,
        subject_of(contract.id),
        f"user:{actor.id}",
        {
            "contract_id": contract.id,
            "template_id": template.id,
            "template_version": template.version,
            "document_sha256": document.sha256,
        },
    )
    enqueue(
        session,
        NOTIFY_SENT_JOB,
        {"contract_id": contract.id, "sent_by": actor.id, "first_roles": first_roles},
        key=f"{NOTIFY_SENT_JOB}:{contract.id}",
    )
    log.info(
        "contract_sent",
        contract_id=contract.id,
        document_sha256=document.sha256,
        pdf_bytes=document.size_bytes,
        render_ms=render_ms,
    )
    return contract


# --- void --------------------------------------------------------------------------


def void_contract(session: Session, actor: Actor, contract: Contract, *, reason: str) -> Contract:
    """Void a contract that is not yet fully signed; 409 naming its state after."""
    _require_staff(session, actor, contract)
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise InvalidInput("reason", "must be 1 to 1000 characters")
    previous = contract.status
    moment = now()
    transition(
        session,
        contract,
        "void",
        voided_at=moment,
        void_reason=reason,
        updated_at=moment,
    )
    append_entry(
        session,
        VOIDED_KIND,
        subject_of(contract.id),
        f"user:{actor.id}",
        {
            "contract_id": contract.id,
            "previous_status": previous,
            "document_sha256": contract.document_sha256,
            # The reason is free text that may name people: only its hash is kept.
            "reason_sha256": hashlib.sha256(reason.encode("utf-8")).hexdigest(),
        },
    )
    if previous != "draft":
        # A draft was never shown to the other parties: nothing to tell them.
        enqueue(
            session,
            NOTIFY_VOIDED_JOB,
            {"contract_id": contract.id, "voided_by": actor.id},
            key=f"{NOTIFY_VOIDED_JOB}:{contract.id}",
        )
    log.info("contract_voided", contract_id=contract.id, previous=previous)
    return contract


# --- reading -----------------------------------------------------------------------


def list_contracts(
    session: Session, actor: Actor, params: PageParams, *, status: str | None = None
) -> tuple[list[Contract], str | None]:
    """One page (newest first) of the contracts the actor may read."""
    stmt = repository.readable_by(actor)
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput("status", f"must be one of: {', '.join(STATUSES)}")
        stmt = stmt.where(Contract.status == status)
    rows, cursor = paginate(session, stmt, Contract.id, params)
    return list(rows), cursor


@dataclass(frozen=True)
class ContractFile:
    document: ContractDocument
    data: bytes

    @property
    def filename(self) -> str:
        suffix = "" if self.document.kind == "sent" else f"-{self.document.kind}"
        return f"contract-{self.document.contract_id}{suffix}.pdf"


def contract_document(session: Session, ctx: AppContext, contract: Contract) -> ContractFile:
    """The sealed PDF once sealing is done, else the sent one; 409 for a draft."""
    document = repository.document_of(session, contract.id, "sealed") or repository.document_of(
        session, contract.id, "sent"
    )
    if document is None:
        raise ContractNotSent(contract.status)
    try:
        data = read_document(ctx, document)
    except (BlobNotFound, BlobIntegrityError, ContractDocumentCorrupt) as exc:
        log.error(
            "contract_document_unreadable",
            contract_id=contract.id,
            kind=document.kind,
            error=type(exc).__name__,
        )
        raise ContractDocumentUnavailable(
            "The stored document failed its integrity check; this has been logged."
        ) from exc
    return ContractFile(document, data)


def contract_preview_html(session: Session, contract: Contract) -> str:
    """The HTML the PDF is made from: live for a draft; for a sent contract the
    same template version re-rendered (the frozen PDF stays the authority)."""
    return render_contract_html(session, contract)


def open_ended_active_contracts(session: Session) -> Sequence[tuple[str, date, dict[str, Any]]]:
    """(id, start date, payment terms) of every active contract without an end date:
    the schedules the payments module rolls forward."""
    return repository.open_ended_active(session)


def status_counts(session: Session) -> dict[str, int]:
    """Contracts per status over the whole platform (the admin dashboard's chart)."""
    return repository.status_counts(session)


# `contract:<id>` ledger subjects: whoever can load the contract reads its entries.
def _contract_readable(session: Session, actor: Actor, contract_id: str) -> bool:
    return (
        session.scalar(
            repository.readable_by(actor)
            .where(Contract.id == contract_id)
            .with_only_columns(Contract.id)
        )
        is not None
    )


register_subject_type("contract", _contract_readable)
