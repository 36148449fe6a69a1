"""KYC: identity verification of contractors, by a provider, with an admin review.

The contract other modules use:

- `kyc_status_of(session, user_id)`: the status of the contractor's latest session,
  or `"none"` before any (what `/api/me` shows);
- `require_verified(session, user_id)`: raises `KycNotApproved` (403
  `kyc-not-approved`, with a link to `/kyc`) unless that status is `approved`.

The contractor's side:

- `start_verification` opens a session at the configured provider, or resumes the
  open `created` one (never two at once: a partial unique index says so too); 409
  while one is submitted or in review, and once approved. Starts are rate-limited
  per contractor (`rate_limit_kyc_sessions`, API.md: 5 a day); resuming is free.
- `submit_sandbox_capture` (module `capture`): the sandbox's capture.

Decisions (module `lifecycle`): provider webhooks and polls, expiry, and the
ledger entry and notifications every final status brings. The admin review is in
module `review`. Functions flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks.identity.auth import require_role
from mindlinks.identity.auth import require_verified as require_email_verified
from mindlinks.kyc import repository
from mindlinks.kyc.capture import SIDES, submit_sandbox_capture
from mindlinks.kyc.errors import (
    KycAlreadyApproved,
    KycNotApproved,
    KycProviderDown,
    KycSessionInProgress,
)
from mindlinks.kyc.lifecycle import (
    DECIDED_KIND,
    DELIVER_SANDBOX_DECISION_JOB,
    NOTIFY_DECIDED_JOB,
    NOTIFY_REVIEW_JOB,
    POLL_DECISION_JOB,
    apply_provider_decision,
    expire_stale_sessions,
    move,
    sessions_to_poll,
    subject_of,
)
from mindlinks.kyc.models import KycDocument, KycSession
from mindlinks.kyc.providers.base import KycProvider, KycProviderUnavailable
from mindlinks.kyc.review import (
    AdminDocumentView,
    AdminSessionView,
    decide_review,
    review_queue,
    session_for_admin,
)
from mindlinks.kyc.sealing import client_token_binding, open_text, seal_text
from mindlinks.kyc.states import FINAL_STATUSES
from mindlinks.ledger.access import register_subject_type
from mindlinks.platform.blobs.base import BlobIntegrityError, BlobStore
from mindlinks.platform.blobs.keyring import KeyRing
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id
from mindlinks.platform.ratelimit import RateLimiter

if TYPE_CHECKING:
    from mindlinks.config import Settings
    from mindlinks.identity.auth import Actor

__all__ = [
    "DECIDED_KIND",
    "DELIVER_SANDBOX_DECISION_JOB",
    "NOTIFY_DECIDED_JOB",
    "NOTIFY_REVIEW_JOB",
    "POLL_DECISION_JOB",
    "SIDES",
    "AdminDocumentView",
    "AdminSessionView",
    "StartedVerification",
    "apply_provider_decision",
    "client_token_of",
    "decide_review",
    "expire_stale_sessions",
    "get_session_for_actor",
    "kyc_status_of",
    "move",
    "purge_expired_documents",
    "require_verified",
    "review_queue",
    "session_for_admin",
    "session_status",
    "sessions_to_poll",
    "start_verification",
    "subject_of",
    "submit_sandbox_capture",
]

log = structlog.get_logger(__name__)

RATE_LIMIT_KEY = "kyc-session-start"


@dataclass(frozen=True)
class StartedVerification:
    session: KycSession
    resumed: bool  # True when the open `created` session was handed back
    client_token: str | None = None  # Onfido's SDK token for a new session (never stored clear)


def _readable_status(status: str, expires_at_passed: bool) -> str:
    # A `created` session past its expiry is expired, whether or not the periodic
    # job has written that yet.
    return "expired" if status == "created" and expires_at_passed else status


def kyc_status_of(session: Session, user_id: str) -> str:
    """The status of the user's latest verification session, or "none"."""
    latest = repository.latest_status_of_user(session, user_id)
    if latest is None:
        return "none"
    status, expires_at = latest
    return _readable_status(status, expires_at <= now())


def require_verified(session: Session, user_id: str) -> None:
    """Raise `KycNotApproved` (403) unless the user's identity is verified."""
    status = kyc_status_of(session, user_id)
    if status != "approved":
        raise KycNotApproved(
            f"Your identity verification is {status}; it must be approved first. "
            "Verify your identity at /kyc.",
            kyc_status=status,
        )


def approved_session_id(session: Session, user_id: str) -> str | None:
    """The id of the session that verified the user (their latest, if approved): what
    a signature records as the identity evidence behind a contractor's signature."""
    latest = repository.latest_of_user(session, user_id)
    return latest.id if latest is not None and latest.status == "approved" else None


def verification_record(session: Session, session_id: str) -> KycSession | None:
    """A verification session by id, for the evidence other modules keep of it (the
    certificate of completion names its provider and decision time)."""
    return session.get(KycSession, session_id)


