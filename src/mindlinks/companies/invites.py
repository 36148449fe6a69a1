"""Invites: a client company's owners and members invite a contractor by email.

Rules (API.md, "Companies and invites"):

- only owners and members of a *verified* company, with a verified email, invite;
- the token is 32 random bytes, minted by the `companies.send_invite_email` job
  so that the email holds its only plaintext copy; the invite stores its hash;
- an invite expires `settings.invite_ttl_seconds` after it was (re)sent, is
  single use and bound to the invited address (compared normalized);
- an address has at most one pending invite per company: a second one answers
  409 `invite-already-pending` (resend that one instead). We refuse rather than
  return the pending invite because a 201 would claim that a new link went out;
- resending mints a new token (the old link dies at once) and a new expiry;
- "expired" is derived from `expires_at` for a pending invite;
- accepting is a conditional update, so of two concurrent accepts one wins.

Accepting does not require a verified account email: the token arrived at the
invited address, which is the proof an email verification would give (API.md
does not list accepting an invite among the actions an unverified account is
refused).

These functions back both the JSON API and the HTML pages; they flush, never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks.companies import repository
from mindlinks.companies.errors import (
    CompanyNotVerified,
    ContractorAlreadyLinked,
    InviteAlreadyPending,
    InviteEmailMismatch,
    InviteGone,
    InviteNotFound,
    InviteNotPending,
    NotCompanyStaff,
)
from mindlinks.companies.models import Invite
from mindlinks.companies.repository import CompanyAccess
from mindlinks.config import Settings
from mindlinks.identity.auth import require_role, require_verified
from mindlinks.jobs.service import enqueue
from mindlinks.platform.clock import now
from mindlinks.platform.emails import InvalidEmail, normalize_email
from mindlinks.platform.errors import InvalidInput
from mindlinks.platform.hashing import token_hash
from mindlinks.platform.ids import new_token
from mindlinks.platform.pagination import PageParams, paginate
from mindlinks.platform.ratelimit import RateLimiter

if TYPE_CHECKING:
    from mindlinks.identity.auth import Actor

INVITE_STATUS_FILTERS = ("pending", "accepted", "revoked", "expired")
SEND_INVITE_JOB = "companies.send_invite_email"


@dataclass(frozen=True)
class InvitePreview:
    """What the holder of an invite link may see before signing in."""

    company_legal_name: str
    email: str
    full_name: str | None
    status: str
    expires_at: datetime


def invite_status(invite: Invite) -> str:
    """pending, accepted, revoked or expired (a pending invite past `expires_at`)."""
    if invite.status == "pending" and invite.expires_at <= now():
        return "expired"
    return invite.status


def staff_access(session: Session, actor: Actor, company_id: str) -> CompanyAccess:
    """The company for one of its owners or members: 404 if not visible, else 403."""
    access = repository.load_readable(session, actor, company_id)
    require_role(actor, "client")
    if not access.is_staff:
        raise NotCompanyStaff("Only the company's owners and members may do this.")
    return access


def _managing_access(session: Session, actor: Actor, company_id: str) -> CompanyAccess:
    access = staff_access(session, actor, company_id)
    require_verified(actor)
    return access


def _require_verified_company(access: CompanyAccess) -> None:
    if access.company.verification_status != "verified":
        raise CompanyNotVerified(
            "The company must be verified by the business registry before it can invite "
            f"(it is {access.company.verification_status})."
        )


def _queue_email(session: Session, invite: Invite) -> None:
    enqueue(
        session,
        SEND_INVITE_JOB,
        {"invite_id": invite.id, "send_count": invite.send_count},
        key=f"{SEND_INVITE_JOB}:{invite.id}:{invite.send_count}",
    )


def create_invite(
    session: Session,
    actor: Actor,
    company_id: str,
    *,
    email: str,
    full_name: str | None = None,
    message: str | None = None,
    settings: Settings,
    limiter: RateLimiter,
) -> Invite:
    """Invite a contractor by email and queue the email with the one-time link.

    404 company not visible; 403 not an owner/member or email not verified; 409
    company not verified, address already pending or already linked; 422 bad
    email; 429 over `settings.rate_limit_invites` for the company.
    """
    access = _managing_access(session, actor, company_id)
    _require_verified_company(access)
    try:
        display, normalized = normalize_email(email)
    except InvalidEmail as exc:
        raise InvalidInput("email", str(exc)) from exc
    full_name = " ".join(full_name.split()) if full_name else None
    message = message.strip() if message else None

    existing = repository.pending_invite_for(session, company_id, normalized)
    if existing is not None and invite_status(existing) == "pending":
        raise InviteAlreadyPending(
            "This address already has a pending invite; resend it instead.",
            extra={"invite_id": existing.id},
        )
    from mindlinks.identity.service import find_user_by_email

    user = find_user_by_email(session, normalized)
    if user is not None and repository.find_link(session, company_id, user.id) is not None:
        raise ContractorAlreadyLinked("This person is already linked to the company.")

    limiter.hit(settings.rate_limit_invites, "invites", company_id)
    if existing is not None:  # pending but past its expiry: it makes way
        existing.status = "expired"
        session.flush()  # before the insert, for the one-pending-per-address index
    invite = Invite(
        company_id=company_id,
        email=display,
        email_normalized=normalized,
        full_name=full_name or None,
        message=message or None,
        inviter_name=actor.user.full_name,
        status="pending",
        expires_at=now() + timedelta(seconds=settings.invite_ttl_seconds),
        send_count=1,
        invited_by=actor.id,
    )
    try:
        with session.begin_nested():
            session.add(invite)
    except IntegrityError as exc:  # a concurrent invite to the same address won
        raise InviteAlreadyPending("This address already has a pending invite.") from exc
    _queue_email(session, invite)
    session.flush()
    return invite


def list_invites(
    session: Session,
    actor: Actor,
    company_id: str,
    params: PageParams,
    *,
    status: str | None = None,
) -> tuple[Sequence[Invite], str | None]:
    """One page of the company's invites, newest first, for its owners and members."""
    staff_access(session, actor, company_id)
    stmt = repository.invites_of(company_id)
    current = now()
    if status == "pending":
        stmt = stmt.where(Invite.status == "pending", Invite.expires_at > current)
    elif status == "expired":
        stmt = stmt.where(
            or_(
                Invite.status == "expired",
                and_(Invite.status == "pending", Invite.expires_at <= current),
            )
        )
    elif status is not None:
        stmt = stmt.where(Invite.status == status)
    return paginate(session, stmt, Invite.id, params)


