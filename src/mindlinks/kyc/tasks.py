"""Jobs of the KYC module.

- `kyc.deliver_sandbox_decision` {session_id, reference, outcome, reason, decided_at}:
  POSTs the sandbox's signed decision webhook to `{base_url}/api/webhooks/kyc/sandbox`
  over HTTP, the path every provider's decision takes. Anything but a 200 raises, so
  the worker retries with backoff. The httpx transport comes from
  `ctx.extras[WEBHOOK_TRANSPORT_EXTRA]` when set (tests: the app's ASGI transport).
  It touches no table before the POST: on SQLite its own transaction would otherwise
  hold the write lock that the webhook's transaction needs.
- `kyc.notify_decided` {session_id, status}: the contractor's email (decisions) and
  in-app notification (every final status), once each per job key.
- `kyc.notify_review_needed` {session_id}: an email and an in-app notification to
  every admin, once per admin.
- periodic `kyc.expire_stale_sessions`: open sessions past their expiry become expired.
- periodic `kyc.purge_documents`: images of sessions decided more than
  `kyc_retention_days` ago are deleted (hashes, decision and reason stay).
- periodic `kyc.poll_stale_sessions` and `kyc.poll_decision` {session_id, provider,
  reference}: the polling fallback for Veriff and Onfido sessions that had no news
  for a while. The poll asks the provider before touching any table, for the same
  reason as the delivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import httpx
import structlog
from sqlalchemy.orm import Session

from mindlinks.identity.service import get_user, users_with_role
from mindlinks.jobs.service import JobContext, enqueue, periodic, task
from mindlinks.kyc import service
from mindlinks.kyc.models import KycSession
from mindlinks.kyc.providers import (
    WEBHOOK_TRANSPORT_EXTRA,
    KycProviderRejected,
    provider_named,
    sandbox_provider_for,
)
from mindlinks.kyc.providers.sandbox import SIGNATURE_HEADER, SandboxVerdict
from mindlinks.notifications.service import notify_in_app, send_email
from mindlinks.platform.blobs import blob_store_for
from mindlinks.platform.context import AppContext

log = structlog.get_logger(__name__)

EXPIRE_JOB: Final = "kyc.expire_stale_sessions"
PURGE_JOB: Final = "kyc.purge_documents"
POLL_SCAN_JOB: Final = "kyc.poll_stale_sessions"
DELIVERY_TIMEOUT_SECONDS: Final = 10.0
WEBHOOK_CLIENT_EXTRA: Final = "kyc.webhook_client"
DELIVERY_MAX_ATTEMPTS: Final = 12
ADMIN_REVIEW_PATH: Final = "/admin/kyc/sessions/{id}"
CONTRACTOR_PATH: Final = "/kyc"


class SandboxDeliveryFailed(RuntimeError):
    """The platform did not acknowledge the sandbox's webhook; the job retries."""


def _webhook_client(app: AppContext) -> httpx.Client:
    """One pooled client per app (building one costs ~70 ms of TLS setup), rebuilt
    when the configured transport changes."""
    transport = app.extras.get(WEBHOOK_TRANSPORT_EXTRA)
    cached = app.extras.get(WEBHOOK_CLIENT_EXTRA)
    if isinstance(cached, tuple) and cached[0] is transport:
        client: httpx.Client = cached[1]
        return client
    # trust_env=False: the platform's own address is never reached through a proxy.
    client = httpx.Client(transport=transport, timeout=DELIVERY_TIMEOUT_SECONDS, trust_env=False)
    app.extras[WEBHOOK_CLIENT_EXTRA] = (transport, client)
    if isinstance(cached, tuple):
        cached[1].close()
    return client


@task(service.DELIVER_SANDBOX_DECISION_JOB, max_attempts=DELIVERY_MAX_ATTEMPTS)
def deliver_sandbox_decision(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    sandbox = sandbox_provider_for(ctx.app)
    verdict = SandboxVerdict(
        reference=str(payload["reference"]),
        session_id=str(payload["session_id"]),
        outcome=payload["outcome"],
        reason=payload.get("reason"),
        decided_at=datetime.fromisoformat(str(payload["decided_at"])),
    )
    body = sandbox.webhook_body(verdict)
    url = f"{ctx.app.settings.base_url}/api/webhooks/kyc/sandbox"
    bound = log.bind(session_id=verdict.session_id, attempt=ctx.attempt)
    try:
        response = _webhook_client(ctx.app).post(
            url,
            content=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: sandbox.sign(body)},
        )
    except httpx.HTTPError as exc:
        bound.warning("kyc_sandbox_delivery_unreachable", error=type(exc).__name__)
        raise SandboxDeliveryFailed(f"{url} could not be reached: {exc}") from exc
    if response.status_code != 200:
        bound.warning("kyc_sandbox_delivery_refused", status=response.status_code)
        raise SandboxDeliveryFailed(f"{url} answered {response.status_code}")
    bound.info("kyc_sandbox_decision_delivered", result=response.json().get("status"))


