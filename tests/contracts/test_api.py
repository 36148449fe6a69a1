"""The contracts endpoints: every one answers 401 anonymous, 404 for another tenant,
and works for the right actor; each bad input of issue 5 that concerns drafting,
sending and voiding answers its 4xx."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from mindlinks.companies.service import link_contractor, link_member
from mindlinks.contracts import repository
from mindlinks.contracts.documents import store_document
from mindlinks.contracts.models import ContractTemplate
from mindlinks.identity.models import User
from mindlinks.platform.context import AppContext
from tests.companies.factories import make_company
from tests.contracts.conftest import Headers, Tenant
from tests.contracts.factories import (
    DIRECT_KEY,
    EOR_KEY,
    contract_body,
    make_shipped_contract,
)
from tests.contracts.pdf_helpers import signature_fields
from tests.factories import make_user, problem

HeadersFor = Callable[[User], Headers]


def _fields(body: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in body.get("errors") or []}


def _create(
    client: TestClient,
    headers: Headers,
    template: ContractTemplate,
    contractor: User,
    **overrides: Any,
) -> Any:
    return client.post(
        "/api/contracts", json=contract_body(template, contractor, **overrides), headers=headers
    )


@pytest.fixture
def owner_headers(headers_for: HeadersFor, tenant: Tenant) -> Headers:
    return headers_for(tenant.owner)


@pytest.fixture
def contractor_headers(headers_for: HeadersFor, tenant: Tenant) -> Headers:
    return headers_for(tenant.contractor)


@pytest.fixture
def stranger_headers(headers_for: HeadersFor, other_tenant: Tenant) -> Headers:
    return headers_for(other_tenant.owner)


@pytest.fixture
def draft(
    client: TestClient,
    owner_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
) -> dict[str, Any]:
    response = _create(client, owner_headers, templates[DIRECT_KEY], tenant.contractor)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _send(client: TestClient, headers: Headers, contract_id: str) -> dict[str, Any]:
    response = client.post(f"/api/contracts/{contract_id}/send", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- templates ---------------------------------------------------------------------------


def test_templates_are_listed_to_any_signed_in_user(
    client: TestClient,
    contractor_headers: Headers,
    templates: dict[str, ContractTemplate],
) -> None:
    problem(client.get("/api/contract-templates"), 401)
    response = client.get("/api/contract-templates", headers=contractor_headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    items = {item["key"]: item for item in body["items"]}
    assert {DIRECT_KEY, EOR_KEY} <= set(items)
    direct = items[DIRECT_KEY]
    assert direct["id"] == templates[DIRECT_KEY].id
    assert (direct["kind"], direct["version"], direct["latest"]) == ("direct", 1, True)
    assert direct["roles"] == ["client", "contractor"]
    assert items[EOR_KEY]["roles"] == ["client", "contractor", "eor"]
    law = next(v for v in direct["variables"] if v["name"] == "governing_law")
    assert (law["type"], law["required"]) == ("string", True)


def test_older_versions_are_listed_on_request(
    client: TestClient,
    session: Session,
    contractor_headers: Headers,
    templates: dict[str, ContractTemplate],
) -> None:
    old = templates[DIRECT_KEY]
    newer = ContractTemplate(
        key=old.key,
        version=old.version + 1,
        name=old.name,
        kind=old.kind,
        signing_order=old.signing_order,
        body=old.body + "\n",
        variables=old.variables,
        body_sha256=hashlib.sha256((old.body + "\n").encode()).hexdigest(),
    )
    session.add(newer)
    session.flush()
    latest = client.get("/api/contract-templates", headers=contractor_headers).json()["items"]
    ids = {i["id"] for i in latest}
    assert newer.id in ids and old.id not in ids
    every = client.get(
        "/api/contract-templates?all_versions=true&limit=100", headers=contractor_headers
    ).json()["items"]
    by_id = {i["id"]: i for i in every}
    assert by_id[old.id]["latest"] is False and by_id[newer.id]["latest"] is True


# --- create ------------------------------------------------------------------------------


def test_a_client_creates_a_draft(
    client: TestClient,
    owner_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
) -> None:
    response = _create(client, owner_headers, templates[EOR_KEY], tenant.contractor)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft"
    assert body["template"] == {
        "id": templates[EOR_KEY].id,
        "key": EOR_KEY,
        "name": "Employer of Record Services Agreement",
        "kind": "eor",
        "version": 1,
    }
    assert [(p["role"], p["user_id"], p["signed_at"]) for p in body["parties"]] == [
        ("client", tenant.owner.id, None),
        ("contractor", tenant.contractor.id, None),
        ("eor", None, None),
    ]
    assert body["payment_terms"] == {
        "type": "fixed",
        "amount_minor": 500_000,
        "currency": "EUR",
        "cycle": "monthly",
    }
    assert (body["start_date"], body["end_date"]) == ("2027-01-01", "2027-12-31")
    assert body["document_sha256"] is None and body["sealed_sha256"] is None
    assert body["sealed_at"] is None
    assert body["company_id"] == tenant.company.id
    assert body["variables"]["work_country"] == "Germany"
    assert body["next_signer_roles"] == []


def test_creating_needs_a_signed_in_verified_client(
    client: TestClient,
    session: Session,
    headers_for: HeadersFor,
    contractor_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
) -> None:
    template = templates[DIRECT_KEY]
    problem(client.post("/api/contracts", json=contract_body(template, tenant.contractor)), 401)
    problem(_create(client, contractor_headers, template, tenant.contractor), 403)
    unverified = make_user(session, role="client", verified=False)
    link_member(session, tenant.company.id, unverified.id)
    problem(
        _create(client, headers_for(unverified), template, tenant.contractor),
        403,
        "email-not-verified",
    )
    nobody = make_user(session, role="client")
    problem(
        _create(client, headers_for(nobody), template, tenant.contractor), 403, "not-company-staff"
    )


def test_a_company_that_is_not_verified_cannot_create(
    client: TestClient,
    session: Session,
    headers_for: HeadersFor,
    templates: dict[str, ContractTemplate],
) -> None:
    owner = make_user(session, role="client")
    company = make_company(session, owner, status="pending")
    contractor = make_user(session, role="contractor")
    link_contractor(session, company.id, contractor.id)
    problem(
        _create(client, headers_for(owner), templates[DIRECT_KEY], contractor),
        409,
        "company-not-verified",
    )


def test_unknown_template_unlinked_contractor_and_end_before_start_are_named(
    client: TestClient,
    owner_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    body = contract_body(
        templates[DIRECT_KEY],
        other_tenant.contractor,  # linked to another company only
        template_id="01nosuchtemplate0000000000",
        start_date="2027-06-01",
        end_date="2027-05-31",
    )
    answer = problem(client.post("/api/contracts", json=body, headers=owner_headers), 422)
    fields = _fields(answer)
    assert set(fields) == {"template_id", "contractor_id", "end_date"}
    assert "linked" in fields["contractor_id"]
    assert "2027-06-01" in fields["end_date"]


def test_a_client_user_is_not_a_contractor(
    client: TestClient,
    owner_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
) -> None:
    answer = problem(_create(client, owner_headers, templates[DIRECT_KEY], tenant.owner), 422)
    assert set(_fields(answer)) == {"contractor_id"}


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        (
            {"type": "fixed", "amount_minor": -500, "currency": "EUR", "cycle": "monthly"},
            "payment_terms.amount_minor",
        ),
        (
            {"type": "fixed", "amount_minor": 10.5, "currency": "EUR", "cycle": "monthly"},
            "payment_terms.amount_minor",
        ),
        (
            {"type": "fixed", "amount_minor": 1000.0, "currency": "EUR", "cycle": "monthly"},
            "payment_terms.amount_minor",
        ),
        (
            {"type": "fixed", "amount_minor": 1000, "currency": "XYZ", "cycle": "monthly"},
            "payment_terms.currency",
        ),
        (
            {"type": "hourly", "rate_minor": 1000, "currency": "EUR", "cycle": "daily"},
            "payment_terms.cycle",
        ),
        (
            {
                "type": "milestones",
                "currency": "EUR",
                "milestones": [{"title": "Late", "amount_minor": 100, "due_date": "2028-01-15"}],
            },
            "payment_terms.milestones.0.due_date",
        ),
    ],
)
def test_bad_payment_terms_answer_422_naming_the_field(
    client: TestClient,
    owner_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
    terms: dict[str, Any],
    field: str,
) -> None:
    answer = problem(
        _create(
            client, owner_headers, templates[DIRECT_KEY], tenant.contractor, payment_terms=terms
        ),
        422,
    )
    assert field in _fields(answer)


def test_bad_variables_and_missing_fields_answer_422(
    client: TestClient,
    owner_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
) -> None:
    answer = problem(
        _create(
            client,
            owner_headers,
            templates[EOR_KEY],
            tenant.contractor,
            variables={"notice_days": "thirty", "colour": "blue"},
        ),
        422,
    )
    assert set(_fields(answer)) == {
        "variables.notice_days",
        "variables.work_country",
        "variables.colour",
    }
    body = contract_body(templates[DIRECT_KEY], tenant.contractor)
    del body["title"]
    body["start_date"] = "2027-02-30"
    answer = problem(client.post("/api/contracts", json=body, headers=owner_headers), 422)
    assert {"title", "start_date"} <= set(_fields(answer))


def test_staff_of_several_companies_say_which(
    client: TestClient,
    session: Session,
    owner_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
) -> None:
    second = make_company(session, tenant.owner, legal_name="Second Ltd")
    link_contractor(session, second.id, tenant.contractor.id)
    template = templates[DIRECT_KEY]
    answer = problem(_create(client, owner_headers, template, tenant.contractor), 422)
    assert set(_fields(answer)) == {"company_id"}
    created = _create(client, owner_headers, template, tenant.contractor, company_id=second.id)
    assert created.status_code == 201
    assert created.json()["company_id"] == second.id


# --- read ----------------------------------------------------------------------------------


def test_a_contract_is_read_by_its_parties_only(
    client: TestClient,
    session: Session,
    headers_for: HeadersFor,
    draft: dict[str, Any],
    owner_headers: Headers,
    contractor_headers: Headers,
    stranger_headers: Headers,
    other_tenant: Tenant,
) -> None:
    path = f"/api/contracts/{draft['id']}"
    problem(client.get(path), 401)
    problem(client.get(path, headers=stranger_headers), 404, "contract-not-found")
    problem(client.get(path, headers=headers_for(other_tenant.contractor)), 404)
    problem(client.get(path, headers=headers_for(make_user(session, role="admin"))), 404)
    problem(client.get("/api/contracts/01nosuchcontract0000000000", headers=owner_headers), 404)
    response = client.get(path, headers=owner_headers)
    assert response.status_code == 200
    assert response.json() == draft
    # A draft is the client's working copy: its contractor sees it once it is sent.
    problem(client.get(path, headers=contractor_headers), 404, "contract-not-found")
    sent = client.post(path + "/send", headers=owner_headers)
    assert sent.status_code == 200, sent.text
    response = client.get(path, headers=contractor_headers)
    assert response.status_code == 200
    assert response.json() == sent.json()


def test_admins_read_eor_contracts(
    client: TestClient,
    session: Session,
    headers_for: HeadersFor,
    owner_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
) -> None:
    created = _create(client, owner_headers, templates[EOR_KEY], tenant.contractor).json()
    admin = headers_for(make_user(session, role="admin"))
    assert client.get(f"/api/contracts/{created['id']}", headers=admin).status_code == 200


def test_the_list_holds_the_callers_contracts_only(
    client: TestClient,
    session: Session,
    owner_headers: Headers,
    contractor_headers: Headers,
    stranger_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    problem(client.get("/api/contracts"), 401)
    ids = [
        _create(client, owner_headers, templates[DIRECT_KEY], tenant.contractor).json()["id"]
        for _ in range(3)
    ]
    make_shipped_contract(
        session,
        company=other_tenant.company,
        client=other_tenant.owner,
        contractor=other_tenant.contractor,
    )
    _send(client, owner_headers, ids[0])
    listed = client.get("/api/contracts?limit=2", headers=owner_headers).json()
    assert [c["id"] for c in listed["items"]] == [ids[2], ids[1]]  # newest first
    rest = client.get(
        f"/api/contracts?limit=2&cursor={listed['next_cursor']}", headers=owner_headers
    ).json()
    assert [c["id"] for c in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    sent = client.get("/api/contracts?status=sent", headers=contractor_headers).json()
    assert [c["id"] for c in sent["items"]] == [ids[0]]
    assert sent["items"][0]["next_signer_roles"] == ["client"]
    theirs = client.get("/api/contracts", headers=stranger_headers).json()["items"]
    assert not set(ids) & {c["id"] for c in theirs} and len(theirs) == 1
    problem(client.get("/api/contracts?status=lost", headers=owner_headers), 422)


# --- edit ----------------------------------------------------------------------------------


def test_a_draft_is_edited_and_revalidated(
    client: TestClient,
    draft: dict[str, Any],
    owner_headers: Headers,
    contractor_headers: Headers,
    stranger_headers: Headers,
) -> None:
    path = f"/api/contracts/{draft['id']}"
    change = {"title": "Frontend work", "end_date": None, "variables": {"notice_days": 14}}
    problem(client.patch(path, json=change), 401)
    problem(client.patch(path, json=change, headers=stranger_headers), 404)
    # The contractor does not see a draft at all (it is the client's working copy).
    problem(client.patch(path, json=change, headers=contractor_headers), 404)
    response = client.patch(path, json=change, headers=owner_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["end_date"], body["variables"]["notice_days"]) == (
        "Frontend work",
        None,
        14,
    )
    assert body["start_date"] == draft["start_date"] and body["revision"] == 2
    bad = {"start_date": "2028-01-01", "end_date": "2027-12-31", "variables": {"notice_days": 0}}
    answer = problem(client.patch(path, json=bad, headers=owner_headers), 422)
    assert set(_fields(answer)) == {"end_date", "variables.notice_days"}
    problem(client.patch(path, json={"status": "active"}, headers=owner_headers), 422)


def test_a_sent_contract_cannot_be_edited(
    client: TestClient, draft: dict[str, Any], owner_headers: Headers
) -> None:
    _send(client, owner_headers, draft["id"])
    answer = problem(
        client.patch(
            f"/api/contracts/{draft['id']}", json={"title": "Late"}, headers=owner_headers
        ),
        409,
        "contract-not-editable",
    )
    assert answer["current_status"] == "sent"
    assert "sent" in answer["detail"]


# --- send and the document ---------------------------------------------------------------


def test_sending_fixes_the_pdf_and_its_hash(
    client: TestClient,
    draft: dict[str, Any],
    owner_headers: Headers,
    contractor_headers: Headers,
    stranger_headers: Headers,
) -> None:
    path = f"/api/contracts/{draft['id']}"
    problem(client.post(f"{path}/send"), 401)
    problem(client.post(f"{path}/send", headers=stranger_headers), 404)
    problem(client.post(f"{path}/send", headers=contractor_headers), 404)
    problem(client.get(f"{path}/document", headers=owner_headers), 409, "contract-not-sent")

    sent = _send(client, owner_headers, draft["id"])
    assert sent["status"] == "sent" and sent["sent_at"] is not None
    assert sent["next_signer_roles"] == ["client"]
    digest = sent["document_sha256"]
    assert len(digest) == 64

    problem(client.get(f"{path}/document"), 401)
    problem(client.get(f"{path}/document", headers=stranger_headers), 404)
    for headers in (owner_headers, contractor_headers):
        document = client.get(f"{path}/document", headers=headers)
        assert document.status_code == 200
        assert document.headers["content-type"] == "application/pdf"
        assert hashlib.sha256(document.content).hexdigest() == digest
        assert document.headers["etag"] == f'"{digest}"'
        assert document.headers["content-disposition"] == (
            f'inline; filename="contract-{draft["id"]}.pdf"'
        )
        assert set(signature_fields(document.content)) == {"client", "contractor"}
    unchanged = client.get(
        f"{path}/document", headers={**owner_headers, "If-None-Match": f'"{digest}"'}
    )
    assert unchanged.status_code == 304 and not unchanged.content
    again = problem(
        client.post(f"{path}/send", headers=owner_headers), 409, "contract-transition-not-allowed"
    )
    assert again["current_status"] == "sent"


def test_the_sealed_pdf_is_served_once_it_exists(
    client: TestClient,
    session: Session,
    app_context: AppContext,
    draft: dict[str, Any],
    owner_headers: Headers,
) -> None:
    sent = _send(client, owner_headers, draft["id"])
    sent_pdf = client.get(f"/api/contracts/{draft['id']}/document", headers=owner_headers).content
    sealed_pdf = sent_pdf + b"\n% an incremental update would follow here\n"
    store_document(session, app_context, draft["id"], "sealed", sealed_pdf)
    document = client.get(f"/api/contracts/{draft['id']}/document", headers=owner_headers)
    assert document.content == sealed_pdf
    assert document.headers["etag"] != f'"{sent["document_sha256"]}"'
    assert "sealed" in document.headers["content-disposition"]


def test_the_preview_is_the_html_of_the_pdf(
    client: TestClient,
    draft: dict[str, Any],
    owner_headers: Headers,
    contractor_headers: Headers,
    stranger_headers: Headers,
) -> None:
    path = f"/api/contracts/{draft['id']}/preview"
    problem(client.get(path), 401)
    problem(client.get(path, headers=stranger_headers), 404)
    problem(client.get(path, headers=contractor_headers), 404)
    for headers in (owner_headers,):
        response = client.get(path, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "Backend development" in response.text
        assert 'data-role="contractor"' in response.text


# --- void ----------------------------------------------------------------------------------


def test_a_sent_contract_is_voided_by_the_client(
    client: TestClient,
    draft: dict[str, Any],
    owner_headers: Headers,
    contractor_headers: Headers,
    stranger_headers: Headers,
) -> None:
    path = f"/api/contracts/{draft['id']}/void"
    _send(client, owner_headers, draft["id"])
    reason = {"reason": "The project was cancelled"}
    problem(client.post(path, json=reason), 401)
    problem(client.post(path, json=reason, headers=stranger_headers), 404)
    problem(client.post(path, json=reason, headers=contractor_headers), 403)
    problem(client.post(path, json={}, headers=owner_headers), 422)
    problem(client.post(path, json={"reason": "   "}, headers=owner_headers), 422)
    problem(client.post(path, json={"reason": "x" * 1001}, headers=owner_headers), 422)
    response = client.post(path, json=reason, headers=owner_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["void_reason"]) == ("void", "The project was cancelled")
    assert body["voided_at"] is not None and body["next_signer_roles"] == []


def test_voiding_an_active_contract_is_409_naming_its_state(
    client: TestClient, session: Session, draft: dict[str, Any], owner_headers: Headers
) -> None:
    assert repository.move_status(session, draft["id"], "draft", "active")
    answer = problem(
        client.post(
            f"/api/contracts/{draft['id']}/void", json={"reason": "Too late"}, headers=owner_headers
        ),
        409,
        "contract-transition-not-allowed",
    )
    assert answer["current_status"] == "active"
    assert "active" in answer["detail"]


# --- the ledger subject and the whole journey ----------------------------------------------


def test_contract_ledger_entries_are_read_by_the_parties(
    client: TestClient,
    draft: dict[str, Any],
    owner_headers: Headers,
    contractor_headers: Headers,
    stranger_headers: Headers,
) -> None:
    sent = _send(client, owner_headers, draft["id"])
    subject = f"/api/ledger/entries?subject=contract:{draft['id']}"
    problem(client.get(subject, headers=stranger_headers), 404)
    for headers in (owner_headers, contractor_headers):
        response = client.get(subject, headers=headers)
        assert response.status_code == 200, response.text
        (entry,) = response.json()["items"]
        assert entry["kind"] == "contract.sent"
        payload = json.loads(base64.b64decode(entry["entry"]))["payload"]
        assert payload["document_sha256"] == sent["document_sha256"]


def test_draft_edit_send_read_journey(
    client: TestClient,
    owner_headers: Headers,
    contractor_headers: Headers,
    templates: dict[str, ContractTemplate],
    tenant: Tenant,
) -> None:
    created = _create(
        client,
        owner_headers,
        templates[EOR_KEY],
        tenant.contractor,
        payment_terms={
            "type": "milestones",
            "currency": "JPY",
            "milestones": [
                {"title": "Design", "amount_minor": 300_000, "due_date": "2027-03-01"},
                {"title": "Build", "amount_minor": 700_000, "due_date": "2027-09-01"},
            ],
        },
    ).json()
    contract_id = created["id"]
    edited = client.patch(
        f"/api/contracts/{contract_id}",
        json={"scope": "Design and build the mobile app.", "variables": {"notice_days": 60}},
        headers=owner_headers,
    ).json()
    assert edited["scope"] == "Design and build the mobile app."
    preview = client.get(f"/api/contracts/{contract_id}/preview", headers=owner_headers).text
    assert "JPY 1,000,000" in preview and "60 days" in preview
    sent = _send(client, owner_headers, contract_id)
    assert sent["status"] == "sent"
    document = client.get(f"/api/contracts/{contract_id}/document", headers=contractor_headers)
    assert hashlib.sha256(document.content).hexdigest() == sent["document_sha256"]
    assert set(signature_fields(document.content)) == {"client", "contractor", "eor"}
    seen = client.get(f"/api/contracts/{contract_id}", headers=contractor_headers).json()
    assert seen["document_sha256"] == sent["document_sha256"]
