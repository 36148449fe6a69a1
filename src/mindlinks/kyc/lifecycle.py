"""How a verification session moves, and what each move sets off.

Every status change goes through `move`: the transition table (`states.py`) says
whether it is allowed, a conditional `UPDATE … WHERE status = :expected` makes it
(so two racing changes cannot both win), and in the same transaction:

- a final decision (approved, declined) appends a `kyc.decided` ledger entry:
  ids, provider, decision, reason code and the documents' SHA-256, never a name,
  number or image. An expiry is not a decision about anyone's identity, so it is
  not written to the ledger;
- a final status queues `kyc.notify_decided` (the contractor: email and in-app for
  a decision, in-app for an expiry);
- entering review queues `kyc.notify_review_needed` (every admin).

Provider decisions arrive here from the webhook and from the polling fallback
(`apply_provider_decision`), deduplicated by the provider's event id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final, Literal

import structlog
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks.jobs.service import enqueue
from mindlinks.kyc import repository
from mindlinks.kyc.errors import KycTransitionNotAllowed
from mindlinks.kyc.models import KycSession, KycWebhookEvent
from mindlinks.kyc.providers.base import ProviderDecision
from mindlinks.kyc.states import (
    DECISIONS,
    FINAL_STATUSES,
    OUTCOME_STATUS,
    RESUBMIT_REASON,
    can_move,
)
from mindlinks.ledger.service import append_entry
from mindlinks.platform.clock import now

log = structlog.get_logger(__name__)

DECIDED_KIND: Final = "kyc.decided"
NOTIFY_DECIDED_JOB: Final = "kyc.notify_decided"
NOTIFY_REVIEW_JOB: Final = "kyc.notify_review_needed"
DELIVER_SANDBOX_DECISION_JOB: Final = "kyc.deliver_sandbox_decision"
POLL_DECISION_JOB: Final = "kyc.poll_decision"
# Providers whose sessions are polled when no webhook came (the sandbox's webhook
# is our own job, which retries by itself).
POLLED_PROVIDERS: Final = ("veriff", "onfido")
POLL_AFTER: Final = timedelta(minutes=30)
_MAX_REASON = 1000
_EXTRACTED_MAX_KEYS = 20
_EXTRACTED_MAX_VALUE = 100
# Words that mark a field as personal: such fields never reach our tables.
_PERSONAL_MARKERS: Final = (
    "name",
    "number",
    "birth",
    "dob",
    "address",
    "email",
    "phone",
    "personal",
    "face",
    "image",
    "mrz",
)

ApplyResult = Literal["applied", "duplicate", "unknown", "unchanged", "ignored"]


def subject_of(session_id: str) -> str:
    return f"kyc:{session_id}"


def move(
    session: Session,
    kyc: KycSession,
    target: str,
    *,
    actor_ref: str,
    reason_code: str | None = None,
    reason: str | None = None,
    decided_by: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """Move `kyc` from its current status to `target`; False when someone else moved
    it first (the row is refreshed either way). An illegal move raises
    `KycTransitionNotAllowed` naming the current status: callers that have a more
    specific rule check it before calling."""
    expected = kyc.status
    if not can_move(expected, target):
        raise KycTransitionNotAllowed(
            f"The verification session is {expected}; it cannot become {target}.",
            extra={"kyc_status": expected},
        )
    current = now()
    values: dict[str, Any] = dict(extra or {})
    if reason_code is not None or reason is not None:
        values["reason_code"] = reason_code[:64] if reason_code else None
        values["reason"] = reason[:_MAX_REASON] if reason else None
    if target == "submitted":
        values.setdefault("submitted_at", current)
    if target in FINAL_STATUSES:
        values["decided_at"] = current
        values["decided_by"] = decided_by
    moved = repository.move_status(session, kyc.id, expected, target, **values)
    session.refresh(kyc)
    if not moved:
        log.info("kyc_move_lost_race", session_id=kyc.id, expected=expected, target=target)
        return False
    log.info("kyc_session_moved", session_id=kyc.id, previous=expected, status=target)
    _after_move(session, kyc, actor_ref)
    return True


def _after_move(session: Session, kyc: KycSession, actor_ref: str) -> None:
    if kyc.status in DECISIONS:
        documents = [
            {"side": doc.side, "sha256": doc.sha256}
            for doc in repository.documents_of(session, kyc.id)
        ]
        append_entry(
            session,
            DECIDED_KIND,
            subject_of(kyc.id),
            actor_ref,
            {
                "session_id": kyc.id,
                "user_id": kyc.user_id,
                "provider": kyc.provider,
                "provider_reference": kyc.provider_reference,
                "decision": kyc.status,
                "reason_code": kyc.reason_code,
                "decided_by": "admin" if kyc.decided_by else "provider",
                "documents": documents,
            },
        )
    if kyc.status in FINAL_STATUSES:
        enqueue(
            session,
            NOTIFY_DECIDED_JOB,
            {"session_id": kyc.id, "status": kyc.status},
            key=f"{NOTIFY_DECIDED_JOB}:{kyc.id}",
        )
    elif kyc.status == "review":
        enqueue(
            session,
            NOTIFY_REVIEW_JOB,
            {"session_id": kyc.id},
            key=f"{NOTIFY_REVIEW_JOB}:{kyc.id}",
        )


def safe_extracted(extracted: Mapping[str, str]) -> dict[str, str]:
    """What a provider extracted, minus anything that looks personal, kept short."""
    kept: dict[str, str] = {}
    for key, value in extracted.items():
        name = str(key).lower()
        if any(marker in name for marker in _PERSONAL_MARKERS):
            continue
        if isinstance(value, str) and value:
            kept[name[:40]] = value[:_EXTRACTED_MAX_VALUE]
        if len(kept) >= _EXTRACTED_MAX_KEYS:
            break
    return kept


def _record_event(
    session: Session, provider: str, decision: ProviderDecision, source: str, kyc_id: str | None
) -> bool:
    """Record the event once; False when (provider, event id) was seen before."""
    event = KycWebhookEvent(
        provider=provider,
        event_id=decision.event_id[:300],
        source=source,
        outcome=decision.outcome,
        session_id=kyc_id,
        received_at=now(),
    )
    try:
        # On PostgreSQL a concurrent delivery of the same event waits here for the
        # other transaction and then fails the unique key: only one applies it.
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        return False
    return True


def apply_provider_decision(
    session: Session, provider: str, decision: ProviderDecision, *, source: str = "webhook"
) -> ApplyResult:
    """Apply what a provider reported; idempotent on (provider, event id).

    A session is found by (provider, reference) only, so an event can never touch a
    session of another provider. Unknown sessions are logged and recorded, not
    errors: the provider must not retry them forever. A move the transition table
    refuses (e.g. a late `expired` for a session already approved) changes nothing.
    """
    bound = log.bind(provider=provider, event_id=decision.event_id, source=source)
    kyc = repository.find_by_reference(session, provider, decision.reference)
    if not _record_event(session, provider, decision, source, kyc.id if kyc else None):
        bound.info("kyc_event_duplicate")
        return "duplicate"
    if kyc is None:
        claimed = (
            session.get(KycSession, decision.vendor_session_id)
            if decision.vendor_session_id
            else None
        )
        if claimed is not None and claimed.provider != provider:
            bound.warning("kyc_event_for_another_provider", session_id=claimed.id)
        else:
            bound.warning("kyc_event_unknown_session", reference=decision.reference)
        return "unknown"
    bound = bound.bind(session_id=kyc.id)
    if decision.vendor_session_id and decision.vendor_session_id != kyc.id:
        bound.warning("kyc_event_vendor_data_mismatch")
        return "ignored"
    if decision.provider_status:
        kyc.provider_status = decision.provider_status[:64]
    mapped = OUTCOME_STATUS[decision.outcome]
    if mapped is None:
        session.flush()
        bound.info("kyc_event_pending", status=kyc.status)
        return "unchanged"
    target, reason_code = mapped
    reason = RESUBMIT_REASON if decision.outcome == "resubmit" else decision.reason
    extra = {"extracted": safe_extracted(decision.extracted)} if decision.extracted else None
    # One retry: a concurrent change (an admin's decision, the expiry job) is
    # re-read and the event judged against the new status.
    for _attempt in range(2):
        if kyc.status == target:
            session.flush()
            bound.info("kyc_event_unchanged", status=kyc.status)
            return "unchanged"
        if not can_move(kyc.status, target):
            bound.warning("kyc_event_not_applicable", status=kyc.status, target=target)
            return "ignored"
        if move(
            session,
            kyc,
            target,
            actor_ref=f"provider:{provider}",
            reason_code=reason_code,
            reason=reason,
            extra=extra,
        ):
            return "applied"
    return "ignored"


def expire_stale_sessions(session: Session, *, limit: int = 500) -> int:
    """Expire open sessions past their `expires_at` that nobody decided; how many."""
    stale: Sequence[KycSession] = session.scalars(
        select(KycSession)
        .where(KycSession.status.in_(("created", "submitted")), KycSession.expires_at <= now())
        .order_by(KycSession.expires_at)
        .limit(limit)
    ).all()
    expired = 0
    for kyc in stale:
        if move(
            session,
            kyc,
            "expired",
            actor_ref="system",
            reason_code="timed_out",
            reason="The verification was not completed in time.",
        ):
            expired += 1
    return expired


def sessions_to_poll(session: Session, *, limit: int = 200) -> list[KycSession]:
    """Open sessions at a real provider that have gone `POLL_AFTER` without news:
    stamped as polled now, so each is asked at most once per `POLL_AFTER`."""
    cutoff = now() - POLL_AFTER
    rows = list(
        session.scalars(
            select(KycSession)
            .where(
                KycSession.provider.in_(POLLED_PROVIDERS),
                KycSession.status.in_(("created", "submitted")),
                KycSession.created_at <= cutoff,
                or_(KycSession.last_polled_at.is_(None), KycSession.last_polled_at <= cutoff),
            )
            .order_by(KycSession.last_polled_at.is_not(None), KycSession.last_polled_at)
            .limit(limit)
        )
    )
    stamp = now()
    for kyc in rows:
        kyc.last_polled_at = stamp
    session.flush()
    return rows