def get_session_for_actor(session: Session, actor: Actor, session_id: str) -> KycSession:
    """The session for its contractor or an admin; 404 for anyone else."""
    return repository.load_readable(session, actor, session_id)


def session_status(kyc: KycSession) -> str:
    """The status to show for one session (see `_readable_status`)."""
    return _readable_status(kyc.status, kyc.expires_at <= now())


def start_verification(
    session: Session,
    actor: Actor,
    *,
    provider: KycProvider,
    settings: Settings,
    limiter: RateLimiter,
    keyring: KeyRing | None = None,
) -> StartedVerification:
    """Open a verification session for the calling contractor, or resume the open one.

    403 for another role or an unverified email; 409 `kyc-already-approved`, 409
    `kyc-session-in-progress` while one is submitted or in review; 429 past the
    daily budget; 503 when the provider does not answer.
    """
    require_role(actor, "contractor")
    require_email_verified(actor)
    if repository.approved_of_user(session, actor.id) is not None:
        raise KycAlreadyApproved("Your identity is already verified.")
    current = repository.open_of_user(session, actor.id)
    if current is not None:
        if current.status != "created":
            raise KycSessionInProgress(
                f"Your verification is {current.status}; wait for its decision.",
                extra={"session_id": current.id, "kyc_status": current.status},
            )
        if current.expires_at > now():
            return StartedVerification(current, resumed=True)
        move(
            session,
            current,
            "expired",
            actor_ref="system",
            reason_code="timed_out",
            reason="The verification was not completed in time.",
        )
    limiter.hit(
        settings.rate_limit_kyc_sessions,
        RATE_LIMIT_KEY,
        actor.id,
        detail="You have started too many verifications today; try again later.",
    )
    session_id = new_id()
    try:
        started = provider.start_session(
            session_id=session_id,
            callback_url=f"{settings.base_url}/kyc",
            full_name=actor.user.full_name,
            email=actor.user.email,
        )
    except KycProviderUnavailable as exc:
        log.warning("kyc_provider_start_failed", provider=provider.name, error=str(exc))
        raise KycProviderDown(
            "The identity-verification provider is not answering; try again in a few minutes."
        ) from exc
    started_at = now()
    kyc = KycSession(
        id=session_id,
        user_id=actor.id,
        provider=provider.name,
        provider_reference=started.reference,
        verification_url=started.verification_url,
        status="created",
        extracted={},
        created_at=started_at,
        expires_at=started_at + timedelta(seconds=settings.kyc_session_ttl_seconds),
    )
    if started.client_token and keyring is not None:
        kyc.client_token_sealed = seal_text(
            keyring, started.client_token, client_token_binding(session_id)
        )
    try:
        with session.begin_nested():
            session.add(kyc)
    except IntegrityError:
        # A concurrent start for the same contractor opened one first: that is theirs.
        winner = repository.open_of_user(session, actor.id)
        if winner is not None and winner.status == "created":
            return StartedVerification(winner, resumed=True)
        raise KycSessionInProgress("Another verification was started at the same time.") from None
    log.info("kyc_session_started", session_id=kyc.id, provider=provider.name)
    return StartedVerification(kyc, resumed=False, client_token=started.client_token)


def client_token_of(kyc: KycSession, keyring: KeyRing) -> str | None:
    """The provider's SDK token of an open session (Onfido), decrypted; else None."""
    if kyc.client_token_sealed is None:
        return None
    try:
        return open_text(keyring, kyc.client_token_sealed, client_token_binding(kyc.id))
    except BlobIntegrityError:
        log.error("kyc_client_token_unreadable", session_id=kyc.id)
        return None


def purge_expired_documents(
    session: Session, store: BlobStore, *, retention_days: int, limit: int = 200
) -> int:
    """Delete the images of sessions decided more than `retention_days` ago.

    The blob goes; the row stays with its hashes, sizes and `purged_at`, and the
    session keeps its decision and reason. Deleting first and marking after is safe
    to repeat: a blob already gone is not an error."""
    cutoff = now() - timedelta(days=retention_days)
    rows = session.scalars(
        select(KycDocument)
        .join(KycSession, KycSession.id == KycDocument.session_id)
        .where(
            KycSession.status.in_(FINAL_STATUSES),
            KycSession.decided_at <= cutoff,
            KycDocument.purged_at.is_(None),
        )
        .order_by(KycDocument.id)
        .limit(limit)
    ).all()
    for document in rows:
        store.delete(document.blob_key)
        document.purged_at = now()
    session.flush()
    if rows:
        log.info("kyc_documents_purged", count=len(rows))
    return len(rows)


def _contractor_or_admin_reads(session: Session, actor: Actor, session_id: str) -> bool:
    return (
        session.scalar(
            repository.readable_by(actor)
            .where(KycSession.id == session_id)
            .with_only_columns(KycSession.id)
        )
        is not None
    )


# `kyc:<session id>` ledger subjects: the contractor and admins read them.
register_subject_type("kyc", _contractor_or_admin_reads)


def status_counts(session: Session) -> dict[str, int]:
    """Verification sessions by status, for the admin dashboard's chart."""
    return repository.count_by_status(session)
