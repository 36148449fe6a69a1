"""Invite links, contractor side: the public preview and accepting."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mindlinks.companies.models import CompanyLink, Invite
from tests.companies.factories import invite
from tests.factories import auth_headers, make_user, problem

WEEK = timedelta(days=7)


class TestPreview:
    def test_the_public_preview_names_the_company_and_the_address(
        self, client, session, app_context, company, owner
    ):
        _, token = invite(session, app_context, company, owner, "dev@example.com", full_name="Dee")
        response = client.get(f"/api/invites/{token}")
        assert response.status_code == 200
        body = response.json()
        assert body["company"] == {"legal_name": "Acme Widgets Ltd"}
        assert body["email"] == "dev@example.com"
        assert body["status"] == "pending"
        assert body["full_name"] == "Dee"

    def test_an_unknown_token_is_404(self, client):
        problem(client.get("/api/invites/no-such-token"), 404, "invite-not-found")
        problem(client.get("/api/invites/" + "x" * 500), 404, "invite-not-found")

    def test_an_expired_invite_is_410(
        self, client, session, app_context, company, owner, move_clock
    ):
        _, token = invite(session, app_context, company, owner, "dev@example.com")
        move_clock(WEEK + timedelta(seconds=1))
        body = problem(client.get(f"/api/invites/{token}"), 410, "invite-gone")
        assert body["invite_status"] == "expired"


class TestAccept:
    def test_the_invited_contractor_accepts_and_is_linked(
        self, client, session, app_context, company, owner
    ):
        _, token = invite(session, app_context, company, owner, "Dev@Example.com")
        contractor = make_user(session, role="contractor", email="dev@example.com")
        headers = auth_headers(client, contractor)
        response = client.post(f"/api/invites/{token}/accept", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "accepted"
        me = client.get("/api/me", headers=headers).json()
        assert me["companies"] == [
            {"id": company.id, "legal_name": "Acme Widgets Ltd", "relation": "contractor"}
        ]
        assert client.get(f"/api/companies/{company.id}", headers=headers).status_code == 200

    def test_a_reused_invite_is_410(self, client, session, app_context, company, owner):
        _, token = invite(session, app_context, company, owner, "dev@example.com")
        contractor = make_user(session, role="contractor", email="dev@example.com")
        headers = auth_headers(client, contractor)
        assert client.post(f"/api/invites/{token}/accept", headers=headers).status_code == 200
        body = problem(client.post(f"/api/invites/{token}/accept", headers=headers), 410)
        assert body["invite_status"] == "accepted"
        problem(client.get(f"/api/invites/{token}"), 410, "invite-gone")

    def test_another_email_is_403_and_nothing_changes(
        self, client, session, app_context, company, owner
    ):
        created, token = invite(session, app_context, company, owner, "dev@example.com")
        intruder = make_user(session, role="contractor", email="intruder@example.com")
        response = client.post(
            f"/api/invites/{token}/accept", headers=auth_headers(client, intruder)
        )
        problem(response, 403, "invite-email-mismatch")
        assert session.get(Invite, created.id).status == "pending"
        assert session.scalar(select(CompanyLink).where(CompanyLink.user_id == intruder.id)) is None

    def test_a_client_may_not_accept(self, client, session, app_context, company, owner):
        _, token = invite(session, app_context, company, owner, "dev@example.com")
        other_client = make_user(session, role="client")
        response = client.post(
            f"/api/invites/{token}/accept", headers=auth_headers(client, other_client)
        )
        problem(response, 403, "role-not-allowed")

    def test_anonymous_is_401_and_unknown_is_404(
        self, client, session, app_context, company, owner
    ):
        _, token = invite(session, app_context, company, owner, "dev@example.com")
        problem(client.post(f"/api/invites/{token}/accept"), 401)
        contractor = make_user(session, role="contractor", email="dev@example.com")
        response = client.post(
            "/api/invites/unknown/accept", headers=auth_headers(client, contractor)
        )
        problem(response, 404, "invite-not-found")

    def test_an_expired_invite_is_410(
        self, client, session, app_context, company, owner, move_clock
    ):
        _, token = invite(session, app_context, company, owner, "dev@example.com")
        contractor = make_user(session, role="contractor", email="dev@example.com")
        headers = auth_headers(client, contractor)
        move_clock(WEEK + timedelta(seconds=1))
        problem(client.post(f"/api/invites/{token}/accept", headers=headers), 410, "invite-gone")

    def test_of_two_racing_accepts_only_one_wins(
        self, client, session, app_context, company, owner
    ):
        created, token = invite(session, app_context, company, owner, "dev@example.com")
        contractor = make_user(session, role="contractor", email="dev@example.com")
        headers = auth_headers(client, contractor)
        # The other accept committed after this request loaded the invite: the
        # row says accepted while the loaded object still says pending.
        session.execute(
            Invite.__table__.update().where(Invite.id == created.id).values(status="accepted")
        )
        assert created.status == "pending"
        response = client.post(f"/api/invites/{token}/accept", headers=headers)
        problem(response, 410, "invite-gone")
        assert (
            session.scalar(select(CompanyLink).where(CompanyLink.user_id == contractor.id)) is None
        )

    def test_an_unverified_contractor_may_accept_since_the_link_proves_the_address(
        self, client, session, app_context, company, owner
    ):
        _, token = invite(session, app_context, company, owner, "dev@example.com")
        contractor = make_user(session, role="contractor", email="dev@example.com", verified=False)
        response = client.post(
            f"/api/invites/{token}/accept", headers=auth_headers(client, contractor)
        )
        assert response.status_code == 200
