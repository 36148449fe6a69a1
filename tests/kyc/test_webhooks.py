"""`POST /api/webhooks/kyc/{provider}`: the signature first, then one application per event."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from mindlinks.kyc.models import KycSession, KycWebhookEvent
from mindlinks.kyc.providers import PROVIDERS_EXTRA
from mindlinks.kyc.providers.veriff import VeriffProvider
from mindlinks.ledger import repository as ledger_repository
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext
from mindlinks.platform.ids import new_id
from tests.factories import problem
from tests.kyc.factories import start_session, submit_capture

VERIFF_KEY = "veriff-api-key-for-tests"
VERIFF_SECRET = "veriff-shared-secret-for-tests"


def verification(kyc: KycSession, status: str = "approved", code: int = 9001, **extra) -> dict:
    return {
        "id": kyc.provider_reference,
        "code": code,
        "status": status,
        "reason": None,
        "vendorData": kyc.id,
        "decisionTime": now().isoformat(),
        **extra,
    }


@pytest.fixture
def submitted(session, app_context, contractor) -> KycSession:
    kyc = start_session(session, app_context, contractor)
    return submit_capture(session, app_context, contractor, kyc)


@pytest.fixture
def veriff(app_context: AppContext, settings) -> Iterator[VeriffProvider]:
    """A configured Veriff adapter in the app's provider slots."""
    provider = VeriffProvider(
        settings.model_copy(
            update={"veriff_api_key": VERIFF_KEY, "veriff_shared_secret": VERIFF_SECRET}
        )
    )
    slots = app_context.extras.setdefault(PROVIDERS_EXTRA, {})
    previous = slots.get("veriff")
    slots["veriff"] = provider
    yield provider
    if previous is None:
        slots.pop("veriff", None)
    else:
        slots["veriff"] = previous


def events(session) -> int:
    return session.scalar(select(func.count()).select_from(KycWebhookEvent))


def test_a_signed_decision_is_applied_and_answered_200(session, submitted, post_webhook):
    response = post_webhook(verification(submitted))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "applied"}
    session.refresh(submitted)
    assert submitted.status == "approved"
    assert submitted.provider_status == "9001 approved"


def test_a_missing_signature_is_401_and_changes_nothing(session, submitted, post_webhook):
    before = events(session)
    problem(
        post_webhook(verification(submitted), signature=None), 401, "kyc-webhook-signature-invalid"
    )
    session.refresh(submitted)
    assert submitted.status == "submitted"
    assert events(session) == before


@pytest.mark.parametrize(
    "signature",
    ["0" * 64, "not-hex", "", hmac.new(b"wrong-secret", b"{}", hashlib.sha256).hexdigest()],
    ids=["zeros", "garbage", "empty", "wrong-key"],
)
def test_a_bad_signature_is_401(session, submitted, post_webhook, signature):
    problem(post_webhook(verification(submitted), signature=signature), 401)
    session.refresh(submitted)
    assert submitted.status == "submitted"


def test_the_signature_covers_the_exact_raw_body(client, session, submitted, sign):
    raw = json.dumps({"status": "success", "verification": verification(submitted)}).encode()
    # The same JSON re-serialized with other whitespace is other bytes: refused.
    tampered = json.dumps(json.loads(raw), indent=2).encode()
    response = client.post(
        "/api/webhooks/kyc/sandbox", content=tampered, headers={"X-HMAC-SIGNATURE": sign(raw)}
    )
    problem(response, 401)
    response = client.post(
        "/api/webhooks/kyc/sandbox", content=raw, headers={"x-hmac-signature": sign(raw).upper()}
    )
    assert response.status_code == 200


def test_a_replayed_webhook_is_a_200_no_op(session, submitted, post_webhook):
    body = verification(submitted)
    assert post_webhook(body).json() == {"status": "applied"}
    before = events(session)
    replay = post_webhook(body)
    assert replay.status_code == 200
    assert replay.json() == {"status": "duplicate"}
    assert events(session) == before
    entries = ledger_repository.entries(session, subject=f"kyc:{submitted.id}", limit=10)
    assert len(entries) == 1


