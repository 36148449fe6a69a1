"""The KYC endpoints (API.md, "KYC"): who may call what, uploads, the admin review."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import update

from mindlinks.kyc.models import KycDocument, KycSession
from mindlinks.platform.blobs import blob_store_for
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id
from tests.factories import auth_headers, make_user, problem
from tests.kyc.factories import (
    capture_files,
    document_bytes,
    document_image,
    encode,
    selfie_bytes,
)

MB = 1024 * 1024


def start(client, headers) -> dict:
    response = client.post("/api/kyc/sessions", headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def submit(client, headers, session_id, *, number="AB1234567", files=None, data=None):
    return client.post(
        f"/api/kyc/sandbox/{session_id}/submit",
        headers=headers,
        files=files if files is not None else capture_files(),
        data=data if data is not None else {"document_number": number},
    )


def set_status(session, session_id: str, status: str) -> None:
    session.execute(
        update(KycSession)
        .where(KycSession.id == session_id)
        .values(status=status)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()


@pytest.fixture
def other_contractor_headers(client, session):
    return auth_headers(client, make_user(session, role="contractor"))


@pytest.fixture
def client_headers(client, session):
    return auth_headers(client, make_user(session, role="client"))


@pytest.fixture
def started(client, contractor_headers) -> dict:
    return start(client, contractor_headers)


@pytest.fixture
def in_review(client, session, contractor_headers, started) -> dict:
    response = submit(client, contractor_headers, started["id"], number="REVW0001")
    assert response.status_code == 202, response.text
    set_status(session, started["id"], "review")
    return started


# --- POST /api/kyc/sessions ---------------------------------------------------------


def test_starting_needs_a_signed_in_verified_contractor(client, session, client_headers):
    problem(client.post("/api/kyc/sessions"), 401)
    problem(client.post("/api/kyc/sessions", headers=client_headers), 403, "role-not-allowed")
    unverified = make_user(session, role="contractor", verified=False)
    problem(
        client.post("/api/kyc/sessions", headers=auth_headers(client, unverified)),
        403,
        "email-not-verified",
    )


def test_a_contractor_starts_and_then_resumes_the_same_session(
    client, contractor_headers, settings
):
    body = start(client, contractor_headers)
    assert {"id", "provider", "status", "verification_url"} <= body.keys()
    assert body["provider"] == "sandbox"
    assert body["status"] == "created"
    assert body["verification_url"] == f"{settings.base_url}/kyc/sandbox/{body['id']}"
    assert body["resumed"] is False
    again = start(client, contractor_headers)
    assert again["id"] == body["id"] and again["resumed"] is True


def test_starting_is_409_while_a_session_waits_and_once_approved(
    client, session, contractor_headers, started
):
    set_status(session, started["id"], "review")
    body = problem(
        client.post("/api/kyc/sessions", headers=contractor_headers), 409, "kyc-session-in-progress"
    )
    assert body["kyc_status"] == "review"
    set_status(session, started["id"], "approved")
    problem(
        client.post("/api/kyc/sessions", headers=contractor_headers), 409, "kyc-already-approved"
    )


def test_starting_is_rate_limited_per_contractor(
    client, session, contractor_headers, other_contractor_headers
):
    for _ in range(5):  # API.md: 5 starts per contractor per day
        body = start(client, contractor_headers)
        set_status(session, body["id"], "declined")
    refused = client.post("/api/kyc/sessions", headers=contractor_headers)
    problem(refused, 429, "rate-limited")
    assert int(refused.headers["Retry-After"]) > 0
    start(client, other_contractor_headers)


# --- GET /api/kyc/sessions/{id} -----------------------------------------------------


def test_a_session_is_read_by_its_contractor_and_admins_only(
    client, started, contractor_headers, admin_headers, other_contractor_headers, client_headers
):
    url = f"/api/kyc/sessions/{started['id']}"
    problem(client.get(url), 401)
    problem(client.get(url, headers=other_contractor_headers), 404, "kyc-session-not-found")
    problem(client.get(url, headers=client_headers), 404, "kyc-session-not-found")
    mine = client.get(url, headers=contractor_headers)
    assert mine.status_code == 200
    assert mine.json()["id"] == started["id"]
    assert mine.json()["status"] == "created"
    assert "reason" in mine.json()
    assert client.get(url, headers=admin_headers).json()["status"] == "created"
    problem(client.get("/api/kyc/sessions/nope", headers=contractor_headers), 404)


def test_a_created_session_past_its_expiry_reads_as_expired(
    client, started, contractor_headers, move_clock, settings
):
    move_clock(timedelta(seconds=settings.kyc_session_ttl_seconds + 5))
    body = client.get(f"/api/kyc/sessions/{started['id']}", headers=contractor_headers).json()
    assert body["status"] == "expired"
    assert client.get("/api/me", headers=contractor_headers).json()["kyc_status"] == "expired"


# --- POST /api/kyc/sandbox/{id}/submit ----------------------------------------------


def test_a_capture_is_accepted_stored_encrypted_and_hashed(
    client, session, started, contractor_headers, app_context
):
    files = capture_files()
    response = submit(client, contractor_headers, started["id"], files=files)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "submitted"
    documents = session.query(KycDocument).filter_by(session_id=started["id"]).all()
    assert {d.side for d in documents} == {"front", "back", "selfie"}
    store = blob_store_for(app_context)
    for document in documents:
        raw = store.path_for(document.blob_key).read_bytes()
        original = {
            "front": files["document_front"],
            "back": files["document_back"],
            "selfie": files["selfie"],
        }[document.side][1]
        assert original not in raw  # ciphertext at rest
        assert document.size_bytes == len(original)
        assert document.content_type == "image/jpeg"
    assert client.get("/api/me", headers=contractor_headers).json()["kyc_status"] == "submitted"


def test_the_back_side_is_optional(client, started, contractor_headers):
    files = capture_files()
    del files["document_back"]
    assert submit(client, contractor_headers, started["id"], files=files).status_code == 202


def test_capture_needs_the_owner_of_an_open_sandbox_session(
    client, session, started, contractor, admin_headers, other_contractor_headers, client_headers
):
    url_id = started["id"]
    problem(submit(client, {}, url_id), 401)
    for headers in (other_contractor_headers, client_headers, admin_headers):
        problem(submit(client, headers, url_id), 404, "kyc-session-not-found")
    veriff = KycSession(
        user_id=contractor.id,
        provider="veriff",
        provider_reference=f"veriff-{new_id()}",
        verification_url="https://magic.veriff.me/v/x",
        status="expired",
        extracted={},
        expires_at=now() + timedelta(days=1),
    )
    session.add(veriff)
    session.flush()
    problem(submit(client, auth_headers(client, contractor), veriff.id), 404)


def test_capture_is_409_unless_the_session_is_created(client, session, started, contractor_headers):
    assert submit(client, contractor_headers, started["id"]).status_code == 202
    body = problem(submit(client, contractor_headers, started["id"]), 409, "kyc-session-not-open")
    assert body["kyc_status"] == "submitted"


def test_capture_is_409_once_the_session_expired(
    client, started, contractor_headers, move_clock, settings
):
    move_clock(timedelta(seconds=settings.kyc_session_ttl_seconds + 5))
    body = problem(submit(client, contractor_headers, started["id"]), 409, "kyc-session-not-open")
    assert body["kyc_status"] == "expired"


def _field_errors(response) -> dict[str, str]:
    body = problem(response, 422)
    return {e["field"]: e["message"] for e in body["errors"]}


def test_a_file_that_is_not_an_image_is_422(client, started, contractor_headers):
    files = capture_files(front=b"%PDF-1.7 this is a pdf, named like a photo")
    errors = _field_errors(submit(client, contractor_headers, started["id"], files=files))
    assert "not a JPEG, PNG or WebP" in errors["document_front"]


def test_a_truncated_image_is_422(client, started, contractor_headers):
    whole = selfie_bytes(3)
    files = capture_files(selfie=whole[: len(whole) * 2 // 3])
    errors = _field_errors(submit(client, contractor_headers, started["id"], files=files))
    assert "truncated" in errors["selfie"]


def test_a_file_over_10_mb_is_422_naming_the_field(client, started, contractor_headers):
    files = capture_files(back=b"\xff\xd8\xff\xe0" + bytes(10 * MB + 10))
    errors = _field_errors(submit(client, contractor_headers, started["id"], files=files))
    assert "larger than 10 MB" in errors["document_back"]


def test_a_50_mb_upload_is_422_before_it_is_read(client, started, contractor_headers):
    # API.md: a file over 10 MB is a 422 on this path, even when the body is refused
    # by its length alone.
    files = capture_files(front=b"\xff\xd8\xff\xe0" + bytes(50 * MB))
    body = problem(submit(client, contractor_headers, started["id"], files=files), 422)
    assert body["type"].endswith("/upload-too-large")


def test_a_50_mb_upload_without_a_length_is_cut_off_at_the_limit(
    client, started, contractor_headers
):
    sent = 0

    def body():
        nonlocal sent
        chunk = b"--x\r\n" + bytes(1 * MB)
        for _ in range(50):
            sent += len(chunk)
            yield chunk

    response = client.post(
        f"/api/kyc/sandbox/{started['id']}/submit",
        headers={**contractor_headers, "Content-Type": "multipart/form-data; boundary=x"},
        content=body(),
    )
    problem(response, 422)


def test_other_paths_keep_the_1_mib_body_limit(client, contractor_headers):
    response = client.post(
        "/api/kyc/sessions",
        headers={**contractor_headers, "Content-Type": "application/json"},
        content=b"{}" + b" " * (2 * MB),
    )
    problem(response, 413)


def test_a_selfie_that_is_the_document_is_422(client, started, contractor_headers):
    front = document_bytes(5)
    errors = _field_errors(
        submit(
            client,
            contractor_headers,
            started["id"],
            files=capture_files(front=front, selfie=front),
        )
    )
    assert "same image as the document front" in errors["selfie"]


def test_a_selfie_that_is_the_document_reencoded_is_422(client, started, contractor_headers):
    back = document_image(6)
    files = capture_files(back=encode(back, "JPEG"), selfie=encode(back.resize((600, 377)), "PNG"))
    files["selfie"] = ("selfie.png", files["selfie"][1], "image/png")
    errors = _field_errors(submit(client, contractor_headers, started["id"], files=files))
    assert "same image as the document back" in errors["selfie"]


def test_missing_parts_are_422_per_field(client, started, contractor_headers):
    response = client.post(
        f"/api/kyc/sandbox/{started['id']}/submit",
        headers=contractor_headers,
        files={"document_back": ("b.jpg", document_bytes(2), "image/jpeg")},
        data={"document_number": ""},
    )
    body = problem(response, 422)
    fields = {e["field"] for e in body["errors"]}
    assert "document_number" in fields


def test_bad_document_numbers_are_422(client, started, contractor_headers):
    errors = _field_errors(submit(client, contractor_headers, started["id"], number="<script>"))
    assert "document_number" in errors
    errors = _field_errors(submit(client, contractor_headers, started["id"], number="X" * 65))
    assert "document_number" in errors


def test_a_refused_capture_leaves_the_session_open(client, started, contractor_headers):
    submit(client, contractor_headers, started["id"], files=capture_files(front=b"not an image"))
    body = client.get(f"/api/kyc/sessions/{started['id']}", headers=contractor_headers).json()
    assert body["status"] == "created"
    assert submit(client, contractor_headers, started["id"]).status_code == 202


# --- admin ----------------------------------------------------------------------------


def test_the_review_queue_is_for_admins(client, in_review, admin_headers, contractor_headers):
    problem(client.get("/api/admin/kyc/reviews"), 401)
    problem(client.get("/api/admin/kyc/reviews", headers=contractor_headers), 403)
    body = client.get("/api/admin/kyc/reviews", headers=admin_headers).json()
    assert [item["id"] for item in body["items"]] == [in_review["id"]]
    assert body["items"][0]["status"] == "review"
    assert body["next_cursor"] is None


def test_an_admin_sees_a_session_with_signed_urls_that_serve_its_images(
    client, in_review, admin_headers
):
    response = client.get(f"/api/admin/kyc/sessions/{in_review['id']}", headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["document_number"] == "REVW0001"
    assert {d["side"] for d in body["documents"]} == {"front", "back", "selfie"}
    for document in body["documents"]:
        image = client.get(document["url"])
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/jpeg"
        assert image.headers["cache-control"].startswith("no-store")
        assert hashlib.sha256(image.content).hexdigest() == document["sha256"]


def test_an_expired_document_url_is_403(client, in_review, admin_headers, move_clock):
    body = client.get(f"/api/admin/kyc/sessions/{in_review['id']}", headers=admin_headers).json()
    url = body["documents"][0]["url"]
    move_clock(timedelta(hours=1, seconds=1))
    problem(client.get(url), 403, "url-expired")


def test_others_never_see_a_session_or_its_document_urls(
    client, in_review, contractor_headers, other_contractor_headers, client_headers
):
    url = f"/api/admin/kyc/sessions/{in_review['id']}"
    problem(client.get(url), 401)
    problem(client.get(url, headers=other_contractor_headers), 404)
    problem(client.get(url, headers=client_headers), 404)
    # Its own contractor sees the session exists, but not the admin view (403).
    problem(client.get(url, headers=contractor_headers), 403)


def test_an_admin_decides_a_session_in_review(client, in_review, admin_headers, contractor_headers):
    url = f"/api/admin/kyc/sessions/{in_review['id']}/decision"
    decision = {"decision": "approved", "reason": "Document and face match."}
    problem(client.post(url, json=decision), 401)
    problem(client.post(url, json=decision, headers=contractor_headers), 403)
    response = client.post(url, json=decision, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    assert response.json()["reason"] == "Document and face match."
    assert client.get("/api/me", headers=contractor_headers).json()["kyc_status"] == "approved"


def test_a_decision_on_a_final_session_is_409(client, session, in_review, admin_headers):
    url = f"/api/admin/kyc/sessions/{in_review['id']}/decision"
    assert (
        client.post(
            url, json={"decision": "declined", "reason": "Blurry"}, headers=admin_headers
        ).status_code
        == 200
    )
    body = problem(
        client.post(
            url, json={"decision": "approved", "reason": "Changed my mind"}, headers=admin_headers
        ),
        409,
        "kyc-session-not-reviewable",
    )
    assert body["kyc_status"] == "declined"


def test_a_decision_on_a_session_not_in_review_is_409(client, started, admin_headers):
    url = f"/api/admin/kyc/sessions/{started['id']}/decision"
    body = problem(
        client.post(url, json={"decision": "approved", "reason": "ok"}, headers=admin_headers),
        409,
        "kyc-session-not-reviewable",
    )
    assert body["kyc_status"] == "created"


def test_a_decision_needs_a_valid_decision_and_a_reason(client, in_review, admin_headers):
    url = f"/api/admin/kyc/sessions/{in_review['id']}/decision"
    problem(client.post(url, json={"decision": "maybe", "reason": "x"}, headers=admin_headers), 422)
    problem(
        client.post(url, json={"decision": "approved", "reason": ""}, headers=admin_headers), 422
    )
    problem(
        client.post(url, json={"decision": "approved", "reason": "   "}, headers=admin_headers), 422
    )
    problem(client.post(url, json={"decision": "approved"}, headers=admin_headers), 422)


def test_the_api_is_documented_in_openapi(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/kyc/sessions",
        "/api/kyc/sessions/{session_id}",
        "/api/kyc/sandbox/{session_id}/submit",
        "/api/webhooks/kyc/{provider}",
        "/api/admin/kyc/reviews",
        "/api/admin/kyc/sessions/{session_id}",
        "/api/admin/kyc/sessions/{session_id}/decision",
    ):
        assert path in paths
    capture = paths["/api/kyc/sandbox/{session_id}/submit"]["post"]
    assert "multipart/form-data" in capture["requestBody"]["content"]