def _invite_of(session: Session, company_id: str, invite_id: str) -> Invite:
    invite = repository.find_invite(session, company_id, invite_id)
    if invite is None:
        raise InviteNotFound(f"The company has no invite {invite_id}.")
    return invite


def resend_invite(
    session: Session,
    actor: Actor,
    company_id: str,
    invite_id: str,
    *,
    settings: Settings,
    limiter: RateLimiter,
) -> Invite:
    """Send a pending (or expired) invite again with a new link and a new expiry.

    The old link stops working at once. 409 if it was accepted or revoked.
    """
    access = _managing_access(session, actor, company_id)
    _require_verified_company(access)
    invite = _invite_of(session, company_id, invite_id)
    if invite.status != "pending":
        raise InviteNotPending(f"This invite was {invite.status}; it cannot be resent.")
    limiter.hit(settings.rate_limit_invites, "invites", company_id)
    renewed = session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.status == "pending")
        .values(
            token_hash=None,
            expires_at=now() + timedelta(seconds=settings.invite_ttl_seconds),
            send_count=Invite.send_count + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount != 1:  # type: ignore[attr-defined]
        raise InviteNotPending("This invite was accepted or revoked meanwhile.")
    session.refresh(invite)
    _queue_email(session, invite)
    session.flush()
    return invite


def revoke_invite(session: Session, actor: Actor, company_id: str, invite_id: str) -> Invite:
    """Revoke an invite so its link answers 410. Revoking twice is harmless; 409 if accepted."""
    _managing_access(session, actor, company_id)
    invite = _invite_of(session, company_id, invite_id)
    if invite.status == "revoked":
        return invite
    revoked = session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.status.in_(("pending", "expired")))
        .values(status="revoked", revoked_at=now())
        .execution_options(synchronize_session=False)
    )
    session.refresh(invite)
    if revoked.rowcount != 1 and invite.status != "revoked":  # type: ignore[attr-defined]
        raise InviteNotPending(f"This invite was {invite.status}; it cannot be revoked.")
    return invite


def issue_invite_token(session: Session, invite: Invite, send_count: int) -> str | None:
    """Mint the link's token and store its hash; None if the invite changed meanwhile."""
    token = new_token()
    minted = session.execute(
        update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.status == "pending",
            Invite.send_count == send_count,
        )
        .values(token_hash=token_hash(token), last_sent_at=now())
        .execution_options(synchronize_session=False)
    )
    session.refresh(invite)
    return token if minted.rowcount == 1 else None  # type: ignore[attr-defined]


def _live_invite(session: Session, token: str) -> Invite:
    invite = repository.find_invite_by_token(session, token)
    if invite is None:
        raise InviteNotFound("This invite link is not known.")
    return invite


def preview_invite(session: Session, token: str) -> InvitePreview:
    """What an invite link shows before sign-in: 404 unknown, 410 used/expired/revoked."""
    invite = _live_invite(session, token)
    status = invite_status(invite)
    if status != "pending":
        raise InviteGone(f"This invite is {status}.", extra={"invite_status": status})
    company = repository.get_company(session, invite.company_id)
    return InvitePreview(
        company_legal_name=company.legal_name,
        email=invite.email,
        full_name=invite.full_name,
        status=status,
        expires_at=invite.expires_at,
    )


def accept_invite(session: Session, actor: Actor, token: str) -> Invite:
    """The invited contractor accepts: they become linked to the company.

    404 unknown link; 403 for a non-contractor or another email address; 410
    used, expired or revoked (also when a concurrent accept won).
    """
    invite = _live_invite(session, token)
    require_role(actor, "contractor")
    if actor.user.email_normalized != invite.email_normalized:
        raise InviteEmailMismatch(
            "This invite was sent to another email address; sign in with that one."
        )
    status = invite_status(invite)
    if status != "pending":
        raise InviteGone(f"This invite is {status}.", extra={"invite_status": status})
    accepted = session.execute(
        update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.status == "pending",
            Invite.token_hash == token_hash(token),
            Invite.expires_at > now(),
        )
        .values(status="accepted", accepted_by=actor.id, accepted_at=now())
        .execution_options(synchronize_session=False)
    )
    if accepted.rowcount != 1:  # type: ignore[attr-defined]
        raise InviteGone("This invite was just used.")
    session.refresh(invite)
    repository.ensure_link(session, invite.company_id, actor.id, "contractor")
    return invite


def check_invite_for_registration(session: Session, token: str, email_normalized: str) -> None:
    """For registration with an invite: 422 on `invite_token` unless the invite is
    pending, unexpired and for this (normalized) address."""
    invite = repository.find_invite_by_token(session, token)
    if invite is None:
        raise InvalidInput("invite_token", "this invite is not known")
    status = invite_status(invite)
    if status != "pending":
        raise InvalidInput("invite_token", f"this invite is {status}")
    if invite.email_normalized != email_normalized:
        raise InvalidInput("invite_token", "this invite is for another email address")
