"""KYC jobs: the sandbox's webhook delivery, notifications, retention, expiry, polling."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from mindlinks.jobs.models import Job
from mindlinks.jobs.service import TASKS, JobContext
from mindlinks.kyc import service
from mindlinks.kyc.models import KycDocument, KycSession, KycWebhookEvent
from mindlinks.kyc.providers import (
    PROVIDERS_EXTRA,
    WEBHOOK_TRANSPORT_EXTRA,
    KycProviderRejected,
    KycProviderUnavailable,
    ProviderDecision,
)
from mindlinks.kyc.sealing import keyring_for
from mindlinks.kyc.tasks import SandboxDeliveryFailed
from mindlinks.ledger import repository as ledger_repository
from mindlinks.notifications.models import DevMailboxMessage, Notification
from mindlinks.platform.blobs import blob_store_for
from mindlinks.platform.blobs.base import BlobNotFound
from mindlinks.platform.clock import now
from mindlinks.platform.pagination import PageParams
from tests.factories import auth_headers, make_user, problem, run_jobs
from tests.kyc.factories import actor, capture_files, reading_sandbox, start_session, submit_capture

DELIVER = (service.DELIVER_SANDBOX_DECISION_JOB,)


def mails_to(session, address: str) -> list[DevMailboxMessage]:
    return list(
        session.scalars(
            select(DevMailboxMessage)
            .where(DevMailboxMessage.recipient == address)
            .order_by(DevMailboxMessage.id)
        )
    )


def notes_of(session, user_id: str) -> list[Notification]:
    return list(session.scalars(select(Notification).where(Notification.user_id == user_id)))


def entry_payloads(session, kyc_id: str) -> list[dict]:
    rows = ledger_repository.entries(session, subject=f"kyc:{kyc_id}", limit=10)
    return [json.loads(row.entry_bytes) for row in rows]


def run_job(session, app_context, name: str, payload: dict, key: str = "test-key") -> None:
    TASKS[name].handler(session, payload, JobContext("job-id", name, 1, key, app_context))


@pytest.fixture
def second_admin(session):
    return make_user(session, role="admin", full_name="Bo Backup")


# --- the whole sandbox journey, over the real webhook path ------------------------------


def test_the_sandbox_journey_ends_approved_with_ledger_email_and_me(
    client, session, app_context, contractor, contractor_headers, webhook_transport
):
    started = client.post("/api/kyc/sessions", headers=contractor_headers).json()
    response = client.post(
        f"/api/kyc/sandbox/{started['id']}/submit",
        headers=contractor_headers,
        files=capture_files(),
        data={"document_number": "P1234567"},
    )
    assert response.status_code == 202, response.text
    assert client.get("/api/me", headers=contractor_headers).json()["kyc_status"] == "submitted"

    assert run_jobs(session, app_context, names=DELIVER) == 1
    kyc = session.get(KycSession, started["id"])
    session.refresh(kyc)
    assert kyc.status == "approved"
    assert kyc.provider_status == "9001 approved"
    event = session.scalar(select(KycWebhookEvent).where(KycWebhookEvent.session_id == kyc.id))
    assert event.source == "webhook" and event.event_id == f"{kyc.provider_reference}:approved"

    [entry] = entry_payloads(session, kyc.id)
    assert entry["kind"] == "kyc.decided" and entry["payload"]["decision"] == "approved"
    shas = {
        d.side: d.sha256
        for d in session.scalars(select(KycDocument).where(KycDocument.session_id == kyc.id))
    }
    assert {d["side"]: d["sha256"] for d in entry["payload"]["documents"]} == shas
    assert "P1234567" not in json.dumps(entry)

    run_jobs(session, app_context)
    [mail] = mails_to(session, contractor.email)
    assert "verified" in mail.subject
    assert f"{app_context.settings.base_url}/kyc" in mail.text_body
    [note] = notes_of(session, contractor.id)
    assert note.kind == "kyc.decided" and note.link == "/kyc"

    me = client.get("/api/me", headers=contractor_headers).json()
    assert me["kyc_status"] == "approved"
    service.require_verified(session, contractor.id)
    # The contractor reads the entries of their own subject; another contractor cannot.
    listed = client.get(f"/api/ledger/entries?subject=kyc:{kyc.id}", headers=contractor_headers)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1
    stranger = auth_headers(client, make_user(session, role="contractor"))
    problem(client.get(f"/api/ledger/entries?subject=kyc:{kyc.id}", headers=stranger), 404)


def test_a_decl_number_is_declined_with_its_reason_and_the_contractor_may_retry(
    client, session, app_context, contractor, contractor_headers, webhook_transport
):
    kyc = start_session(session, app_context, contractor)
    submit_capture(session, app_context, contractor, kyc, document_number="DECL0001")
    run_jobs(session, app_context)
    session.refresh(kyc)
    assert kyc.status == "declined"
    assert "DECL" in (kyc.reason or "")
    [mail] = mails_to(session, contractor.email)
    assert "declined" in mail.subject and "DECL" in mail.text_body
    again = client.post("/api/kyc/sessions", headers=contractor_headers)
    assert again.status_code == 201 and again.json()["id"] != kyc.id


def test_review_then_an_admin_decision(
    client, session, app_context, contractor, admin, second_admin, admin_headers, webhook_transport
):
    kyc = start_session(session, app_context, contractor)
    submit_capture(session, app_context, contractor, kyc, document_number="REVW0042")
    run_jobs(session, app_context)
    session.refresh(kyc)
    assert kyc.status == "review"
    assert entry_payloads(session, kyc.id) == []
    for person in (admin, second_admin):
        [mail] = mails_to(session, person.email)
        assert "review" in mail.subject
        assert f"/admin/kyc/sessions/{kyc.id}" in mail.text_body
        [note] = notes_of(session, person.id)
        assert note.link == f"/admin/kyc/sessions/{kyc.id}"
    assert mails_to(session, contractor.email) == []

    queue = client.get("/api/admin/kyc/reviews", headers=admin_headers).json()["items"]
    assert kyc.id in [item["id"] for item in queue]
    response = client.post(
        f"/api/admin/kyc/sessions/{kyc.id}/decision",
        headers=admin_headers,
        json={"decision": "approved", "reason": "The photo matches the document."},
    )
    assert response.status_code == 200, response.text
    [entry] = entry_payloads(session, kyc.id)
    assert entry["actor"] == f"user:{admin.id}"
    assert entry["payload"]["decided_by"] == "admin"
    assert entry["payload"]["reason_code"] == "admin_approved"
    assert "The photo matches" not in json.dumps(entry)
    run_jobs(session, app_context)
    [mail] = mails_to(session, contractor.email)
    assert "verified" in mail.subject
    assert client.get("/api/admin/kyc/reviews", headers=admin_headers).json()["items"] == []


# --- delivery --------------------------------------------------------------------


def test_delivery_fails_and_is_retried_while_the_endpoint_is_down(
    session, app_context, contractor, client
):
    kyc = start_session(session, app_context, contractor)
    submit_capture(session, app_context, contractor, kyc)
    job = session.scalar(select(Job).where(Job.name == service.DELIVER_SANDBOX_DECISION_JOB))
    assert job.max_attempts > 1
    down = [
        httpx.MockTransport(lambda request: httpx.Response(503)),
        httpx.MockTransport(lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused"))),
    ]
    for transport in down:
        app_context.extras[WEBHOOK_TRANSPORT_EXTRA] = transport
        try:
            with pytest.raises(SandboxDeliveryFailed):
                run_job(session, app_context, job.name, dict(job.payload))
        finally:
            app_context.extras.pop(WEBHOOK_TRANSPORT_EXTRA, None)
    session.refresh(kyc)
    assert kyc.status == "submitted"
    # Back up: the next attempt delivers.
    app_context.extras[WEBHOOK_TRANSPORT_EXTRA] = client._transport
    try:
        run_job(session, app_context, job.name, dict(job.payload))
    finally:
        app_context.extras.pop(WEBHOOK_TRANSPORT_EXTRA, None)
    session.refresh(kyc)
    assert kyc.status == "approved"


def test_delivery_posts_a_signed_veriff_shaped_webhook(session, app_context, contractor, sign):
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "applied"})

    kyc = start_session(session, app_context, contractor)
    submit_capture(session, app_context, contractor, kyc, document_number="REVW1")
    app_context.extras[WEBHOOK_TRANSPORT_EXTRA] = httpx.MockTransport(capture)
    try:
        run_jobs(session, app_context, names=DELIVER)
    finally:
        app_context.extras.pop(WEBHOOK_TRANSPORT_EXTRA, None)
    [request] = seen
    assert str(request.url) == f"{app_context.settings.base_url}/api/webhooks/kyc/sandbox"
    assert request.headers["X-HMAC-SIGNATURE"] == sign(request.content)
    body = json.loads(request.content)
    assert body["status"] == "success"
    assert set(body["verification"]) == {
        "id",
        "code",
        "status",
        "reason",
        "vendorData",
        "decisionTime",
    }
    assert body["verification"]["status"] == "review"
    assert body["verification"]["vendorData"] == kyc.id
    assert body["verification"]["id"] == kyc.provider_reference
    assert "REVW1" not in request.content.decode()


def test_the_sandbox_can_be_polled_for_what_it_decided(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    sandbox = reading_sandbox(app_context, session)
    assert sandbox.fetch_decision(kyc.provider_reference) is None
    submit_capture(session, app_context, contractor, kyc, document_number="DECL9")
    polled = sandbox.fetch_decision(kyc.provider_reference)
    assert polled is not None
    assert polled.outcome == "declined"
    assert polled.event_id == f"{kyc.provider_reference}:declined"
    assert polled.vendor_session_id == kyc.id


# --- notifications ---------------------------------------------------------------


def test_a_retried_notification_job_sends_once(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    service.apply_provider_decision(
        session,
        "sandbox",
        ProviderDecision(
            f"{kyc.provider_reference}:declined", kyc.provider_reference, "declined", reason="Glare"
        ),
    )
    payload = {"session_id": kyc.id, "status": "declined"}
    for _ in range(3):
        run_job(
            session, app_context, service.NOTIFY_DECIDED_JOB, payload, key="kyc.notify_decided:x"
        )
    assert len(mails_to(session, contractor.email)) == 1
    assert len(notes_of(session, contractor.id)) == 1


def test_an_expiry_notifies_in_app_only(session, app_context, contractor, move_clock):
    kyc = start_session(session, app_context, contractor)
    move_clock(timedelta(seconds=app_context.settings.kyc_session_ttl_seconds + 1))
    run_job(session, app_context, "kyc.expire_stale_sessions", {})
    session.refresh(kyc)
    assert kyc.status == "expired" and kyc.reason_code == "timed_out"
    run_jobs(session, app_context)
    assert mails_to(session, contractor.email) == []
    [note] = notes_of(session, contractor.id)
    assert "expired" in note.title
    assert entry_payloads(session, kyc.id) == []


def test_the_expiry_job_leaves_fresh_and_reviewed_sessions_alone(
    session, app_context, contractor, move_clock
):
    kyc = start_session(session, app_context, contractor)
    session.execute(update(KycSession).where(KycSession.id == kyc.id).values(status="review"))
    other = make_user(session, role="contractor")
    fresh = start_session(session, app_context, other)
    move_clock(timedelta(seconds=app_context.settings.kyc_session_ttl_seconds - 60))
    run_job(session, app_context, "kyc.expire_stale_sessions", {})
    move_clock(timedelta(days=30))
    run_job(session, app_context, "kyc.expire_stale_sessions", {})
    session.refresh(kyc)
    session.refresh(fresh)
    assert kyc.status == "review"
    assert fresh.status == "expired"


# --- retention -------------------------------------------------------------------


def test_images_are_purged_after_the_retention_period_and_the_evidence_stays(
    session, app_context, contractor, admin, move_clock, webhook_transport
):
    kyc = start_session(session, app_context, contractor)
    submit_capture(session, app_context, contractor, kyc, document_number="DECL77")
    run_jobs(session, app_context)
    session.refresh(kyc)
    assert kyc.status == "declined"
    documents = list(session.scalars(select(KycDocument).where(KycDocument.session_id == kyc.id)))
    hashes = {d.side: d.sha256 for d in documents}
    store = blob_store_for(app_context)
    retention = app_context.settings.kyc_retention_days

    move_clock(timedelta(days=retention - 1))
    run_job(session, app_context, "kyc.purge_documents", {})
    for document in documents:
        session.refresh(document)
        assert document.purged_at is None

    move_clock(timedelta(days=2))
    run_job(session, app_context, "kyc.purge_documents", {})
    for document in documents:
        session.refresh(document)
        assert document.purged_at is not None
        assert document.sha256 == hashes[document.side]
        with pytest.raises(BlobNotFound):
            store.get(document.blob_key, associated_data=b"any")
    session.refresh(kyc)
    assert kyc.status == "declined" and "DECL" in (kyc.reason or "")
    view = service.session_for_admin(
        session,
        actor(admin),
        kyc.id,
        settings=app_context.settings,
        store=store,
        keyring=keyring_for(app_context),
    )
    assert all(d.url is None and d.purged_at is not None for d in view.documents)
    assert len(entry_payloads(session, kyc.id)) == 1
    # Running again finds nothing left to do.
    assert service.purge_expired_documents(session, store, retention_days=retention) == 0


def test_open_sessions_keep_their_images(session, app_context, contractor, move_clock):
    kyc = start_session(session, app_context, contractor)
    submit_capture(session, app_context, contractor, kyc, document_number="REVW5")
    session.execute(update(KycSession).where(KycSession.id == kyc.id).values(status="review"))
    move_clock(timedelta(days=365))
    assert (
        service.purge_expired_documents(session, blob_store_for(app_context), retention_days=30)
        == 0
    )


# --- polling fallback ---------------------------------------------------------------


class StubProvider:
    """A real provider's stand-in that answers polls from a script."""

    name = "veriff"
    shared_secret = "s"
    api_key = "k"

    def __init__(self) -> None:
        self.answers: list[object] = []
        self.asked: list[str] = []

    def start_session(self, **_: object):  # pragma: no cover - not used here
        raise NotImplementedError

    def parse_webhook(self, raw_body, headers):  # pragma: no cover - not used here
        raise NotImplementedError

    def fetch_decision(self, reference: str):
        self.asked.append(reference)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def stub(app_context):
    provider = StubProvider()
    slots = app_context.extras.setdefault(PROVIDERS_EXTRA, {})
    previous = slots.get("veriff")
    slots["veriff"] = provider
    yield provider
    if previous is None:
        slots.pop("veriff", None)
    else:
        slots["veriff"] = previous


