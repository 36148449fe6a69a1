"""The identity-verification pages, driven through TestClient like a browser.

The sandbox's decision reaches the platform the way it does in production: the
capture queues a job that POSTs a signed webhook to the app (here through the
test client's transport), so `run_jobs` is where a decision lands.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

import mindlinks.kyc.tasks  # noqa: F401  (registers the jobs the capture queues)
from mindlinks.identity.models import User
from mindlinks.kyc.lifecycle import move
from mindlinks.kyc.models import KycDocument, KycSession
from mindlinks.kyc.providers import WEBHOOK_TRANSPORT_EXTRA
from mindlinks.platform.context import AppContext
from mindlinks.web.shell import CSP
from tests.factories import make_user, run_jobs
from tests.kyc.factories import document_bytes, noise_jpeg, selfie_bytes
from tests.web.test_routes import csrf, post, sign_in

CAPTURE_PATH = re.compile(r"^http://testserver/kyc/sandbox/([0-9a-z]{26})$")
BLOB_SRC = re.compile(r'<img src="(/api/blobs/[^"]+)"')


# --- helpers ------------------------------------------------------------------


@pytest.fixture
def webhook_transport(client: TestClient, app_context: AppContext) -> Iterator[None]:
    """The sandbox's webhook job speaks HTTP to the app under test."""
    app_context.extras[WEBHOOK_TRANSPORT_EXTRA] = client._transport
    yield
    app_context.extras.pop(WEBHOOK_TRANSPORT_EXTRA, None)


@pytest.fixture
def contractor(session: Session) -> User:
    return make_user(session, role="contractor", full_name="Casey Contractor")


@pytest.fixture
def browser(app: object, contractor: User) -> TestClient:
    """The contractor's browser."""
    client = TestClient(app, raise_server_exceptions=False)  # type: ignore[arg-type]
    sign_in(client, contractor.email)
    return client


def new_browser(app: object, user: User) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)  # type: ignore[arg-type]
    sign_in(client, user.email)
    return client


def start(browser: TestClient) -> str:
    """Start (or resume) from the status page; answers the session id."""
    r = post(browser, "/kyc/start", follow_redirects=False)
    assert r.status_code == 303, r.text
    match = CAPTURE_PATH.match(r.headers["location"])
    assert match, r.headers["location"]
    return match.group(1)


def files(
    *,
    front: bytes | None = None,
    back: bytes | None = None,
    selfie: bytes | None = None,
    seed: int = 1,
) -> dict[str, tuple[str, bytes, str]]:
    return {
        "document_front": ("front.jpg", front or document_bytes(seed), "image/jpeg"),
        "document_back": ("back.png", back or document_bytes(seed + 500, "PNG"), "image/png"),
        "selfie": ("selfie.jpg", selfie or selfie_bytes(seed), "image/jpeg"),
    }


def submit(
    browser: TestClient,
    session_id: str,
    number: str = "AB1234567",
    upload: dict[str, tuple[str, bytes, str]] | None = None,
) -> Response:
    return browser.post(
        f"/kyc/sandbox/{session_id}",
        data={"csrf_token": csrf(browser), "document_number": number},
        files=upload or files(),
        follow_redirects=False,
    )


def capture(
    browser: TestClient, session: Session, app_context: AppContext, number: str = "AB1234567"
) -> str:
    """Start, submit, and let the sandbox's decision land."""
    session_id = start(browser)
    r = submit(browser, session_id, number)
    assert r.status_code == 303, r.text
    run_jobs(session, app_context)
    return session_id


