"""The identity endpoints: register, login, refresh, logout, me."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from mindlinks.identity.models import User
from mindlinks.jobs.models import Job
from mindlinks.platform import clock
from tests.factories import PASSWORD, login, make_user, problem


def register(client, **overrides):
    body = {
        "email": "ann@example.com",
        "password": PASSWORD,
        "full_name": "Ann Lee",
        "role": "client",
    }
    body.update(overrides)
    return client.post("/api/auth/register", json=body)


def user_count(session) -> int:
    return session.scalar(select(func.count()).select_from(User))


class TestRegister:
    def test_creates_an_unverified_account_and_queues_the_verification_email(self, client, session):
        response = register(client, email="Ann@Example.com")
        assert response.status_code == 201
        body = response.json()
        assert body["email"] == "Ann@example.com"
        assert body["role"] == "client"
        assert body["email_verified"] is False
        jobs = session.scalars(
            select(Job).where(Job.name == "identity.send_verification_email")
        ).all()
        assert [j.payload for j in jobs] == [{"user_id": body["id"]}]

    def test_same_email_in_another_letter_case_is_taken(self, client, session):
        assert register(client).status_code == 201
        before = user_count(session)
        problem(register(client, email="ANN@EXAMPLE.COM"), 409, "email-taken")
        assert user_count(session) == before

    @pytest.mark.parametrize(
        ("password", "reason"),
        [
            ("short-pass", "at least 12"),
            ("passwordpassword", "repetitive"),
            ("123456789012", "repetitive"),
            ("password2024!", "common"),
            ("aaaaaaaaaaaaaaa", "repetitive"),
            ("ann@example.com!!", "email or name"),
        ],
    )
    def test_weak_passwords_are_refused_with_the_reason(self, client, session, password, reason):
        body = problem(register(client, password=password), 422, "invalid-input")
        assert body["errors"][0]["field"] == "password"
        assert reason in body["errors"][0]["message"]
        assert user_count(session) == 0

    def test_a_long_passphrase_without_composition_rules_is_accepted(self, client):
        assert register(client, password="purple elephants dance quietly").status_code == 201

    @pytest.mark.parametrize(
        "email",
        [
            "not-an-email",
            "ann@",
            "ann@ex\u0430mple.com",  # Cyrillic a
            "ann\u200b@example.com",  # zero-width space
            "\uff41\uff4e\uff4e@example.com",  # fullwidth letters
            "ann@example.com\n",
        ],
    )
    def test_bad_and_look_alike_emails_are_refused(self, client, session, email):
        body = problem(register(client, email=email), 422, "invalid-input")
        assert any(e["field"] == "email" for e in body["errors"])
        assert user_count(session) == 0

    @pytest.mark.parametrize("role", ["admin", "eor", "", "CLIENT"])
    def test_only_client_and_contractor_may_self_register(self, client, session, role):
        body = problem(register(client, role=role), 422, "invalid-input")
        assert body["errors"][0]["field"] == "role"
        assert user_count(session) == 0

    def test_malformed_json_is_a_422_problem(self, client, session):
        response = client.post(
            "/api/auth/register",
            content=b'{"email": ',
            headers={"content-type": "application/json"},
        )
        body = problem(response, 422)
        assert "JSON" in body["detail"]
        assert user_count(session) == 0

    def test_wrong_types_are_refused_per_field(self, client, session):
        body = problem(register(client, email=["a@example.com"], full_name=7), 422)
        fields = {e["field"] for e in body["errors"]}
        assert {"email", "full_name"} <= fields

    def test_unknown_fields_are_refused(self, client, session):
        body = problem(register(client, is_admin=True), 422)
        assert body["errors"] == [{"field": "is_admin", "message": "unknown field"}]
        assert user_count(session) == 0

    def test_bodies_over_one_mebibyte_are_refused(self, client, session):
        response = register(client, full_name="x" * (1024 * 1024 + 10))
        problem(response, 413, "payload-too-large")
        assert user_count(session) == 0

    def test_registration_is_rate_limited_per_client_address(
        self, client, app_context, monkeypatch
    ):
        monkeypatch.setattr(app_context.settings, "rate_limit_register", "2/hour")
        assert register(client, email="a1@example.com").status_code == 201
        assert register(client, email="a2@example.com").status_code == 201
        response = register(client, email="a3@example.com")
        problem(response, 429, "rate-limited")
        assert int(response.headers["retry-after"]) > 0


class TestLogin:
    def test_returns_a_token_pair(self, client, session):
        user = make_user(session)
        response = client.post(
            "/api/auth/login", json={"email": user.email.upper(), "password": PASSWORD}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 900
        assert body["access_token"] and body["refresh_token"]

    def test_unknown_email_and_wrong_password_get_the_same_answer(self, client, session):
        user = make_user(session)
        wrong = client.post("/api/auth/login", json={"email": user.email, "password": "x" * 14})
        unknown = client.post(
            "/api/auth/login", json={"email": "nobody@example.com", "password": "x" * 14}
        )
        assert wrong.status_code == unknown.status_code == 401
        strip = lambda r: {k: v for k, v in r.json().items() if k != "instance"}
        assert strip(wrong) == strip(unknown)

    def test_ten_failures_lock_the_account_for_this_address_even_for_the_right_password(
        self, client, session
    ):
        user = make_user(session)
        for _ in range(10):
            assert (
                client.post(
                    "/api/auth/login", json={"email": user.email, "password": "wrong" * 3}
                ).status_code
                == 401
            )
        locked = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
        problem(locked, 429, "rate-limited")
        assert int(locked.headers["retry-after"]) > 0

    def test_sixty_attempts_per_address_per_minute(self, client, session, monkeypatch, app_context):
        monkeypatch.setattr(app_context.settings, "rate_limit_login_attempts", "3/minute")
        user = make_user(session)
        for _ in range(3):
            login(client, user.email)
        problem(
            client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD}), 429
        )


class TestRefreshAndLogout:
    def pair(self, client, session):
        user = make_user(session)
        response = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
        return response.json()

    def test_refresh_rotates_and_the_old_token_dies(self, client, session):
        first = self.pair(client, session)
        second = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200
        assert second.json()["refresh_token"] != first["refresh_token"]
        headers = {"Authorization": f"Bearer {second.json()['access_token']}"}
        assert client.get("/api/me", headers=headers).status_code == 200

    def test_reusing_a_rotated_token_revokes_the_whole_family(self, client, session):
        first = self.pair(client, session)
        second = client.post(
            "/api/auth/refresh", json={"refresh_token": first["refresh_token"]}
        ).json()
        problem(
            client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]}), 401
        )
        # The legitimate holder's newer tokens stop working too.
        problem(
            client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401
        )
        headers = {"Authorization": f"Bearer {second['access_token']}"}
        problem(client.get("/api/me", headers=headers), 401)

    def test_unknown_refresh_token_is_401(self, client):
        problem(client.post("/api/auth/refresh", json={"refresh_token": "nope"}), 401)

    def test_logout_stops_access_and_refresh_tokens_at_once(self, client, session):
        pair = self.pair(client, session)
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        assert client.post("/api/auth/logout", headers=headers).status_code == 204
        problem(client.get("/api/me", headers=headers), 401)
        problem(
            client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401
        )

    def test_logout_by_refresh_token_ends_that_family(self, client, session):
        user = make_user(session)
        one = client.post(
            "/api/auth/login", json={"email": user.email, "password": PASSWORD}
        ).json()
        two = client.post(
            "/api/auth/login", json={"email": user.email, "password": PASSWORD}
        ).json()
        headers = {"Authorization": f"Bearer {two['access_token']}"}
        response = client.post(
            "/api/auth/logout", headers=headers, json={"refresh_token": one["refresh_token"]}
        )
        assert response.status_code == 204
        problem(
            client.get("/api/me", headers={"Authorization": f"Bearer {one['access_token']}"}), 401
        )
        assert client.get("/api/me", headers=headers).status_code == 200

    def test_logout_needs_authentication(self, client):
        problem(client.post("/api/auth/logout"), 401)


class TestAccessTokens:
    def token(self, client, session):
        user = make_user(session)
        return login(client, user.email)["Authorization"].split()[1]

    def test_alg_none_is_refused(self, client, session):
        token = self.token(client, session)
        _header, payload, _ = token.split(".")
        forged_header = base64.urlsafe_b64encode(
            json.dumps({"alg": "none", "kid": "x"}).encode()
        ).rstrip(b"=")
        forged = f"{forged_header.decode()}.{payload}."
        problem(client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}), 401)

    def test_switching_to_hmac_with_the_public_key_is_refused(self, client, session, app_context):
        token = self.token(client, session)
        claims = jwt.decode(token, options={"verify_signature": False})
        public = app_context.signing_key.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # PyJWT refuses to build this token, so forge it by hand as an attacker would.
        segment = lambda data: (
            base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
        )
        signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': app_context.signing_key.kid})}.{segment(claims)}"
        mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
        forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        problem(client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}), 401)

    def test_access_tokens_expire_after_fifteen_minutes(self, client, session):
        user = make_user(session)
        # Sign in 16 minutes ago: the token's expiry is already past.
        clock.set_clock(lambda: clock.datetime.now(clock.UTC) - timedelta(minutes=16))
        try:
            headers = login(client, user.email)
        finally:
            clock.set_clock(None)
        claims = jwt.decode(
            headers["Authorization"].split()[1], options={"verify_signature": False}
        )
        assert claims["exp"] - claims["iat"] == 900
        problem(client.get("/api/me", headers=headers), 401)

    def test_a_tampered_payload_is_refused(self, client, session):
        token = self.token(client, session)
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["role"] = "admin"
        tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        problem(
            client.get(
                "/api/me", headers={"Authorization": f"Bearer {header}.{tampered}.{signature}"}
            ),
            401,
        )


class TestMe:
    def test_anonymous_is_401(self, client):
        problem(client.get("/api/me"), 401, "not-authenticated")

    def test_contractor_sees_kyc_status_none_before_any_session(self, client, session):
        user = make_user(session, role="contractor", full_name="Zoë Łukasiewicz")
        body = client.get("/api/me", headers=login(client, user.email)).json()
        assert body == {
            "id": user.id,
            "email": user.email,
            "full_name": "Zoë Łukasiewicz",
            "role": "contractor",
            "email_verified": True,
            "companies": [],
            "kyc_status": "none",
        }

    def test_client_has_no_kyc_status(self, client, session):
        user = make_user(session, role="client", verified=False)
        body = client.get("/api/me", headers=login(client, user.email)).json()
        assert body["kyc_status"] is None
        assert body["email_verified"] is False


class TestResendVerification:
    def test_anonymous_is_401(self, client):
        problem(client.post("/api/auth/resend-verification"), 401)

    def test_queues_a_fresh_link_for_an_unverified_account(self, client, session):
        user = make_user(session, verified=False)
        response = client.post("/api/auth/resend-verification", headers=login(client, user.email))
        assert response.status_code == 202
        assert response.json() == {"status": "queued"}
        jobs = session.scalars(
            select(Job).where(
                Job.name == "identity.send_verification_email", Job.status == "queued"
            )
        ).all()
        assert [j.payload for j in jobs] == [{"user_id": user.id}]

    def test_a_verified_account_is_409(self, client, session):
        user = make_user(session, verified=True)
        response = client.post("/api/auth/resend-verification", headers=login(client, user.email))
        problem(response, 409, "email-already-verified")

    def test_is_rate_limited_per_account(self, client, session, app_context, monkeypatch):
        monkeypatch.setattr(app_context.settings, "rate_limit_verification_resend", "1/hour")
        user = make_user(session, verified=False)
        headers = login(client, user.email)
        assert client.post("/api/auth/resend-verification", headers=headers).status_code == 202
        problem(client.post("/api/auth/resend-verification", headers=headers), 429, "rate-limited")
