"""Logs never carry passwords, tokens or whole email addresses."""

from __future__ import annotations

import io
import json

from mindlinks.platform.logging import configure_logging, mask_text
from tests.factories import PASSWORD, make_user


def test_a_login_writes_no_password_token_or_full_email_to_the_logs(client, session):
    user = make_user(session, email="secret.person@example.com")
    buffer = io.StringIO()
    configure_logging("DEBUG", stream=buffer)
    try:
        failed = client.post(
            "/api/auth/login", json={"email": user.email, "password": "not-the-password"}
        )
        ok = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
        assert failed.status_code == 401
        assert ok.status_code == 200
        tokens = ok.json()
        client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    finally:
        configure_logging("INFO")
    output = buffer.getvalue()
    events = [json.loads(line) for line in output.splitlines()]
    names = {e["event"] for e in events}
    assert {"login_failed", "login_succeeded"} <= names
    assert all("request_id" in e for e in events if e["event"].startswith("login_"))
    for secret in (
        PASSWORD,
        "not-the-password",
        tokens["access_token"],
        tokens["refresh_token"],
        "secret.person@example.com",
    ):
        assert secret not in output
    assert "s***@***" in output


def test_mask_text_hides_bearer_tokens_jwts_emails_and_long_secrets():
    text = (
        "Authorization: Bearer abc.def.ghi to bob@example.org "
        "link /invites/4fQx9VbLr0TzH2kq8WcYp1Nd6Ms3Aj7Ue5Go0Ri2Bz"
    )
    masked = mask_text(text)
    assert "abc.def.ghi" not in masked
    assert "bob@example.org" not in masked
    assert "4fQx9VbLr0TzH2kq8WcYp1Nd6Ms3Aj7Ue5Go0Ri2Bz" not in masked