def text_of(response: Response) -> str:
    """The page's visible words, tags dropped, for asserting on what people read."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


# --- who may see what ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/kyc",
        "/kyc/sandbox/01jzzzzzzzzzzzzzzzzzzzzzzz",
        "/kyc/sessions/01jzzzzzzzzzzzzzzzzzzzzzzz",
        "/admin/kyc",
        "/admin/kyc/sessions/01jzzzzzzzzzzzzzzzzzzzzzzz",
    ],
)
def test_kyc_pages_send_anonymous_visitors_to_sign_in(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize(
    "path",
    [
        "/kyc/start",
        "/kyc/sandbox/01jzzzzzzzzzzzzzzzzzzzzzzz",
        "/admin/kyc/sessions/01jzzzzzzzzzzzzzzzzzzzzzzz/decision",
    ],
)
def test_kyc_forms_send_anonymous_posts_to_sign_in(client: TestClient, path: str) -> None:
    r = post(client, path, {"decision": "approved", "reason": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_a_client_has_no_verification_page(app: object, session: Session) -> None:
    client_user = make_user(session, role="client")
    browser = new_browser(app, client_user)
    r = browser.get("/kyc")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert post(browser, "/kyc/start").status_code == 403


def test_another_contractor_or_client_gets_404_on_someone_elses_session(
    app: object, session: Session, browser: TestClient, app_context: AppContext
) -> None:
    session_id = start(browser)
    for role in ("contractor", "client"):
        other = new_browser(app, make_user(session, role=role))
        for url in (f"/kyc/sandbox/{session_id}", f"/kyc/sessions/{session_id}"):
            r = other.get(url, follow_redirects=False)
            assert r.status_code == 404, (role, url)
            assert "text/html" in r.headers["content-type"]
        r = submit(other, session_id)
        assert r.status_code == 404, role
        assert "Page not found" in r.text
        r = other.get(f"/admin/kyc/sessions/{session_id}")
        assert r.status_code == 404, role
        r = post(
            other,
            f"/admin/kyc/sessions/{session_id}/decision",
            {"decision": "approved", "reason": "looks fine"},
        )
        assert r.status_code == 404, role
    # Nothing was captured by the intruders.
    assert session.scalar(select(KycSession.status).where(KycSession.id == session_id)) == (
        "created"
    )


def test_admin_pages_refuse_contractors_and_clients(
    app: object, session: Session, browser: TestClient
) -> None:
    session_id = start(browser)
    assert browser.get("/admin/kyc").status_code == 403
    # Their own session: readable, so the admin check answers 403 (not 404).
    assert browser.get(f"/admin/kyc/sessions/{session_id}").status_code == 403
    r = post(
        browser,
        f"/admin/kyc/sessions/{session_id}/decision",
        {"decision": "approved", "reason": "me"},
    )
    assert r.status_code == 403
    client_browser = new_browser(app, make_user(session, role="client"))
    assert client_browser.get("/admin/kyc").status_code == 403


# --- the contractor's journey ---------------------------------------------------------------


def test_dashboard_card_offers_to_start_verification(browser: TestClient) -> None:
    r = browser.get("/dashboard")
    assert r.status_code == 200
    page = text_of(r)
    assert "Identity verification" in page and "not started" in page
    assert 'action="/kyc/start"' in r.text
    assert "Start verification" in page
    assert 'href="/kyc"' in r.text  # the nav link


def test_start_opens_the_sandbox_capture_page_with_camera_inputs(
    browser: TestClient,
) -> None:
    session_id = start(browser)
    r = browser.get(f"/kyc/sandbox/{session_id}")
    assert r.status_code == 200
    assert f'action="/kyc/sandbox/{session_id}" enctype="multipart/form-data"' in r.text
    for name, camera in (
        ("document_front", "environment"),
        ("document_back", "environment"),
        ("selfie", "user"),
    ):
        tag = re.search(rf'<input id="f-{name}" name="{name}" type="file"[^>]*>', r.text)
        assert tag, name
        assert 'accept="image/jpeg,image/png,image/webp"' in tag.group(0)
        assert f'capture="{camera}"' in tag.group(0)
        assert (" required" in tag.group(0)) is (name != "document_back")
    assert 'name="document_number"' in r.text
    page = text_of(r)
    assert "DECL" in page and "REVW" in page and "Anything else is approved" in page
    assert "<script" not in r.text
    # Resuming hands back the same session rather than opening a second.
    assert start(browser) == session_id
    card = text_of(browser.get("/dashboard"))
    assert "not finished" in card and "Resume verification" in card


def test_capture_then_result_page_shows_the_decision(
    browser: TestClient,
    session: Session,
    app_context: AppContext,
    webhook_transport: None,
) -> None:
    session_id = start(browser)
    r = submit(browser, session_id)
    assert r.status_code == 303
    assert r.headers["location"] == f"/kyc/sessions/{session_id}"

    waiting = browser.get(f"/kyc/sessions/{session_id}")
    assert waiting.status_code == 200
    assert '<meta http-equiv="refresh" content="3">' in waiting.text
    assert "your photos were sent for verification" in text_of(waiting)
    assert "We are checking your photos" in text_of(waiting)
    assert "checking" in text_of(browser.get("/dashboard"))
    stored = session.scalars(
        select(KycDocument.side).where(KycDocument.session_id == session_id)
    ).all()
    assert sorted(stored) == ["back", "front", "selfie"]

    run_jobs(session, app_context)
    decided = browser.get(f"/kyc/sessions/{session_id}")
    assert 'http-equiv="refresh"' not in decided.text
    assert "Your identity is verified" in text_of(decided)
    assert 'class="badge badge-approved"' in decided.text
    card = browser.get("/dashboard")
    assert "You can sign contracts" in text_of(card)
    assert 'action="/kyc/start"' not in card.text
    # An approved contractor starting again is told so, not shown an error page.
    r = post(browser, "/kyc/start", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/kyc"
    assert "already verified" in text_of(browser.get("/kyc"))


def test_declined_verification_shows_the_reason_and_can_start_again(
    browser: TestClient, session: Session, app_context: AppContext, webhook_transport: None
) -> None:
    first = capture(browser, session, app_context, number="DECL0001")
    page = text_of(browser.get("/dashboard"))
    assert "declined" in page
    assert "Reason: The sandbox declines document numbers that start with DECL." in page
    assert "Start again" in page
    result = text_of(browser.get(f"/kyc/sessions/{first}"))
    assert "Your verification was declined" in result and "DECL" in result
    second = start(browser)
    assert second != first
    assert browser.get(f"/kyc/sandbox/{second}").status_code == 200


def test_submitted_session_asks_to_wait_instead_of_starting_again(
    browser: TestClient,
) -> None:
    session_id = start(browser)
    assert submit(browser, session_id).status_code == 303
    r = post(browser, "/kyc/start", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/kyc/sessions/{session_id}"
    # The capture page no longer takes photos: the visitor is shown where it stands.
    r = browser.get(f"/kyc/sandbox/{session_id}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/kyc/sessions/{session_id}"
    r = submit(browser, session_id)
    assert r.status_code == 303 and r.headers["location"] == f"/kyc/sessions/{session_id}"
    page = browser.get(f"/kyc/sessions/{session_id}")
    assert "accepts no more documents" in text_of(page)
    assert 'class="flash flash-error"' in page.text


@pytest.mark.parametrize(
    ("upload", "field", "message"),
    [
        (files(front=b"%PDF-1.7 not an image at all" * 10), "document_front", "not"),
        (files(selfie=document_bytes(1)), "selfie", "same image as the document"),
        (files(back=document_bytes(9)[:4000]), "document_back", ""),
    ],
    ids=["not-an-image", "selfie-is-the-document", "truncated"],
)
def test_a_bad_file_shows_the_form_again_with_the_reason(
    browser: TestClient,
    session: Session,
    upload: dict[str, tuple[str, bytes, str]],
    field: str,
    message: str,
) -> None:
    session_id = start(browser)
    r = submit(browser, session_id, "AB99", upload)
    assert r.status_code == 422
    assert "text/html" in r.headers["content-type"]
    assert "There is a problem" in r.text
    error = re.search(rf'<p class="field-error" id="f-{field}-error">(.*?)</p>', r.text, re.S)
    assert error, r.text
    assert message in unescape(error.group(1))
    assert 'value="AB99"' in r.text  # what was typed is kept
    assert session.scalar(select(KycSession.status).where(KycSession.id == session_id)) == (
        "created"
    )


def test_a_missing_document_number_is_shown_next_to_its_field(browser: TestClient) -> None:
    session_id = start(browser)
    r = submit(browser, session_id, "   ")
    assert r.status_code == 422
    assert 'id="f-document_number-error"' in r.text


def test_capture_form_without_the_csrf_token_is_refused(browser: TestClient) -> None:
    session_id = start(browser)
    r = browser.post(f"/kyc/sandbox/{session_id}", data={"document_number": "AB1"}, files=files())
    assert r.status_code == 403
    assert "This form has expired" in r.text


def test_the_capture_page_takes_photos_larger_than_the_global_body_limit(
    browser: TestClient, session: Session, app_context: AppContext
) -> None:
    big = noise_jpeg(2 * 1024 * 1024)
    assert len(big) > app_context.settings.max_body_bytes
    session_id = start(browser)
    r = submit(browser, session_id, upload=files(front=big))
    assert r.status_code == 303, r.text[:500]
    size = session.scalar(
        select(KycDocument.size_bytes).where(
            KycDocument.session_id == session_id, KycDocument.side == "front"
        )
    )
    assert size == len(big)
    # Other pages keep the global limit.
    r = post(browser, "/kyc/start", {"padding": "x" * (2 * 1024 * 1024)})
    assert r.status_code == 413


def test_problems_starting_a_verification_are_flashed(
    app: object, session: Session, app_context: AppContext
) -> None:
    unverified = make_user(session, role="contractor", verified=False)
    browser = new_browser(app, unverified)
    r = post(browser, "/kyc/start", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/kyc"
    page = browser.get("/kyc")
    assert page.status_code == 200
    assert 'class="flash flash-error"' in page.text
    assert "Verify your email address before you start identity verification" in text_of(page)
    assert session.scalar(select(KycSession.id).where(KycSession.user_id == unverified.id)) is None


def test_too_many_starts_in_a_day_are_flashed_not_failed(
    browser: TestClient, session: Session
) -> None:
    for _ in range(5):
        session_id = start(browser)
        kyc_row = session.get(KycSession, session_id)
        assert kyc_row is not None
        move(session, kyc_row, "expired", actor_ref="system", reason_code="test", reason="gone")
        session.flush()
    r = post(browser, "/kyc/start", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/kyc"
    page = text_of(browser.get("/kyc"))
    assert "too many verifications today" in page
    assert "expired" in page and "Start again" in page


# --- the admin's review -------------------------------------------------------------------


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role="admin", full_name="Ada Admin")


def test_admin_reviews_the_images_and_decides(
    app: object,
    browser: TestClient,
    session: Session,
    app_context: AppContext,
    admin: User,
    webhook_transport: None,
) -> None:
    upload = files(seed=4)
    session_id = start(browser)
    assert submit(browser, session_id, "REVW4242", upload).status_code == 303
    run_jobs(session, app_context)
    assert "in review" in text_of(browser.get("/dashboard"))

    desk = new_browser(app, admin)
    dashboard = desk.get("/dashboard")
    assert "KYC sessions by status" in dashboard.text
    assert re.search(r'<span class="stat-value">\s*1\s*</span>', dashboard.text)
    assert "KYC session awaiting review" in text_of(dashboard)
    assert 'href="/admin/kyc"' in dashboard.text

    queue = desk.get("/admin/kyc")
    assert queue.status_code == 200
    assert "Casey Contractor" in queue.text
    assert f'href="/admin/kyc/sessions/{session_id}"' in queue.text

    page = desk.get(f"/admin/kyc/sessions/{session_id}")
    assert page.status_code == 200
    sources = BLOB_SRC.findall(page.text)
    assert len(sources) == 3
    # Same-origin images satisfy the page's strict CSP (img-src 'self').
    assert "img-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["content-security-policy"] == CSP
    sent = [upload["document_front"][1], upload["document_back"][1], upload["selfie"][1]]
    for src, original in zip(sources, sent, strict=True):
        image = desk.get(unescape(src))
        assert image.status_code == 200, src
        assert image.content == original
        assert image.headers["content-type"] in ("image/jpeg", "image/png")
    text = text_of(page)
    assert "REVW4242" in text
    for original in sent:
        assert hashlib.sha256(original).hexdigest() in text
    assert "documents submitted" in text
    assert 'name="decision" value="approved"' in page.text

    # A reason is required: the form comes back with the message next to it.
    r = post(desk, f"/admin/kyc/sessions/{session_id}/decision", {"decision": "approved"})
    assert r.status_code == 422
    assert 'id="f-reason-error"' in r.text
    assert re.search(r'value="approved"[^>]*\schecked>', r.text)

    r = post(
        desk,
        f"/admin/kyc/sessions/{session_id}/decision",
        {"decision": "approved", "reason": "Photo and selfie match"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/kyc"
    queue = desk.get("/admin/kyc")
    assert "Casey Contractor's verification is approved." in text_of(queue)
    assert "Nothing to review" in queue.text

    decided = desk.get(f"/admin/kyc/sessions/{session_id}")
    assert 'name="decision"' not in decided.text
    decided_text = text_of(decided)
    assert "by Ada Admin" in decided_text and "Photo and selfie match" in decided_text

    # A second decision is refused with a message, not an error page.
    r = post(
        desk,
        f"/admin/kyc/sessions/{session_id}/decision",
        {"decision": "declined", "reason": "changed my mind"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "not in review" in text_of(desk.get(r.headers["location"]))
    assert session.scalar(select(KycSession.status).where(KycSession.id == session_id)) == (
        "approved"
    )

    assert "Your identity is verified" in text_of(browser.get(f"/kyc/sessions/{session_id}"))
    # Admins following a contractor's result link land on the review page.
    r = desk.get(f"/kyc/sessions/{session_id}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin/kyc/sessions/{session_id}"


def test_admin_declines_with_a_reason_the_contractor_sees(
    app: object,
    browser: TestClient,
    session: Session,
    app_context: AppContext,
    admin: User,
    webhook_transport: None,
) -> None:
    session_id = capture(browser, session, app_context, number="REVW0001")
    desk = new_browser(app, admin)
    r = post(
        desk,
        f"/admin/kyc/sessions/{session_id}/decision",
        {"decision": "declined", "reason": "The document photo is blurred"},
    )
    assert r.status_code == 200
    card = text_of(browser.get("/dashboard"))
    assert "declined" in card and "The document photo is blurred" in card


def test_review_queue_is_oldest_first_and_paginated(
    app: object,
    session: Session,
    app_context: AppContext,
    admin: User,
    webhook_transport: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mindlinks.web.kyc_pages.QUEUE_PAGE_SIZE", 2)
    names = []
    for n in range(3):
        person = make_user(session, role="contractor", full_name=f"Person {n}")
        capture(new_browser(app, person), session, app_context, number=f"REVW{n}")
        names.append(person.full_name)
    desk = new_browser(app, admin)
    first = desk.get("/admin/kyc")
    assert first.text.index("Person 0") < first.text.index("Person 1")
    assert "Person 2" not in first.text
    cursor = re.search(r'href="/admin/kyc\?cursor=([^"]+)"', first.text)
    assert cursor
    second = desk.get(f"/admin/kyc?cursor={cursor.group(1)}")
    assert "Person 2" in second.text and "Person 0" not in second.text


def test_admin_page_of_a_session_without_images_says_so(
    app: object, browser: TestClient, session: Session, admin: User
) -> None:
    session_id = start(browser)
    page = new_browser(app, admin).get(f"/admin/kyc/sessions/{session_id}")
    assert page.status_code == 200
    assert "No images were captured" in page.text
    assert "nothing to decide yet" in page.text
    assert 'name="decision"' not in page.text


def test_expired_session_reads_as_expired_on_the_card(
    browser: TestClient, session: Session
) -> None:
    session_id = start(browser)
    row = session.get(KycSession, session_id)
    assert row is not None
    row.expires_at = row.created_at - timedelta(seconds=1)
    session.flush()
    page = text_of(browser.get("/dashboard"))
    assert "expired" in page and "Start again" in page
