"""Registering queues a job; running it puts a working link in the development mailbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from mindlinks.jobs.models import Job
from mindlinks.platform.clock import set_clock
from tests.factories import PASSWORD, login, problem, run_jobs

LINK = re.compile(r"http://testserver/verify-email\?token=([A-Za-z0-9_\-]+)")


def _register(client, email):
    response = client.post(
        "/api/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": "Vera Verify", "role": "client"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["email_verified"] is False


def _mailed_token(client, email) -> str:
    body = client.get("/api/dev/mailbox", params={"to": email}).json()
    assert len(body["items"]) == 1, body
    item = body["items"][0]
    assert item["to"].lower() == email.lower()
    assert item["subject"] == "Confirm your email address for Mind-Links"
    assert "Vera Verify" in item["text"]
    match = LINK.search(item["text"])
    assert match, item["text"]
    assert f'href="{match.group(0)}"' in item["html"]
    return match.group(1)


def test_register_then_the_mailed_link_verifies(client, session, app_context):
    email = "Vera.Verify@Example.com"
    _register(client, email)
    assert client.get("/api/dev/mailbox", params={"to": email}).json()["items"] == []

    assert run_jobs(session, app_context) >= 1
    token = _mailed_token(client, email)

    # Running the same job again (at-least-once) mails nothing more.
    job = session.scalar(select(Job).where(Job.name == "identity.send_verification_email"))
    job.status = "queued"
    session.flush()
    run_jobs(session, app_context, names=("identity.send_verification_email",))
    assert len(client.get("/api/dev/mailbox", params={"to": email}).json()["items"]) == 1

    response = client.post("/api/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text
    assert response.json() == {"email_verified": True}
    me = client.get("/api/me", headers=login(client, email))
    assert me.json()["email_verified"] is True

    problem(client.post("/api/auth/verify-email", json={"token": token}), 410)
    problem(client.post("/api/auth/verify-email", json={"token": "not-a-real-token"}), 404)


def test_an_expired_link_is_410(client, session, app_context):
    email = "late.verifier@example.com"
    _register(client, email)
    run_jobs(session, app_context)
    token = _mailed_token(client, email)

    ttl = app_context.settings.email_verification_ttl_seconds
    later = datetime.now(UTC) + timedelta(seconds=ttl + 60)
    set_clock(lambda: later)
    try:
        problem(client.post("/api/auth/verify-email", json={"token": token}), 410)
    finally:
        set_clock(None)
    me = client.get("/api/me", headers=login(client, email))
    assert me.json()["email_verified"] is False
