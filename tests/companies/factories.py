"""Company and invite test data, built through the real services."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mindlinks.companies import service
from mindlinks.companies.models import Company, Invite
from mindlinks.companies.providers.sandbox import SandboxRegistry
from mindlinks.identity.auth import Actor
from mindlinks.identity.models import User
from mindlinks.notifications.models import DevMailboxMessage
from mindlinks.platform.context import AppContext
from mindlinks.platform.ratelimit import RateLimiter
from tests.factories import make_user, run_jobs

NUMBER_FOR_STATUS = {"verified": "12345678", "rejected": "REJ12345", "pending": "PEND1234"}
INVITE_LINK = re.compile(r"/invites/([A-Za-z0-9_\-]{20,})")


def actor(user: User) -> Actor:
    return Actor(user=user, family_id="test-family")


def make_company(
    session: Session,
    owner: User | None = None,
    *,
    status: str = "verified",
    legal_name: str = "Acme Widgets Ltd",
    jurisdiction_code: str = "gb",
    country: str = "GB",
) -> Company:
    owner = owner or make_user(session, role="client")
    return service.register_company(
        session,
        actor(owner),
        legal_name=legal_name,
        jurisdiction_code=jurisdiction_code,
        registration_number=NUMBER_FOR_STATUS[status],
        country=country,
        registry=SandboxRegistry(),
    )


def invite(
    session: Session,
    app_context: AppContext,
    company: Company,
    inviter: User,
    email: str,
    **fields: str,
) -> tuple[Invite, str]:
    """Create an invite, run its email job, and answer it with the token from the email."""
    created = service.create_invite(
        session,
        actor(inviter),
        company.id,
        email=email,
        settings=app_context.settings,
        limiter=RateLimiter(None),
        **fields,
    )
    run_jobs(session, app_context, names=("companies.send_invite_email",))
    return created, last_invite_token(session, email)


def last_invite_email(session: Session, email: str) -> DevMailboxMessage:
    message = session.scalars(
        select(DevMailboxMessage)
        .where(func.lower(DevMailboxMessage.recipient) == email.lower())
        .order_by(DevMailboxMessage.id.desc())
    ).first()
    assert message is not None, f"no email was sent to {email}"
    return message


def last_invite_token(session: Session, email: str) -> str:
    message = last_invite_email(session, email)
    found = INVITE_LINK.search(message.text_body)
    assert found is not None, message.text_body
    return found.group(1)
