"""The server-rendered pages, driven through TestClient.

Forms are posted like a browser does: form-encoded, with the `csrf_token`
field echoing the `ml_csrf` cookie.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from mindlinks.companies.models import Company, Invite
from mindlinks.identity.models import RefreshToken, User
from mindlinks.identity.tokens import issue_access_token
from mindlinks.notifications.models import DevMailboxMessage
from mindlinks.platform.context import AppContext
from mindlinks.platform.hashing import token_hash
from mindlinks.platform.ids import new_id
from mindlinks.web.shell import linkify, safe_next
from tests.factories import PASSWORD, make_user, run_jobs, unique_email

INVITE_LINK = re.compile(r"/invites/([A-Za-z0-9_\-]{20,})")
VERIFY_LINK = re.compile(r"/verify-email\?token=([A-Za-z0-9_\-]{20,})")


# --- helpers ------------------------------------------------------------------


def csrf(client: TestClient) -> str:
    if "ml_csrf" not in client.cookies:
        client.get("/login")
    return client.cookies["ml_csrf"]


def post(client: TestClient, url: str, data: dict[str, str] | None = None, **kw: Any) -> Response:
    return client.post(url, data={"csrf_token": csrf(client), **(data or {})}, **kw)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    r = post(client, "/login", {"email": email, "password": password}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/dashboard"


def set_cookie(client: TestClient, name: str, value: str, path: str = "/") -> None:
    client.cookies.delete(name)
    client.cookies.set(name, value, domain="testserver.local", path=path)


def mailbox(session: Session, to: str) -> DevMailboxMessage:
    message = session.scalars(
        select(DevMailboxMessage)
        .where(DevMailboxMessage.recipient == to)
        .order_by(DevMailboxMessage.id.desc())
    ).first()
    assert message is not None, f"no email to {to}"
    return message


def register_company(client: TestClient, number: str = "12345678", **fields: str) -> str:
    data = {
        "legal_name": "Acme Widgets Ltd",
        "jurisdiction_code": "gb",
        "registration_number": number,
        "country": "GB",
        **fields,
    }
    r = post(client, "/companies/new", data, follow_redirects=False)
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/companies/([0-9a-z]+)", r.headers["location"])
    assert match, r.headers["location"]
    return match.group(1)


def invite(
    client: TestClient, session: Session, app_context: AppContext, company_id: str, email: str
) -> str:
    r = post(client, f"/companies/{company_id}/invites", {"email": email}, follow_redirects=False)
    assert r.status_code == 303, r.text
    run_jobs(session, app_context, names=("companies.send_invite_email",))
    found = INVITE_LINK.search(mailbox(session, email).text_body)
    assert found
    return found.group(1)


@pytest.fixture
def client_user(session: Session) -> User:
    return make_user(session, role="client", full_name="Cleo Client")


@pytest.fixture
def signed_in(client: TestClient, client_user: User) -> TestClient:
    sign_in(client, client_user.email)
    return client


# --- shell: landing, headers, CSRF, anonymous redirects -----------------------------


def test_landing_offers_sign_in_and_issues_csrf_cookie(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert 'href="/login"' in r.text and 'href="/register"' in r.text
    assert 'class="skip-link" href="#main"' in r.text
    cookie = r.headers["set-cookie"]
    assert "ml_csrf=" in cookie and "samesite=lax" in cookie.lower()
    assert "script-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"


def test_landing_sends_signed_in_users_to_their_dashboard(signed_in: TestClient) -> None:
    r = signed_in.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"


def test_csrf_cookie_is_kept_once_issued(client: TestClient) -> None:
    first = csrf(client)
    r = client.get("/register")
    assert "ml_csrf=" not in r.headers.get("set-cookie", "")
    assert f'name="csrf_token" value="{first}"' in r.text


@pytest.mark.parametrize("path", ["/dashboard", "/companies/new", "/companies/01abc"])
def test_pages_for_signed_in_users_redirect_anonymous_visitors(
    client: TestClient, path: str
) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    if path != "/dashboard":
        assert r.headers["location"] == f"/login?next={path}"


def test_anonymous_form_post_is_sent_to_sign_in(client: TestClient) -> None:
    r = post(client, "/companies/new", {"legal_name": "X"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


@pytest.mark.parametrize("token", [None, "", "wrong-token-wrong-token-wrong-token-0000"])
def test_forms_without_the_right_csrf_token_are_refused(
    client: TestClient, client_user: User, token: str | None
) -> None:
    csrf(client)
    data = {"email": client_user.email, "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    r = client.post("/login", data=data, follow_redirects=False)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert "reload the page" in r.text
    assert "ml_access" not in r.headers.get("set-cookie", "")


def test_csrf_refused_without_the_cookie(client: TestClient, client_user: User) -> None:
    r = client.post(
        "/login",
        data={"email": client_user.email, "password": PASSWORD, "csrf_token": "x" * 43},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_signed_in_form_post_without_csrf_is_refused(
    signed_in: TestClient, session: Session
) -> None:
    r = signed_in.post("/companies/new", data={"legal_name": "Acme", "country": "GB"})
    assert r.status_code == 403
    assert session.scalar(select(Company.id).where(Company.legal_name == "Acme")) is None


def test_unknown_company_page_is_an_html_404(signed_in: TestClient) -> None:
    r = signed_in.get("/companies/doesnotexist")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "Page not found" in r.text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/companies/abc", "/companies/abc"),
        ("/invites/tok?x=1", "/invites/tok?x=1"),
        ("//evil.example/", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("https://evil.example/", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        ("", "/dashboard"),
        (None, "/dashboard"),
    ],
)
def test_safe_next_only_allows_local_paths(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_linkify_escapes_text_and_links_only_http_urls() -> None:
    html = str(linkify("Hi <b>you</b>: open https://x.example/a?b=1&c=2. Or javascript:alert(1)"))
    assert "&lt;b&gt;you&lt;/b&gt;" in html
    assert '<a href="https://x.example/a?b=1&amp;c=2">' in html
    assert "2</a>." in html
    assert 'href="javascript' not in html


# --- registration, verification, sign-in ------------------------------------------------


def test_register_verify_and_sign_in(
    client: TestClient, session: Session, app_context: AppContext
) -> None:
    email = unique_email("new")
    page = client.get("/register")
    assert page.status_code == 200
    assert '<label for="f-email">' in page.text and '<label for="f-password">' in page.text
    r = post(
        client,
        "/register",
        {"full_name": "Nina New", "email": email, "password": PASSWORD, "role": "client"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/login"
    login_page = client.get("/login")
    assert "We sent a verification link to" in login_page.text
    # The flash message is shown once.
    assert "We sent a verification link" not in client.get("/login").text

    run_jobs(session, app_context, names=("identity.send_verification_email",))
    token = VERIFY_LINK.search(mailbox(session, email).text_body)
    assert token
    # Opening the link does not verify: a mail scanner may have fetched it.
    page = client.get(f"/verify-email?token={token.group(1)}")
    assert page.status_code == 200 and "Verify my email address" in page.text
    user = session.scalars(select(User).where(User.email == email)).one()
    session.refresh(user)
    assert not user.email_verified

    done = post(client, "/verify-email", {"token": token.group(1)})
    assert done.status_code == 200 and "is verified" in done.text
    session.refresh(user)
    assert user.email_verified
    again = post(client, "/verify-email", {"token": token.group(1)})
    assert again.status_code == 410 and "can't be used" in again.text

    sign_in(client, email)
    dashboard = client.get("/dashboard")
    assert "Nina New" in dashboard.text and "Your companies" in dashboard.text
    assert "not verified yet" not in dashboard.text


def test_register_shows_errors_next_to_fields_and_keeps_values(
    client: TestClient, session: Session
) -> None:
    r = post(
        client,
        "/register",
        {"full_name": "Pat", "email": "not-an-email", "password": "short", "role": "client"},
    )
    assert r.status_code == 422
    assert 'id="f-email-error"' in r.text and 'id="f-password-error"' in r.text
    assert 'aria-invalid="true"' in r.text
    assert 'value="not-an-email"' in r.text
    assert "short" not in r.text.split('id="f-password"')[1].split(">")[0]  # no password echo
    assert 'role="alert"' in r.text


def test_register_with_a_taken_email_explains(client: TestClient, client_user: User) -> None:
    r = post(
        client,
        "/register",
        {
            "full_name": "Again",
            "email": client_user.email.upper(),
            "password": PASSWORD,
            "role": "contractor",
        },
    )
    assert r.status_code == 409
    assert "already exists" in r.text


def test_register_rejects_the_admin_role(client: TestClient) -> None:
    r = post(
        client,
        "/register",
        {"full_name": "Eve", "email": unique_email(), "password": PASSWORD, "role": "admin"},
    )
    assert r.status_code == 422 and 'id="f-role-error"' in r.text


def test_wrong_password_is_refused_politely(client: TestClient, client_user: User) -> None:
    r = post(client, "/login", {"email": client_user.email, "password": "wrong password here"})
    assert r.status_code == 400
    assert "Email or password is incorrect" in r.text
    assert f'value="{client_user.email}"' in r.text
    assert "ml_access" not in r.headers.get("set-cookie", "")


def test_login_uses_the_api_rate_limits(
    client: TestClient, client_user: User, app_context: AppContext
) -> None:
    for _ in range(10):
        r = post(client, "/login", {"email": client_user.email, "password": "wrong password here"})
        assert r.status_code == 400
    r = post(client, "/login", {"email": client_user.email, "password": PASSWORD})
    assert r.status_code == 429
    assert "Try again in" in r.text and int(r.headers["retry-after"]) > 0
    # The API shares the budget.
    api = client.post("/api/auth/login", json={"email": client_user.email, "password": PASSWORD})
    assert api.status_code == 429


def test_sign_in_sets_httponly_lax_cookies_and_rotates_csrf(
    client: TestClient, client_user: User
) -> None:
    before = csrf(client)
    r = post(
        client, "/login", {"email": client_user.email, "password": PASSWORD}, follow_redirects=False
    )
    cookies = r.headers.get_list("set-cookie")
    access = next(c for c in cookies if c.startswith("ml_access="))
    refresh = next(c for c in cookies if c.startswith("ml_refresh="))
    for cookie in (access, refresh):
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie  # public_url is http://testserver
    assert "Path=/;" in access or access.endswith("Path=/")
    assert "Path=/auth/refresh" in refresh
    assert client.cookies["ml_csrf"] != before


def test_login_next_is_followed_only_when_local(client: TestClient, client_user: User) -> None:
    page = client.get("/login?next=/companies/new")
    assert 'name="next" value="/companies/new"' in page.text
    r = post(
        client,
        "/login",
        {"email": client_user.email, "password": PASSWORD, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/dashboard"


def test_expired_access_cookie_is_refreshed_transparently(
    signed_in: TestClient, session: Session, client_user: User, app_context: AppContext
) -> None:
    old_refresh = signed_in.cookies["ml_refresh"]
    family = session.scalar(
        select(RefreshToken.family_id).where(RefreshToken.token_hash == token_hash(old_refresh))
    )
    assert family is not None
    expired = issue_access_token(
        app_context.signing_key,
        user_id=client_user.id,
        role="client",
        family_id=family,
        ttl_seconds=-60,
    )
    set_cookie(signed_in, "ml_access", expired)
    first = signed_in.get("/dashboard", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/auth/refresh?next=/dashboard"
    r = signed_in.get("/dashboard")
    assert r.status_code == 200 and "Your companies" in r.text
    assert [h.url.path for h in r.history] == ["/dashboard", "/auth/refresh"]
    assert signed_in.cookies["ml_refresh"] != old_refresh
    assert signed_in.cookies["ml_access"] != expired
    used = session.scalar(
        select(RefreshToken.used_at).where(RefreshToken.token_hash == token_hash(old_refresh))
    )
    assert used is not None


def test_a_form_sent_with_an_expired_access_cookie_still_goes_through(
    signed_in: TestClient, session: Session
) -> None:
    set_cookie(signed_in, "ml_access", "expired.or.garbage")
    r = post(
        signed_in,
        "/companies/new",
        {
            "legal_name": "Resubmitted Ltd",
            "jurisdiction_code": "gb",
            "registration_number": "12345678",
            "country": "GB",
        },
    )
    assert r.status_code == 200, r.text
    assert [h.status_code for h in r.history] == [307, 307, 303]
    assert "Resubmitted Ltd" in r.text
    assert session.scalar(select(Company.id).where(Company.legal_name == "Resubmitted Ltd"))


def test_without_a_working_refresh_cookie_the_visitor_signs_in_again(
    signed_in: TestClient,
) -> None:
    set_cookie(signed_in, "ml_access", "garbage")
    set_cookie(signed_in, "ml_refresh", "garbage", path="/auth/refresh")
    r = signed_in.get("/companies/new")
    assert r.url.path == "/login"
    assert "Your session has ended" in r.text
    assert "ml_access" not in signed_in.cookies


def test_sign_out_revokes_the_session_and_clears_cookies(
    signed_in: TestClient,
) -> None:
    access = signed_in.cookies["ml_access"]
    r = post(signed_in, "/logout", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cleared = " ".join(r.headers.get_list("set-cookie"))
    assert 'ml_access=""' in cleared and 'ml_refresh=""' in cleared
    page = signed_in.get("/")
    assert "You have signed out" in page.text and 'href="/login"' in page.text
    api = signed_in.get("/api/me", headers={"Authorization": f"Bearer {access}"})
    assert api.status_code == 401


def test_tampered_flash_cookie_is_ignored(client: TestClient) -> None:
    set_cookie(client, "ml_flash", "W3sibGV2ZWwiOiAiZXJyb3IiLCAidGV4dCI6ICJQaGlzaCJ9XQ.deadbeef")
    r = client.get("/")
    assert "Phish" not in r.text


# --- companies -----------------------------------------------------------------------


def test_client_registers_a_company_and_sees_it_verified(
    signed_in: TestClient,
) -> None:
    page = signed_in.get("/companies/new")
    for name in ("legal_name", "jurisdiction_code", "registration_number", "country"):
        assert f'<label for="f-{name}">' in page.text
    company_id = register_company(signed_in)
    detail = signed_in.get(f"/companies/{company_id}")
    assert detail.status_code == 200
    assert "Acme Widgets Ltd is registered; the business registry confirmed it" in detail.text
    assert 'badge-verified">verified' in detail.text
    assert "Name in the registry" in detail.text
    dashboard = signed_in.get("/dashboard")
    assert f'href="/companies/{company_id}"' in dashboard.text
    assert 'badge-verified">verified' in dashboard.text


def test_company_form_errors_are_shown_next_to_fields(
    signed_in: TestClient, session: Session
) -> None:
    r = post(
        signed_in,
        "/companies/new",
        {
            "legal_name": "Bad Co",
            "jurisdiction_code": "gb",
            "registration_number": "1",
            "country": "XX",
        },
    )
    assert r.status_code == 422
    assert 'id="f-registration_number-error"' in r.text and 'id="f-country-error"' in r.text
    assert 'value="Bad Co"' in r.text
    assert session.scalar(select(Company.id).where(Company.legal_name == "Bad Co")) is None


def test_unverified_client_is_told_to_verify_before_registering(
    client: TestClient, session: Session
) -> None:
    user = make_user(session, role="client", verified=False)
    sign_in(client, user.email)
    assert "not verified yet" in client.get("/dashboard").text
    r = post(
        client,
        "/companies/new",
        {
            "legal_name": "Early Ltd",
            "jurisdiction_code": "gb",
            "registration_number": "12345678",
            "country": "GB",
        },
    )
    assert r.status_code == 403
    assert "Verify your email address" in r.text
    assert 'value="Early Ltd"' in r.text


def test_contractor_may_not_register_companies(client: TestClient, session: Session) -> None:
    user = make_user(session, role="contractor")
    sign_in(client, user.email)
    r = client.get("/companies/new")
    assert r.status_code == 403 and "client role" in r.text


def test_another_tenants_company_is_not_found(
    signed_in: TestClient, client: TestClient, session: Session
) -> None:
    company_id = register_company(signed_in)
    post(signed_in, "/logout")
    other = make_user(session, role="client")
    sign_in(client, other.email)
    r = client.get(f"/companies/{company_id}")
    assert r.status_code == 404
    r = post(client, f"/companies/{company_id}/invites", {"email": "x@example.com"})
    assert r.status_code == 404


def test_pending_company_cannot_invite(signed_in: TestClient) -> None:
    company_id = register_company(signed_in, number="PEND1234")
    page = signed_in.get(f"/companies/{company_id}")
    assert "Invites can be sent once the business registry has verified" in page.text
    assert "Ask the registry again" in page.text
    r = post(signed_in, f"/companies/{company_id}/invites", {"email": "c@example.com"})
    assert r.status_code == 409
    again = post(signed_in, f"/companies/{company_id}/registry-check")
    assert "ask the business registry again" in again.text


def test_invite_listed_resent_and_revoked(
    signed_in: TestClient, session: Session, app_context: AppContext
) -> None:
    company_id = register_company(signed_in)
    email = unique_email("contractor")
    first_token = invite(signed_in, session, app_context, company_id, email)
    page = signed_in.get(f"/companies/{company_id}")
    assert f"Invite sent to {email}" in page.text
    assert email in page.text and 'badge-pending">pending' in page.text

    duplicate = post(signed_in, f"/companies/{company_id}/invites", {"email": email})
    assert duplicate.status_code == 409
    assert "already has a pending invite" in duplicate.text
    assert f'value="{email}"' in duplicate.text

    invite_id = session.scalars(select(Invite.id).where(Invite.email == email)).one()
    resent = post(signed_in, f"/companies/{company_id}/invites/{invite_id}/resend")
    assert "the old link no longer works" in resent.text
    run_jobs(session, app_context, names=("companies.send_invite_email",))
    assert signed_in.get(f"/invites/{first_token}").status_code == 404

    revoked = post(signed_in, f"/companies/{company_id}/invites/{invite_id}/revoke")
    assert "was revoked" in revoked.text
    assert 'badge-revoked">revoked' in revoked.text
    again = post(signed_in, f"/companies/{company_id}/invites/{invite_id}/resend")
    assert "was not resent" in again.text


def test_invite_form_errors(signed_in: TestClient) -> None:
    company_id = register_company(signed_in)
    r = post(signed_in, f"/companies/{company_id}/invites", {"email": "nope"})
    assert r.status_code == 422
    assert 'id="f-email-error"' in r.text


# --- invites, seen by contractors --------------------------------------------------------


def test_contractor_registers_through_an_invite_and_accepts(
    signed_in: TestClient, session: Session, app_context: AppContext
) -> None:
    company_id = register_company(signed_in, legal_name="Globex Corporation")
    email = unique_email("invited")
    token = invite(signed_in, session, app_context, company_id, email)
    post(signed_in, "/logout")

    preview = signed_in.get(f"/invites/{token}")
    assert preview.status_code == 200
    assert "Globex Corporation invited you" in preview.text and email in preview.text
    assert f'href="/register?invite={token}"' in preview.text
    assert f'href="/login?next=/invites/{token}"' in preview.text

    form = signed_in.get(f"/register?invite={token}")
    assert f'value="{email}"' in form.text and "readonly" in form.text
    assert f'name="invite_token" value="{token}"' in form.text
    r = post(
        signed_in,
        "/register",
        {
            "full_name": "Carla Contractor",
            "email": email,
            "password": PASSWORD,
            "role": "contractor",
            "invite_token": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/invites/{token}"
    page = signed_in.get(f"/invites/{token}")
    assert "Accept the invitation" in page.text and "Carla Contractor" in page.text
    # The invite proved the address: no verification email, account verified.
    assert "not verified yet" not in page.text

    accepted = post(signed_in, f"/invites/{token}/accept")
    assert accepted.url.path == "/dashboard"
    assert "You are now working with Globex Corporation" in accepted.text
    assert f'href="/companies/{company_id}"' in accepted.text

    used = signed_in.get(f"/invites/{token}")
    assert used.status_code == 410 and "already been used" in used.text
    again = post(signed_in, f"/invites/{token}/accept")
    assert again.status_code == 410 and "already been used" in again.text
    company = signed_in.get(f"/companies/{company_id}")
    assert company.status_code == 200 and "Invite a contractor" not in company.text


def test_invite_for_someone_else_is_explained(
    signed_in: TestClient, client: TestClient, session: Session, app_context: AppContext
) -> None:
    company_id = register_company(signed_in)
    token = invite(signed_in, session, app_context, company_id, unique_email("invited"))
    post(signed_in, "/logout")
    stranger = make_user(session, role="contractor")
    sign_in(client, stranger.email)
    page = client.get(f"/invites/{token}")
    assert "but you are" in page.text and "Accept the invitation" not in page.text
    r = post(client, f"/invites/{token}/accept")
    assert r.status_code == 403 and "another email address" in r.text


def test_accepting_while_signed_out_asks_to_sign_in(
    signed_in: TestClient, session: Session, app_context: AppContext
) -> None:
    company_id = register_company(signed_in)
    token = invite(signed_in, session, app_context, company_id, unique_email("invited"))
    post(signed_in, "/logout")
    r = post(signed_in, f"/invites/{token}/accept", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=/invites/{token}"


def test_unknown_and_revoked_invites_are_polite(
    signed_in: TestClient, session: Session, app_context: AppContext
) -> None:
    r = signed_in.get("/invites/" + "x" * 43)
    assert r.status_code == 404 and "not valid" in r.text
    company_id = register_company(signed_in)
    email = unique_email("invited")
    token = invite(signed_in, session, app_context, company_id, email)
    invite_id = session.scalars(select(Invite.id).where(Invite.email == email)).one()
    post(signed_in, f"/companies/{company_id}/invites/{invite_id}/revoke")
    post(signed_in, "/logout")
    r = signed_in.get(f"/invites/{token}")
    assert r.status_code == 410 and "withdrawn" in r.text
    form = signed_in.get(f"/register?invite={token}")
    assert "withdrawn" in form.text and 'name="invite_token"' not in form.text


def test_expired_invite_is_explained(
    signed_in: TestClient, session: Session, app_context: AppContext
) -> None:
    company_id = register_company(signed_in)
    email = unique_email("invited")
    token = invite(signed_in, session, app_context, company_id, email)
    record = session.scalars(select(Invite).where(Invite.email == email)).one()
    record.expires_at = record.expires_at - timedelta(days=30)
    session.flush()
    r = signed_in.get(f"/invites/{token}")
    assert r.status_code == 410 and "has expired" in r.text


# --- dashboards, dev mailbox -----------------------------------------------------------


def test_admin_dashboard_charts_companies_and_jobs_by_status(
    client: TestClient, session: Session
) -> None:
    from sqlalchemy import func, select

    from mindlinks.companies.models import Company
    from mindlinks.jobs.models import Job
    from tests.companies.factories import make_company

    owner = make_user(session, role="client")
    make_company(session, owner, status="verified")
    make_company(session, owner, status="rejected")
    session.flush()
    verified = session.scalar(select(func.count()).where(Company.verification_status == "verified"))
    queued = session.scalar(select(func.count()).where(Job.status == "queued"))
    admin = make_user(session, role="admin")
    sign_in(client, admin.email)
    r = client.get("/dashboard")
    assert r.status_code == 200 and "Administration" in r.text
    assert "Companies by verification status" in r.text
    assert "Background jobs by status" in r.text
    html = " ".join(r.text.split())
    assert '<th scope="row">verified</th> <td> <svg class="bar bar-verified"' in html
    assert f'<span class="bar-value">{verified}</span>' in html
    assert f'<span class="bar-value">{queued}</span>' in html


def test_bar_chart_scales_to_the_largest_value_and_keeps_zero_rows() -> None:
    from mindlinks.web.charts import bar_chart

    chart = bar_chart("t", {"verified": 4, "rejected": 1, "odd": 2}, ("verified", "pending"))
    assert [(b.label, b.value, b.percent) for b in chart.bars] == [
        ("verified", 4, 100.0),
        ("pending", 0, 0.0),
        ("odd", 2, 50.0),
        ("rejected", 1, 25.0),
    ]
    assert chart.total == 7


def test_only_admins_get_platform_counts(session: Session) -> None:
    import pytest

    from mindlinks.companies.service import verification_counts
    from mindlinks.platform.errors import RoleNotAllowed
    from tests.companies.factories import actor

    with pytest.raises(RoleNotAllowed):
        verification_counts(session, actor(make_user(session, role="client")))


def test_dev_mailbox_lists_emails_newest_first_and_escapes_them(
    client: TestClient, session: Session
) -> None:
    # Ids order by time at millisecond grain; give the two explicit, ordered ones.
    older_id, newer_id = sorted([new_id(), new_id()])
    session.add(
        DevMailboxMessage(
            id=older_id,
            recipient="a@example.com",
            sender="s@example.com",
            subject="First",
            text_body="older",
            html_body="<p>older</p>",
            message_id="<1@x>",
        )
    )
    session.flush()
    session.add(
        DevMailboxMessage(
            id=newer_id,
            recipient="b@example.com",
            sender="s@example.com",
            subject="Second <b>bold</b>",
            text_body="Open http://testserver/verify-email?token=abc <script>alert(1)</script>",
            html_body='<p onclick="x()">Hi</p><script>alert(1)</script>',
            message_id="<2@x>",
        )
    )
    session.flush()
    r = client.get("/dev/mailbox")
    assert r.status_code == 200
    assert r.text.index("Second &lt;b&gt;bold") < r.text.index(">First<")
    assert '<a href="http://testserver/verify-email?token=abc">' in r.text
    assert "<script>" not in r.text
    assert 'sandbox=""' in r.text and 'srcdoc="&lt;p onclick' in r.text
    assert "'unsafe-inline'" in r.headers["content-security-policy"]
    only_a = client.get("/dev/mailbox?to=A@example.com")
    assert ">First<" in only_a.text and "Second" not in only_a.text


def test_dev_mailbox_is_not_found_in_production(
    client: TestClient, app_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    production = app_context.settings.model_copy(update={"env": "production"})
    monkeypatch.setattr(app_context, "settings", production)
    r = client.get("/dev/mailbox")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "Dev mailbox" not in client.get("/").text


# --- errors and deployment settings ----------------------------------------------------------


def test_oversized_form_fields_get_an_html_error_page(client: TestClient) -> None:
    r = post(
        client,
        "/register",
        {"full_name": "x", "email": "a" * 2000, "password": PASSWORD, "role": "client"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")


def test_unexpected_errors_become_an_html_500_page(
    signed_in: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mindlinks.companies import service as companies

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(companies, "list_companies", broken)
    r = signed_in.get("/dashboard")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/html")
    assert "boom" not in r.text and "has been logged" in r.text


def test_cookies_are_secure_behind_https(
    client: TestClient,
    client_user: User,
    app_context: AppContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = csrf(client)
    https = app_context.settings.model_copy(update={"public_url": "https://mindlinks.example"})
    monkeypatch.setattr(app_context, "settings", https)
    r = client.post(
        "/login",
        data={"email": client_user.email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    for cookie in r.headers.get_list("set-cookie"):
        assert "Secure" in cookie, cookie


def test_an_unverified_user_can_ask_for_a_new_link(client: TestClient, session: Session) -> None:
    from sqlalchemy import select

    from mindlinks.jobs.models import Job

    user = make_user(session, role="client", verified=False)
    sign_in(client, user.email)
    page = client.get("/dashboard")
    assert 'action="/verify-email/resend"' in page.text
    r = post(client, "/verify-email/resend", follow_redirects=True)
    assert r.status_code == 200
    assert "We sent a new verification link" in r.text
    queued = session.scalars(
        select(Job).where(Job.name == "identity.send_verification_email", Job.status == "queued")
    ).all()
    assert {"user_id": user.id} in [j.payload for j in queued]
