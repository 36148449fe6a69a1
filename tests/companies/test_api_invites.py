"""Invites, company side: create, list, resend, revoke."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mindlinks.companies.models import Invite
from mindlinks.companies.service import link_contractor, link_member
from mindlinks.jobs.models import Job
from mindlinks.platform.hashing import token_hash
from tests.companies.factories import (
    invite,
    last_invite_email,
    last_invite_token,
    make_company,
)
from tests.factories import auth_headers, make_user, problem, run_jobs

WEEK = timedelta(days=7)


def invite_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Invite))


def post_invite(client, company, headers, **body):
    body.setdefault("email", "dev@example.com")
    return client.post(f"/api/companies/{company.id}/invites", json=body, headers=headers)


class TestCreate:
    def test_an_owner_invites_and_the_link_goes_only_into_the_email(
        self, client, session, app_context, company, owner_headers
    ):
        response = post_invite(
            client,
            company,
            owner_headers,
            email="Dev@Example.com",
            full_name="Dee Veloper",
            message="Welcome aboard",
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["email"] == "Dev@example.com"
        assert body["status"] == "pending"
        assert body["expires_at"].endswith("Z")
        stored = session.get(Invite, body["id"])
        assert stored.token_hash is None  # minted by the email job, not the request
        assert run_jobs(session, app_context, names=("companies.send_invite_email",)) == 1

        email = last_invite_email(session, "Dev@example.com")
        token = last_invite_token(session, "Dev@example.com")
        assert f"http://testserver/invites/{token}" in email.text_body
        assert f"http://testserver/invites/{token}" in email.html_body
        assert "Acme Widgets Ltd" in email.subject
        assert "Welcome aboard" in email.text_body
        session.refresh(stored)
        assert stored.token_hash == token_hash(token)
        for answer in (
            response.text,
            client.get(f"/api/companies/{company.id}/invites", headers=owner_headers).text,
        ):
            assert token not in answer
            assert stored.token_hash not in answer

    def test_a_member_may_invite(self, client, session, company):
        member = make_user(session, role="client")
        link_member(session, company.id, member.id)
        assert post_invite(client, company, auth_headers(client, member)).status_code == 201

    def test_anonymous_is_401(self, client, session, company):
        problem(post_invite(client, company, {}), 401)
        assert invite_count(session) == 0

    @pytest.mark.parametrize("role", ["client", "contractor"])
    def test_another_tenant_gets_404(self, client, session, company, role):
        stranger = auth_headers(client, make_user(session, role=role))
        problem(post_invite(client, company, stranger), 404, "company-not-found")
        assert invite_count(session) == 0

    def test_a_linked_contractor_is_403(self, client, session, company):
        contractor = make_user(session, role="contractor")
        link_contractor(session, company.id, contractor.id)
        response = post_invite(client, company, auth_headers(client, contractor))
        problem(response, 403, "role-not-allowed")
        assert invite_count(session) == 0

    def test_an_unverified_owner_is_403(self, client, session):
        owner = make_user(session, role="client")
        company = make_company(session, owner)
        owner.email_verified_at = None
        session.flush()
        problem(
            post_invite(client, company, auth_headers(client, owner)), 403, "email-not-verified"
        )
        assert invite_count(session) == 0

    @pytest.mark.parametrize("status", ["pending", "rejected"])
    def test_an_unverified_company_is_409(self, client, session, owner, owner_headers, status):
        company = make_company(session, owner, status=status)
        problem(post_invite(client, company, owner_headers), 409, "company-not-verified")
        assert invite_count(session) == 0

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"email": "not-an-email"}, "email"),
            ({"email": "dév@example.com"}, "email"),
            ({"email": 42}, "email"),
            ({"email": "a@example.com", "full_name": 7}, "full_name"),
            ({"email": "a@example.com", "message": "x" * 2001}, "message"),
            ({"email": "a@example.com", "token": "mine"}, "token"),
            ({}, "email"),
        ],
    )
    def test_bad_input_is_422_and_leaves_no_row(
        self, client, session, company, owner_headers, body, field
    ):
        response = client.post(
            f"/api/companies/{company.id}/invites", json=body, headers=owner_headers
        )
        assert [e["field"] for e in problem(response, 422)["errors"]] == [field]
        assert invite_count(session) == 0

    def test_malformed_json_is_422(self, client, session, company, owner_headers):
        response = client.post(
            f"/api/companies/{company.id}/invites",
            content=b"{email: x}",
            headers={**owner_headers, "Content-Type": "application/json"},
        )
        problem(response, 422)
        assert invite_count(session) == 0

    def test_a_second_pending_invite_to_the_same_address_is_409(
        self, client, session, company, owner_headers
    ):
        first = post_invite(client, company, owner_headers, email="dev@example.com").json()
        again = post_invite(client, company, owner_headers, email="DEV@example.COM")
        body = problem(again, 409, "invite-already-pending")
        assert body["invite_id"] == first["id"]
        assert invite_count(session) == 1

    def test_an_expired_invite_makes_way_for_a_new_one(
        self, client, session, company, owner_headers, move_clock
    ):
        first = post_invite(client, company, owner_headers).json()
        move_clock(WEEK + timedelta(minutes=1))
        second = post_invite(client, company, owner_headers)
        assert second.status_code == 201, second.text
        assert session.get(Invite, first["id"]).status == "expired"

    def test_an_already_linked_contractor_is_409(self, client, session, company, owner_headers):
        contractor = make_user(session, role="contractor")
        link_contractor(session, company.id, contractor.id)
        response = post_invite(client, company, owner_headers, email=contractor.email.upper())
        problem(response, 409, "contractor-already-linked")

    def test_invites_are_rate_limited_per_company(
        self, client, session, company, owner_headers, app_context, monkeypatch
    ):
        monkeypatch.setattr(app_context.settings, "rate_limit_invites", "2/day")
        for n in range(2):
            assert (
                post_invite(client, company, owner_headers, email=f"d{n}@x.org").status_code == 201
            )
        refused = post_invite(client, company, owner_headers, email="d3@x.org")
        problem(refused, 429, "rate-limited")
        assert int(refused.headers["Retry-After"]) > 0
        assert invite_count(session) == 2


class TestList:
    def test_owners_and_members_page_through_invites_with_derived_statuses(
        self, client, session, app_context, company, owner
    ):
        _, token = invite(session, app_context, company, owner, "a@example.com")
        contractor = make_user(session, role="contractor", email="a@example.com")
        assert (
            client.post(
                f"/api/invites/{token}/accept", headers=auth_headers(client, contractor)
            ).status_code
            == 200
        )
        revoked, _ = invite(session, app_context, company, owner, "r@example.com")
        client.post(
            f"/api/companies/{company.id}/invites/{revoked.id}/revoke",
            headers=auth_headers(client, owner),
        )
        expired, _ = invite(session, app_context, company, owner, "e@example.com")
        expired.expires_at -= WEEK
        invite(session, app_context, company, owner, "p@example.com")
        session.flush()

        member = make_user(session, role="client")
        link_member(session, company.id, member.id)
        url = f"/api/companies/{company.id}/invites"
        for user in (owner, member):
            headers = auth_headers(client, user)
            first = client.get(f"{url}?limit=3", headers=headers).json()
            rest = client.get(
                f"{url}?limit=3&cursor={first['next_cursor']}", headers=headers
            ).json()
            assert rest["next_cursor"] is None
            statuses = {i["email"]: i["status"] for i in first["items"] + rest["items"]}
            assert statuses == {
                "a@example.com": "accepted",
                "r@example.com": "revoked",
                "e@example.com": "expired",
                "p@example.com": "pending",
            }
        headers = auth_headers(client, owner)
        for status, email in (("expired", "e@example.com"), ("pending", "p@example.com")):
            items = client.get(f"{url}?status={status}", headers=headers).json()["items"]
            assert [i["email"] for i in items] == [email]

    def test_who_may_list(self, client, session, company):
        url = f"/api/companies/{company.id}/invites"
        problem(client.get(url), 401)
        stranger = make_user(session, role="client")
        problem(client.get(url, headers=auth_headers(client, stranger)), 404)
        contractor = make_user(session, role="contractor")
        link_contractor(session, company.id, contractor.id)
        problem(client.get(url, headers=auth_headers(client, contractor)), 403, "role-not-allowed")

    def test_bad_paging_and_filters_are_422(self, client, company, owner_headers):
        url = f"/api/companies/{company.id}/invites"
        problem(client.get(f"{url}?limit=101", headers=owner_headers), 422)
        problem(client.get(f"{url}?status=lost", headers=owner_headers), 422)
        problem(client.get(f"{url}?cursor=a", headers=owner_headers), 422)


class TestResendAndRevoke:
    def test_resend_mints_a_new_link_and_the_old_one_dies(
        self, client, session, app_context, company, owner, owner_headers, move_clock
    ):
        created, old_token = invite(session, app_context, company, owner, "dev@example.com")
        old_expiry = created.expires_at
        move_clock(timedelta(days=8))  # resending also revives an expired invite
        response = client.post(
            f"/api/companies/{company.id}/invites/{created.id}/resend", headers=owner_headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "pending"
        assert response.json()["expires_at"] > old_expiry.isoformat()
        problem(client.get(f"/api/invites/{old_token}"), 404)
        run_jobs(session, app_context, names=("companies.send_invite_email",))
        new_token = last_invite_token(session, "dev@example.com")
        assert new_token != old_token
        assert client.get(f"/api/invites/{new_token}").status_code == 200

    def test_revoke_kills_the_link_and_is_harmless_twice(
        self, client, session, app_context, company, owner, owner_headers
    ):
        created, token = invite(session, app_context, company, owner, "dev@example.com")
        url = f"/api/companies/{company.id}/invites/{created.id}/revoke"
        for _ in range(2):
            response = client.post(url, headers=owner_headers)
            assert response.status_code == 200
            assert response.json()["status"] == "revoked"
        problem(client.get(f"/api/invites/{token}"), 410, "invite-gone")
        contractor = make_user(session, role="contractor", email="dev@example.com")
        accept = client.post(
            f"/api/invites/{token}/accept", headers=auth_headers(client, contractor)
        )
        problem(accept, 410, "invite-gone")
        resend = f"/api/companies/{company.id}/invites/{created.id}/resend"
        problem(client.post(resend, headers=owner_headers), 409, "invite-not-pending")

    def test_an_accepted_invite_can_be_neither_resent_nor_revoked(
        self, client, session, app_context, company, owner, owner_headers
    ):
        created, token = invite(session, app_context, company, owner, "dev@example.com")
        contractor = make_user(session, role="contractor", email="dev@example.com")
        client.post(f"/api/invites/{token}/accept", headers=auth_headers(client, contractor))
        base = f"/api/companies/{company.id}/invites/{created.id}"
        problem(client.post(f"{base}/resend", headers=owner_headers), 409, "invite-not-pending")
        problem(client.post(f"{base}/revoke", headers=owner_headers), 409, "invite-not-pending")

    @pytest.mark.parametrize("action", ["resend", "revoke"])
    def test_who_may_resend_or_revoke(self, client, session, app_context, company, owner, action):
        created, _ = invite(session, app_context, company, owner, "dev@example.com")
        url = f"/api/companies/{company.id}/invites/{created.id}/{action}"
        problem(client.post(url), 401)
        stranger = make_user(session, role="client")
        problem(client.post(url, headers=auth_headers(client, stranger)), 404)
        contractor = make_user(session, role="contractor")
        link_contractor(session, company.id, contractor.id)
        problem(client.post(url, headers=auth_headers(client, contractor)), 403)
        other_company = make_company(session, stranger)
        elsewhere = f"/api/companies/{other_company.id}/invites/{created.id}/{action}"
        problem(client.post(elsewhere, headers=auth_headers(client, stranger)), 404)
        assert session.get(Invite, created.id).status == "pending"

    def test_resend_queues_one_email_per_send(
        self, client, session, app_context, company, owner, owner_headers
    ):
        created, _ = invite(session, app_context, company, owner, "dev@example.com")
        client.post(
            f"/api/companies/{company.id}/invites/{created.id}/resend", headers=owner_headers
        )
        keys = session.scalars(
            select(Job.idempotency_key).where(Job.name == "companies.send_invite_email")
        ).all()
        assert sorted(keys) == [
            f"companies.send_invite_email:{created.id}:1",
            f"companies.send_invite_email:{created.id}:2",
        ]