_DECIDED_TEXT: Final[dict[str, tuple[str, str]]] = {
    "approved": (
        "Your identity is verified",
        "Your identity verification was approved. You can now sign contracts.",
    ),
    "declined": (
        "Your identity verification was declined",
        "Your identity verification was declined. You can start a new one.",
    ),
    "expired": (
        "Your identity verification expired",
        "Your identity verification ended before a decision. You can start a new one.",
    ),
}


@task(service.NOTIFY_DECIDED_JOB)
def notify_decided(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    kyc = session.get(KycSession, str(payload["session_id"]))
    if kyc is None or kyc.status not in _DECIDED_TEXT:
        return
    user = get_user(session, kyc.user_id)
    if user is None:
        return
    title, text = _DECIDED_TEXT[kyc.status]
    notify_in_app(
        session,
        user.id,
        "kyc.decided",
        title,
        f"{text} Reason: {kyc.reason}" if kyc.reason and kyc.status == "declined" else text,
        CONTRACTOR_PATH,
        key=f"{ctx.idempotency_key}:in-app",
    )
    if kyc.status not in ("approved", "declined"):
        return
    settings = ctx.app.settings
    send_email(
        session,
        to=user.email,
        template="kyc_decided",
        context={
            "full_name": user.full_name,
            "decision": kyc.status,
            "reason": kyc.reason,
            "kyc_url": f"{settings.base_url}{CONTRACTOR_PATH}",
        },
        key=ctx.idempotency_key,
        settings=settings,
    )


@task(service.NOTIFY_REVIEW_JOB)
def notify_review_needed(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    kyc = session.get(KycSession, str(payload["session_id"]))
    if kyc is None or kyc.status != "review":
        return
    settings = ctx.app.settings
    path = ADMIN_REVIEW_PATH.format(id=kyc.id)
    submitted = kyc.submitted_at or kyc.created_at
    for admin in users_with_role(session, "admin"):
        key = f"{ctx.idempotency_key}:{admin.id}"
        notify_in_app(
            session,
            admin.id,
            "kyc.review_needed",
            "An identity verification needs review",
            f"Verification {kyc.id} ({kyc.provider}) is waiting for a decision.",
            path,
            key=f"{key}:in-app",
        )
        send_email(
            session,
            to=admin.email,
            template="kyc_review_needed",
            context={
                "admin_name": admin.full_name,
                "session_id": kyc.id,
                "provider": kyc.provider,
                "submitted_at": submitted.strftime("%Y-%m-%d %H:%M UTC"),
                "reason": kyc.reason,
                "review_url": f"{settings.base_url}{path}",
            },
            key=key,
            settings=settings,
        )


@task(EXPIRE_JOB)
def expire_stale_sessions(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    expired = service.expire_stale_sessions(session)
    if expired:
        log.info("kyc_sessions_expired", count=expired)


@task(PURGE_JOB)
def purge_documents(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    service.purge_expired_documents(
        session,
        blob_store_for(ctx.app),
        retention_days=ctx.app.settings.kyc_retention_days,
    )


@task(POLL_SCAN_JOB)
def poll_stale_sessions(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    for kyc in service.sessions_to_poll(session):
        stamp = int(kyc.last_polled_at.timestamp()) if kyc.last_polled_at else 0
        enqueue(
            session,
            service.POLL_DECISION_JOB,
            {"session_id": kyc.id, "provider": kyc.provider, "reference": kyc.provider_reference},
            key=f"{service.POLL_DECISION_JOB}:{kyc.id}:{stamp}",
        )


@task(service.POLL_DECISION_JOB, max_attempts=5)
def poll_decision(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    name = str(payload["provider"])
    provider = provider_named(ctx.app, name)
    try:
        # KycProviderUnavailable propagates: the worker retries with backoff.
        decision = provider.fetch_decision(str(payload["reference"]))
    except KycProviderRejected as exc:
        # Our configuration is wrong; asking again will not help until it is fixed.
        log.error("kyc_poll_rejected", provider=name, status=exc.status_code)
        return
    if decision is None:
        return
    service.apply_provider_decision(session, name, decision, source="poll")


periodic(EXPIRE_JOB, 600)
periodic(PURGE_JOB, 3600)
periodic(POLL_SCAN_JOB, 600)
