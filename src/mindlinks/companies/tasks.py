"""Jobs of the companies module.

- `companies.check_registry` {company_id}: asks the registry again about a
  pending company; raises while the registry is unavailable, so the worker
  retries it with its exponential backoff (up to `CHECK_REGISTRY_MAX_ATTEMPTS`,
  about two and a half hours in all).
- `companies.send_invite_email` {invite_id, send_count}: mints the invite's
  token (only its hash is stored) and emails the link; a run for a superseded
  send (the invite was resent, accepted or revoked meanwhile) does nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mindlinks.companies import service
from mindlinks.companies.models import Company, Invite
from mindlinks.companies.providers import registry_for
from mindlinks.jobs.service import JobContext, task
from mindlinks.platform.clock import now

CHECK_REGISTRY_MAX_ATTEMPTS = 12


@task(service.CHECK_REGISTRY_JOB, max_attempts=CHECK_REGISTRY_MAX_ATTEMPTS)
def check_registry(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    service.check_registry(session, str(payload["company_id"]), registry_for(ctx.app))


@task("companies.send_invite_email")
def send_invite_email(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    from mindlinks.notifications.service import send_email

    invite = session.get(Invite, str(payload["invite_id"]))
    if invite is None or invite.status != "pending" or invite.expires_at <= now():
        return
    send_count = int(payload.get("send_count", invite.send_count))
    token = service.issue_invite_token(session, invite, send_count)
    if token is None:
        return
    company = session.get_one(Company, invite.company_id)
    settings = ctx.app.settings
    send_email(
        session,
        to=invite.email,
        template="invite",
        context={
            "company_name": company.legal_name,
            "inviter_name": invite.inviter_name,
            "invitee_name": invite.full_name,
            "message": invite.message,
            "accept_url": f"{settings.base_url}/invites/{token}",
            "expires_at": invite.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            "ttl_days": max(1, settings.invite_ttl_seconds // 86400),
        },
        key=ctx.idempotency_key,
    )
