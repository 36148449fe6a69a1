"""Browsers call the API with the access-token cookie; unsafe methods then need CSRF."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import PASSWORD, make_user, problem


def browser(app) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, base_url="http://testserver.local")


def cookie_session(app, session) -> TestClient:
    user = make_user(session, verified=False)
    client = browser(app)
    tokens = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD}).json()
    client.cookies.set("ml_access", tokens["access_token"], domain="testserver.local")
    client.cookies.set("ml_csrf", "c" * 43, domain="testserver.local")
    return client


def test_a_cookie_authenticates_safe_api_calls(app, session):
    client = cookie_session(app, session)
    assert client.get("/api/me").status_code == 200


def test_an_unsafe_api_call_with_a_cookie_but_no_csrf_header_is_refused(app, session):
    client = cookie_session(app, session)
    problem(client.post("/api/auth/resend-verification"), 403, "csrf-failed")


def test_a_wrong_csrf_header_is_refused(app, session):
    client = cookie_session(app, session)
    response = client.post("/api/auth/resend-verification", headers={"X-CSRF-Token": "d" * 43})
    problem(response, 403, "csrf-failed")


def test_the_matching_csrf_header_lets_the_call_through(app, session):
    client = cookie_session(app, session)
    response = client.post("/api/auth/resend-verification", headers={"X-CSRF-Token": "c" * 43})
    assert response.status_code == 202


def test_a_bearer_token_needs_no_csrf(client, session):
    user = make_user(session, verified=False)
    tokens = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD}).json()
    response = client.post(
        "/api/auth/resend-verification",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 202