def test_an_unknown_verification_is_logged_and_answered_200(session, post_webhook, submitted):
    ghost = verification(submitted, id="sbx-does-not-exist", vendorData=None)
    response = post_webhook(ghost)
    assert response.status_code == 200
    assert response.json() == {"status": "unknown"}
    session.refresh(submitted)
    assert submitted.status == "submitted"


def test_a_sandbox_webhook_naming_a_veriff_session_changes_nothing(
    session, contractor, post_webhook
):
    other = KycSession(
        user_id=contractor.id,
        provider="veriff",
        provider_reference=f"veriff-{new_id()}",
        verification_url="https://magic.veriff.me/v/abc",
        status="submitted",
        extracted={},
        expires_at=now(),
    )
    session.add(other)
    session.flush()
    response = post_webhook(verification(other))
    assert response.status_code == 200
    assert response.json() == {"status": "unknown"}
    session.refresh(other)
    assert other.status == "submitted"


def test_a_veriff_webhook_naming_a_sandbox_session_changes_nothing(
    client, session, submitted, veriff
):
    raw = json.dumps({"status": "success", "verification": verification(submitted)}).encode()
    headers = {
        "X-AUTH-CLIENT": VERIFF_KEY,
        "X-HMAC-SIGNATURE": hmac.new(VERIFF_SECRET.encode(), raw, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
    }
    response = client.post("/api/webhooks/kyc/veriff", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "unknown"}
    session.refresh(submitted)
    assert submitted.status == "submitted"


def test_a_veriff_decision_reaches_its_own_session(client, session, contractor, veriff):
    kyc = KycSession(
        user_id=contractor.id,
        provider="veriff",
        provider_reference="c1b2a3d4-0000-4000-8000-000000000001",
        verification_url="https://magic.veriff.me/v/abc",
        status="created",
        extracted={},
        expires_at=now(),
    )
    session.add(kyc)
    session.flush()
    body = verification(
        kyc,
        status="resubmission_requested",
        code=9103,
        document={"type": "PASSPORT", "country": "EE", "number": "X1"},
    )
    raw = json.dumps({"status": "success", "verification": body}).encode()
    headers = {
        "X-AUTH-CLIENT": VERIFF_KEY,
        "X-HMAC-SIGNATURE": hmac.new(VERIFF_SECRET.encode(), raw, hashlib.sha256).hexdigest(),
    }
    assert client.post("/api/webhooks/kyc/veriff", content=raw, headers=headers).json() == {
        "status": "applied"
    }
    session.refresh(kyc)
    assert kyc.status == "declined"
    assert kyc.reason_code == "resubmission_requested"
    assert kyc.extracted == {"document_type": "PASSPORT", "document_country": "EE"}


def test_an_unknown_or_unconfigured_provider_is_404(client, app_context):
    problem(client.post("/api/webhooks/kyc/acme", content=b"{}"), 404)
    slots = app_context.extras.setdefault(PROVIDERS_EXTRA, {})
    slots.pop("veriff", None)  # the test settings hold no Veriff secret
    problem(
        client.post("/api/webhooks/kyc/veriff", content=b"{}"), 404, "kyc-provider-not-configured"
    )
    problem(
        client.post("/api/webhooks/kyc/onfido", content=b"{}"), 404, "kyc-provider-not-configured"
    )


def test_a_signed_body_that_is_no_decision_is_422(client, sign):
    for raw in (
        b"not json",
        b"[]",
        b'{"status": "success"}',
        b'{"verification": {"id": "x", "status": "maybe", "code": 1}}',
    ):
        response = client.post(
            "/api/webhooks/kyc/sandbox", content=raw, headers={"X-HMAC-SIGNATURE": sign(raw)}
        )
        problem(response, 422, "kyc-webhook-payload-invalid")


def test_a_decision_on_a_final_session_is_acknowledged_but_ignored(
    session, submitted, post_webhook
):
    post_webhook(verification(submitted, status="declined", code=9102, reason="Blurry"))
    response = post_webhook(verification(submitted))
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    session.refresh(submitted)
    assert submitted.status == "declined"
    assert submitted.reason == "Blurry"
