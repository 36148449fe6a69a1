from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mindlinks.identity.models import User
from mindlinks.identity.service import issue_verification_token
from mindlinks.jobs.service import JobContext, task


@task("identity.send_verification_email")
def send_verification_email(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    # The token is minted here, not in the request, so the only plaintext copy
    # is the one inside the email.
    from mindlinks.notifications.service import send_email

    user = session.get(User, payload["user_id"])
    if user is None or user.email_verified:
        return
    settings = ctx.app.settings
    token = issue_verification_token(session, settings, user)
    send_email(
        session,
        to=user.email,
        template="verify_email",
        context={
            "full_name": user.full_name,
            "verify_url": f"{settings.base_url}/verify-email?token={token}",
            "ttl_hours": settings.email_verification_ttl_seconds // 3600,
        },
        key=ctx.idempotency_key,
    )
