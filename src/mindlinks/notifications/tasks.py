"""Jobs of the notifications module."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mindlinks.jobs.service import JobContext, enqueue, task
from mindlinks.notifications.service import send_email


@task("notifications.send_email")
def send_email_job(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    """Send one templated email whose whole context travels in the payload."""
    send_email(
        session,
        to=payload["to"],
        template=payload["template"],
        context=dict(payload.get("context") or {}),
        key=ctx.idempotency_key,
        settings=ctx.app.settings,
    )


def queue_email(
    session: Session,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    key: str | None = None,
) -> None:
    """Queue a templated email in the caller's transaction.

    The context is stored in the jobs table as it is: never put a secret in it
    (a token, a one-time link). Mint secrets inside your own task instead, as
    `identity.send_verification_email` does, so the email holds the only copy.
    """
    enqueue(
        session,
        "notifications.send_email",
        {"to": to, "template": template, "context": context},
        key=key,
    )
