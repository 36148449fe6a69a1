"""The admin review: the queue, one session with its images, and the decision.

Images are never served by this module: the admin view carries signed URLs
(`platform.blobs.signed_blob_url`, one hour) that the blob route redeems. Every
opening of a session's documents is logged (ids only) for the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy.orm import Session

from mindlinks.identity.auth import require_role
from mindlinks.kyc import repository
from mindlinks.kyc.errors import KycSessionNotReviewable
from mindlinks.kyc.lifecycle import move
from mindlinks.kyc.models import KycDocument, KycSession
from mindlinks.kyc.sealing import document_number_binding, image_binding, open_text
from mindlinks.kyc.states import DECISIONS
from mindlinks.platform.blobs.base import BlobIntegrityError, BlobStore
from mindlinks.platform.blobs.keyring import KeyRing
from mindlinks.platform.blobs.urls import signed_blob_url
from mindlinks.platform.clock import now
from mindlinks.platform.errors import InvalidInput
from mindlinks.platform.pagination import PageParams, paginate

if TYPE_CHECKING:
    from mindlinks.config import Settings
    from mindlinks.identity.auth import Actor

log = structlog.get_logger(__name__)

DOCUMENT_URL_TTL_SECONDS: Final = 3600
MAX_REASON_LENGTH: Final = 1000


@dataclass(frozen=True)
class AdminDocumentView:
    side: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    sha256: str
    url: str | None  # None once retention deleted the image
    purged_at: datetime | None


@dataclass(frozen=True)
class AdminSessionView:
    session: KycSession
    documents: list[AdminDocumentView]
    document_number: str | None  # decrypted for the reviewer; never logged
    urls_expire_at: datetime


def review_queue(
    session: Session, actor: Actor, params: PageParams
) -> tuple[Sequence[KycSession], str | None]:
    """Sessions waiting in `review`, oldest first (admins)."""
    require_role(actor, "admin")
    return paginate(session, repository.in_review(), KycSession.id, params, newest_first=False)


def _document_view(
    settings: Settings, store: BlobStore, kyc: KycSession, document: KycDocument
) -> AdminDocumentView:
    url = None
    if document.purged_at is None:
        url = signed_blob_url(
            settings,
            store,
            document.blob_key,
            associated_data=image_binding(kyc.id, document.side),
            content_type=document.content_type,
            expires_in=DOCUMENT_URL_TTL_SECONDS,
        )
    return AdminDocumentView(
        side=document.side,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        width=document.width,
        height=document.height,
        sha256=document.sha256,
        url=url,
        purged_at=document.purged_at,
    )


def session_for_admin(
    session: Session,
    actor: Actor,
    session_id: str,
    *,
    settings: Settings,
    store: BlobStore,
    keyring: KeyRing,
) -> AdminSessionView:
    """One session for an admin, with one-hour signed URLs to its images."""
    require_role(actor, "admin")
    kyc = repository.load_readable(session, actor, session_id)
    documents = [
        _document_view(settings, store, kyc, document)
        for document in repository.documents_of(session, kyc.id)
    ]
    number = None
    if kyc.document_number_sealed is not None:
        try:
            number = open_text(keyring, kyc.document_number_sealed, document_number_binding(kyc.id))
        except BlobIntegrityError:
            log.error("kyc_document_number_unreadable", session_id=kyc.id)
    log.info("kyc_documents_viewed", session_id=kyc.id, admin_id=actor.id)
    return AdminSessionView(
        session=kyc,
        documents=documents,
        document_number=number,
        urls_expire_at=now() + timedelta(seconds=DOCUMENT_URL_TTL_SECONDS),
    )


def decide_review(
    session: Session, actor: Actor, session_id: str, *, decision: str, reason: str
) -> KycSession:
    """An admin approves or declines a session in review; 409 in any other status."""
    require_role(actor, "admin")
    kyc = repository.load_readable(session, actor, session_id)
    if decision not in DECISIONS:
        raise InvalidInput("decision", "must be approved or declined")
    text = " ".join(reason.split()) if reason else ""
    if not text:
        raise InvalidInput("reason", "give the reason for the decision")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput("reason", f"at most {MAX_REASON_LENGTH} characters")
    if kyc.status != "review" or not move(
        session,
        kyc,
        decision,
        actor_ref=f"user:{actor.id}",
        reason_code=f"admin_{decision}",
        reason=text,
        decided_by=actor.id,
    ):
        raise KycSessionNotReviewable(
            f"The verification session is {kyc.status}, not in review.",
            extra={"kyc_status": kyc.status},
        )
    log.info("kyc_review_decided", session_id=kyc.id, admin_id=actor.id, decision=decision)
    return kyc