def veriff_session(session, user, reference: str = "v-ref-1") -> KycSession:
    kyc = KycSession(
        user_id=user.id,
        provider="veriff",
        provider_reference=reference,
        verification_url="https://magic.veriff.me/v/x",
        status="submitted",
        extracted={},
        created_at=now(),
        expires_at=now() + timedelta(days=7),
    )
    session.add(kyc)
    session.flush()
    return kyc


def test_a_quiet_real_provider_session_is_polled_and_decided(
    session, app_context, contractor, stub, move_clock
):
    kyc = veriff_session(session, contractor)
    run_job(session, app_context, "kyc.poll_stale_sessions", {})
    assert session.scalars(select(Job).where(Job.name == service.POLL_DECISION_JOB)).all() == []

    move_clock(timedelta(minutes=31))
    stub.answers = [
        None,
        ProviderDecision("v-ref-1:approved", "v-ref-1", "approved", vendor_session_id=kyc.id),
    ]
    run_job(session, app_context, "kyc.poll_stale_sessions", {})
    run_jobs(session, app_context, names=(service.POLL_DECISION_JOB,))
    session.refresh(kyc)
    assert kyc.status == "submitted"  # the first poll: not decided yet
    run_job(session, app_context, "kyc.poll_stale_sessions", {})  # asked again only after a while
    assert stub.asked == ["v-ref-1"]

    move_clock(timedelta(minutes=31))
    run_job(session, app_context, "kyc.poll_stale_sessions", {})
    run_jobs(session, app_context, names=(service.POLL_DECISION_JOB,))
    session.refresh(kyc)
    assert kyc.status == "approved"
    event = session.scalar(select(KycWebhookEvent).where(KycWebhookEvent.session_id == kyc.id))
    assert event.source == "poll"
    assert len(entry_payloads(session, kyc.id)) == 1


def test_a_poll_retries_when_the_provider_is_down_and_gives_up_when_refused(
    session, app_context, contractor, stub
):
    kyc = veriff_session(session, contractor)
    payload = {"session_id": kyc.id, "provider": "veriff", "reference": kyc.provider_reference}
    stub.answers = [KycProviderUnavailable("down"), KycProviderRejected("bad key", status_code=401)]
    with pytest.raises(KycProviderUnavailable):
        run_job(session, app_context, service.POLL_DECISION_JOB, payload)
    run_job(session, app_context, service.POLL_DECISION_JOB, payload)  # logged, not raised
    session.refresh(kyc)
    assert kyc.status == "submitted"


def test_the_review_queue_pages_oldest_first(session, app_context, admin):
    ids = []
    for _ in range(3):
        user = make_user(session, role="contractor")
        kyc = start_session(session, app_context, user)
        session.execute(update(KycSession).where(KycSession.id == kyc.id).values(status="review"))
        ids.append(kyc.id)
    first, cursor = service.review_queue(session, actor(admin), PageParams(limit=2))
    rest, end = service.review_queue(session, actor(admin), PageParams(limit=2, cursor=cursor))
    assert [k.id for k in [*first, *rest]] == ids
    assert end is None
