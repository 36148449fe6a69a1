"""Queries of the KYC module.

`readable_by(actor)` is the one statement that decides which verification sessions
an actor may see: a contractor their own, an admin every one, anyone else none.
Everything that loads a session for someone goes through it, so "not yours" and
"does not exist" answer alike (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, false, func, select, update
from sqlalchemy.orm import Session

from mindlinks.kyc.errors import KycSessionNotFound
from mindlinks.kyc.models import OPEN_STATUSES, KycDocument, KycSession

if TYPE_CHECKING:
    from mindlinks.identity.auth import Actor


def readable_by(actor: Actor) -> Select[KycSession]:
    stmt = select(KycSession)
    if actor.is_admin:
        return stmt
    if actor.role != "contractor":
        return stmt.where(false())
    return stmt.where(KycSession.user_id == actor.id)


def load_readable(session: Session, actor: Actor, session_id: str) -> KycSession:
    found = session.scalar(readable_by(actor).where(KycSession.id == session_id))
    if found is None:
        raise KycSessionNotFound(f"No verification session {session_id} is visible to you.")
    return found


def latest_of_user(session: Session, user_id: str) -> KycSession | None:
    # Ids are time-ordered, so the greatest is the newest.
    return session.scalar(
        select(KycSession).where(KycSession.user_id == user_id).order_by(KycSession.id.desc())
    )


def latest_status_of_user(session: Session, user_id: str) -> tuple[str, datetime] | None:
    row = session.execute(
        select(KycSession.status, KycSession.expires_at)
        .where(KycSession.user_id == user_id)
        .order_by(KycSession.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else None


def open_of_user(session: Session, user_id: str) -> KycSession | None:
    return session.scalar(
        select(KycSession).where(
            KycSession.user_id == user_id, KycSession.status.in_(OPEN_STATUSES)
        )
    )


def approved_of_user(session: Session, user_id: str) -> KycSession | None:
    return session.scalar(
        select(KycSession)
        .where(KycSession.user_id == user_id, KycSession.status == "approved")
        .limit(1)
    )


def find_by_reference(session: Session, provider: str, reference: str) -> KycSession | None:
    return session.scalar(
        select(KycSession).where(
            KycSession.provider == provider, KycSession.provider_reference == reference
        )
    )


def documents_of(session: Session, session_id: str) -> Sequence[KycDocument]:
    return session.scalars(
        select(KycDocument).where(KycDocument.session_id == session_id).order_by(KycDocument.id)
    ).all()


def move_status(
    session: Session, session_id: str, expected: str, target: str, **values: Any
) -> bool:
    """`UPDATE … SET status = target WHERE id = … AND status = expected`: True if it moved.

    The one way a session's status changes, so two racing changes cannot both win."""
    result = session.execute(
        update(KycSession)
        .where(KycSession.id == session_id, KycSession.status == expected)
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    moved: bool = result.rowcount == 1  # type: ignore[attr-defined]
    return moved


def in_review() -> Select[KycSession]:
    return select(KycSession).where(KycSession.status == "review")


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(KycSession.status, func.count()).group_by(KycSession.status)
    ).all()
    return {str(status): int(count) for status, count in rows}
