"""POST/GET /api/companies: registration, the registry check, who may read."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mindlinks.companies.models import Company, CompanyLink
from mindlinks.companies.providers import RegistryUnavailable
from mindlinks.companies.service import link_contractor, link_member
from mindlinks.companies.tasks import check_registry
from mindlinks.jobs.models import Job
from mindlinks.jobs.service import JobContext
from tests.companies.factories import make_company
from tests.factories import auth_headers, make_user, problem, run_jobs

BODY = {
    "legal_name": "Acme Widgets Ltd",
    "jurisdiction_code": "gb",
    "registration_number": "0123 4567",
    "country": "GB",
}


def register(client, headers, **overrides):
    return client.post("/api/companies", json={**BODY, **overrides}, headers=headers)


def company_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Company))


def registry_jobs(session, company_id: str) -> list[Job]:
    return list(
        session.scalars(
            select(Job).where(
                Job.name == "companies.check_registry",
                Job.payload["company_id"].as_string() == company_id,
            )
        )
    )


class TestRegister:
    def test_a_verified_client_registers_and_owns_a_verified_company(
        self, client, session, owner, owner_headers
    ):
        response = register(client, owner_headers)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["legal_name"] == "Acme Widgets Ltd"
        assert body["verification_status"] == "verified"
        assert body["registration_number"] == "01234567"
        assert body["relation"] == "owner"
        registry = body["registry"]
        assert registry["source"] == "sandbox"
        assert registry["status"] == "Active"
        assert registry["name"]
        assert len(registry["incorporation_date"]) == 10  # YYYY-MM-DD
        link = session.scalar(select(CompanyLink).where(CompanyLink.company_id == body["id"]))
        assert (link.user_id, link.relation) == (owner.id, "owner")
        me = client.get("/api/me", headers=owner_headers).json()
        assert me["companies"] == [
            {"id": body["id"], "legal_name": "Acme Widgets Ltd", "relation": "owner"}
        ]

    def test_sandbox_numbers_starting_rej_are_rejected(self, client, owner_headers):
        body = register(client, owner_headers, registration_number="REJ-001").json()
        assert body["verification_status"] == "rejected"
        assert body["registry"]["status"] == "Dissolved"

    def test_sandbox_numbers_starting_pend_stay_pending_without_a_retry(
        self, client, session, owner_headers
    ):
        body = register(client, owner_headers, registration_number="pend 0001").json()
        assert body["verification_status"] == "pending"
        assert body["registry"]["status"] == "Pending incorporation"
        assert registry_jobs(session, body["id"]) == []

    def test_registration_number_and_country_are_normalized(self, client, owner_headers):
        body = register(
            client,
            owner_headers,
            registration_number=" sc-12 34ab ",
            country="de",
            jurisdiction_code="DE",
        ).json()
        assert body["registration_number"] == "SC1234AB"
        assert body["country"] == "DE"
        assert body["jurisdiction_code"] == "de"

    def test_anonymous_is_401(self, client, session):
        before = company_count(session)
        problem(client.post("/api/companies", json=BODY), 401, "not-authenticated")
        assert company_count(session) == before

    def test_a_contractor_may_not_register_a_company(self, client, session):
        contractor = make_user(session, role="contractor")
        before = company_count(session)
        problem(register(client, auth_headers(client, contractor)), 403, "role-not-allowed")
        assert company_count(session) == before

    def test_an_unverified_client_is_refused(self, client, session):
        unverified = make_user(session, role="client", verified=False)
        before = company_count(session)
        problem(register(client, auth_headers(client, unverified)), 403, "email-not-verified")
        assert company_count(session) == before

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("registration_number", "AB1"),
            ("registration_number", "A" * 21),
            ("registration_number", "AB.12345"),
            ("registration_number", "ÅB12345"),
            ("registration_number", "12345\n"),
            ("registration_number", "- - -"),
            ("country", "UK"),
            ("country", "XK"),
            ("country", "GBR"),
            ("country", "G1"),
            ("country", ""),
            ("jurisdiction_code", "g"),
            ("jurisdiction_code", "gb-sct"),
            ("jurisdiction_code", "us_delaware_x"),
            ("legal_name", "   "),
            ("legal_name", "Acme\u200bLtd"),
            ("legal_name", "A" * 201),
        ],
    )
    def test_bad_fields_are_422_naming_the_field_and_leave_no_row(
        self, client, session, owner_headers, field, value
    ):
        before = company_count(session)
        body = problem(register(client, owner_headers, **{field: value}), 422, "invalid-input")
        assert [e["field"] for e in body["errors"]] == [field]
        assert company_count(session) == before

    def test_every_bad_field_is_reported_at_once(self, client, owner_headers):
        body = problem(register(client, owner_headers, registration_number="x", country="ZZ"), 422)
        assert {e["field"] for e in body["errors"]} == {"registration_number", "country"}

    def test_malformed_json_is_422_and_leaves_no_row(self, client, session, owner_headers):
        before = company_count(session)
        response = client.post(
            "/api/companies",
            content=b'{"legal_name": "Acme",',
            headers={**owner_headers, "Content-Type": "application/json"},
        )
        body = problem(response, 422)
        assert body["errors"][0]["field"] == "body"
        assert company_count(session) == before

    @pytest.mark.parametrize(
        "overrides",
        [
            {"registration_number": 12345678},
            {"country": ["GB"]},
            {"legal_name": None},
            {"jurisdiction_code": True},
        ],
    )
    def test_wrong_types_are_422_and_leave_no_row(self, client, session, owner_headers, overrides):
        before = company_count(session)
        body = problem(register(client, owner_headers, **overrides), 422)
        assert [e["field"] for e in body["errors"]] == list(overrides)
        assert company_count(session) == before

    def test_unknown_fields_are_422(self, client, session, owner_headers):
        before = company_count(session)
        body = problem(register(client, owner_headers, verification_status="verified"), 422)
        assert body["errors"] == [{"field": "verification_status", "message": "unknown field"}]
        assert company_count(session) == before

    def test_missing_fields_are_422(self, client, owner_headers):
        response = client.post("/api/companies", json={"legal_name": "Acme"}, headers=owner_headers)
        body = problem(response, 422)
        assert {e["field"] for e in body["errors"]} == {
            "jurisdiction_code",
            "registration_number",
            "country",
        }


class TestRegistryDowntime:
    def test_a_registry_outage_leaves_the_company_pending_with_a_queued_check(
        self, client, session, app_context, owner_headers, registry
    ):
        registry.down = True
        response = register(client, owner_headers)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["verification_status"] == "pending"
        assert body["registry"] is None
        jobs = registry_jobs(session, body["id"])
        assert [j.idempotency_key for j in jobs] == [f"companies.check_registry:{body['id']}"]
        assert jobs[0].max_attempts == 12

        registry.down = False
        assert run_jobs(session, app_context, names=("companies.check_registry",)) == 1
        after = client.get(f"/api/companies/{body['id']}", headers=owner_headers).json()
        assert after["verification_status"] == "verified"
        assert after["registry"]["source"] == "sandbox"

    def test_the_check_raises_while_the_registry_is_still_down_so_it_is_retried(
        self, client, session, app_context, owner_headers, registry
    ):
        registry.down = True
        company_id = register(client, owner_headers).json()["id"]
        job = registry_jobs(session, company_id)[0]
        ctx = JobContext(job.id, job.name, 1, job.idempotency_key, app_context)
        with pytest.raises(RegistryUnavailable):
            check_registry(session, dict(job.payload), ctx)
        assert session.get(Company, company_id).verification_status == "pending"

    def test_an_adapter_bug_does_not_fail_the_registration(
        self, client, session, owner_headers, registry
    ):
        registry.broken = True
        body = register(client, owner_headers).json()
        assert body["verification_status"] == "pending"
        assert len(registry_jobs(session, body["id"])) == 1

    def test_a_decided_company_is_not_checked_again(
        self, client, session, app_context, owner_headers, registry
    ):
        registry.down = True
        company_id = register(client, owner_headers, registration_number="REJ999").json()["id"]
        session.get(Company, company_id).verification_status = "verified"
        session.flush()
        registry.down = False
        calls = registry.calls
        run_jobs(session, app_context, names=("companies.check_registry",))
        assert registry.calls == calls
        assert session.get(Company, company_id).verification_status == "verified"


class TestRead:
    def test_owner_member_and_linked_contractor_read_the_company(self, client, session, owner):
        company = make_company(session, owner)
        member = make_user(session, role="client")
        contractor = make_user(session, role="contractor")
        link_member(session, company.id, member.id)
        link_contractor(session, company.id, contractor.id)
        for user, relation in ((owner, "owner"), (member, "member"), (contractor, "contractor")):
            response = client.get(
                f"/api/companies/{company.id}", headers=auth_headers(client, user)
            )
            assert response.status_code == 200, response.text
            assert response.json()["id"] == company.id
            assert response.json()["relation"] == relation

    @pytest.mark.parametrize("role", ["client", "contractor"])
    def test_another_tenant_gets_404_like_an_unknown_id(self, client, session, role):
        company = make_company(session)
        stranger = auth_headers(client, make_user(session, role=role))
        hidden = problem(client.get(f"/api/companies/{company.id}", headers=stranger), 404)
        unknown = problem(client.get("/api/companies/01unknown", headers=stranger), 404)
        assert hidden["type"] == unknown["type"]
        assert hidden["title"] == unknown["title"]

    def test_anonymous_is_401(self, client, session):
        company = make_company(session)
        problem(client.get(f"/api/companies/{company.id}"), 401)

    def test_an_admin_reads_any_company(self, client, session):
        company = make_company(session)
        admin = make_user(session, role="admin")
        response = client.get(f"/api/companies/{company.id}", headers=auth_headers(client, admin))
        assert response.status_code == 200
        assert response.json()["relation"] is None

    def test_the_list_holds_only_the_callers_companies_and_pages(self, client, session, owner):
        mine = [make_company(session, owner, legal_name=f"Mine {i}") for i in range(3)]
        make_company(session)  # someone else's
        headers = auth_headers(client, owner)
        first = client.get("/api/companies?limit=2", headers=headers).json()
        assert len(first["items"]) == 2
        second = client.get(
            f"/api/companies?limit=2&cursor={first['next_cursor']}", headers=headers
        ).json()
        assert second["next_cursor"] is None
        ids = [c["id"] for c in first["items"] + second["items"]]
        assert ids == sorted((c.id for c in mine), reverse=True)  # newest first

    def test_the_list_is_401_for_anonymous(self, client):
        problem(client.get("/api/companies"), 401)


class TestRegistryCheckRequest:
    def test_an_owner_asks_again_about_a_pending_company(self, client, session, owner):
        company = make_company(session, owner, status="pending")
        headers = auth_headers(client, owner)
        url = f"/api/companies/{company.id}/registry-check"
        assert client.post(url, headers=headers).status_code == 202
        assert client.post(url, headers=headers).status_code == 202
        jobs = registry_jobs(session, company.id)
        assert len(jobs) == 1  # at most one check an hour
        assert ":manual:" in jobs[0].idempotency_key

    def test_a_decided_company_is_409(self, client, session, owner):
        company = make_company(session, owner)
        response = client.post(
            f"/api/companies/{company.id}/registry-check", headers=auth_headers(client, owner)
        )
        problem(response, 409, "company-not-pending")

    def test_a_linked_contractor_is_403_and_a_stranger_404(self, client, session, owner):
        company = make_company(session, owner, status="pending")
        contractor = make_user(session, role="contractor")
        link_contractor(session, company.id, contractor.id)
        url = f"/api/companies/{company.id}/registry-check"
        problem(client.post(url, headers=auth_headers(client, contractor)), 403, "role-not-allowed")
        stranger = make_user(session, role="client")
        problem(client.post(url, headers=auth_headers(client, stranger)), 404)
        problem(client.post(url), 401)
        assert registry_jobs(session, company.id) == []
