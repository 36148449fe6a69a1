"""Walks every endpoint that takes an object id with another tenant's ids.

Each route with a path parameter must be listed here: walked (another tenant,
signed in with the right role, gets 404 exactly like a missing id) or exempt
with the reason. A new endpoint that is neither fails the inventory test, so
isolation is checked for every route, not for the ones someone remembered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from mindlinks.notifications.service import notify_in_app
from tests.companies.factories import invite, make_company
from tests.contracts.factories import linked_contractor, make_contract
from tests.factories import auth_headers, make_user, problem
from tests.kyc.factories import start_session as start_kyc_session
from tests.web.test_routes import post as web_post
from tests.web.test_routes import sign_in

# (method, path) -> JSON body that would be valid for the owner.
API_WALK: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", "/api/companies/{company_id}"): None,
    ("POST", "/api/companies/{company_id}/registry-check"): None,
    ("GET", "/api/companies/{company_id}/invites"): None,
    ("POST", "/api/companies/{company_id}/invites"): {"email": "new@example.com"},
    ("POST", "/api/companies/{company_id}/invites/{invite_id}/resend"): None,
    ("POST", "/api/companies/{company_id}/invites/{invite_id}/revoke"): None,
    ("POST", "/api/notifications/{notification_id}/read"): None,
    ("GET", "/api/kyc/sessions/{session_id}"): None,
    ("POST", "/api/kyc/sandbox/{session_id}/submit"): None,
    ("GET", "/api/admin/kyc/sessions/{session_id}"): None,
    ("POST", "/api/admin/kyc/sessions/{session_id}/decision"): {
        "decision": "approved",
        "reason": "looks fine",
    },
    ("GET", "/api/contracts/{contract_id}"): None,
    ("PATCH", "/api/contracts/{contract_id}"): {"title": "Renamed"},
    ("POST", "/api/contracts/{contract_id}/send"): None,
    ("POST", "/api/contracts/{contract_id}/void"): {"reason": "test"},
    ("GET", "/api/contracts/{contract_id}/document"): None,
    ("GET", "/api/contracts/{contract_id}/preview"): None,
    ("GET", "/api/contracts/{contract_id}/evidence"): None,
    ("GET", "/api/contracts/{contract_id}/payment-schedule"): None,
    ("POST", "/api/contracts/{contract_id}/sign"): {
        "consent": True,
        "signature": {"type": "typed", "value": "Intruder"},
    },
    ("POST", "/api/contracts/{contract_id}/decline"): {"reason": "not mine"},
}
WEB_WALK: dict[tuple[str, str], dict[str, str] | None] = {
    ("GET", "/companies/{company_id}"): None,
    ("POST", "/companies/{company_id}/invites"): {"email": "new@example.com"},
    ("POST", "/companies/{company_id}/invites/{invite_id}/resend"): {},
    ("POST", "/companies/{company_id}/invites/{invite_id}/revoke"): {},
    ("POST", "/companies/{company_id}/registry-check"): {},
    ("GET", "/kyc/sandbox/{session_id}"): None,
    ("POST", "/kyc/sandbox/{session_id}"): {"document_number": "AB1234567"},
    ("GET", "/kyc/sessions/{session_id}"): None,
    ("GET", "/admin/kyc/sessions/{session_id}"): None,
    ("POST", "/admin/kyc/sessions/{session_id}/decision"): {
        "decision": "approved",
        "reason": "looks fine",
    },
    ("GET", "/contracts/{contract_id}"): None,
    ("GET", "/contracts/{contract_id}/edit"): None,
    ("GET", "/contracts/{contract_id}/sign"): None,
    ("POST", "/contracts/{contract_id}/edit"): {"title": "X"},
    ("POST", "/contracts/{contract_id}/preview"): {"title": "X"},
    ("POST", "/contracts/{contract_id}/send"): {},
    ("POST", "/admin/contracts/{contract_id}/reseal"): {},
    ("POST", "/contracts/{contract_id}/void"): {"void_reason": "x"},
    ("POST", "/contracts/{contract_id}/sign"): {
        "consent": "yes",
        "signature_type": "typed",
        "typed_name": "X",
    },
    ("POST", "/contracts/{contract_id}/decline"): {"decline_reason": "x"},
}
# An invite token is a bearer capability, not a tenant's id: its preview is
# public by design, and accepting it checks the signed-in email (403, API.md).
EXEMPT = {
    ("GET", "/api/invites/{token}"),
    ("POST", "/api/invites/{token}/accept"),
    ("GET", "/invites/{token}"),
    ("POST", "/invites/{token}/accept"),
    # The ledger's checkpoints and proofs are public by design (API.md): anyone
    # holding a checkpoint may check it; entries are listed only by subject.
    ("GET", "/api/ledger/checkpoints/{tree_size}"),
    ("GET", "/api/ledger/entries/{seq}/proof"),
    # A signed, expiring capability URL for one document (platform/blobs/urls.py):
    # the token is HMAC-signed, not a tenant's id, and is handed to admins only.
    ("GET", "/api/blobs/{token}"),
    # A provider's name, not a tenant's id: the caller is a provider, authenticated
    # by the signature over the body (401 without), and sessions are found by the
    # provider's own reference (tests/kyc/test_webhooks.py).
    ("POST", "/api/webhooks/kyc/{provider}"),
}


@dataclass
class Tenant:
    ids: dict[str, str]


@pytest.fixture
def tenant_a(session, app_context) -> Tenant:
    owner = make_user(session, role="client")
    company = make_company(session, owner)
    created, _ = invite(session, app_context, company, owner, "someone@example.com")
    note = notify_in_app(session, owner.id, "test", "Hello", "For tenant A only")
    kyc_session = start_kyc_session(session, app_context, make_user(session, role="contractor"))
    contract = make_contract(
        session, company=company, client=owner, contractor=linked_contractor(session, company)
    )
    session.flush()
    return Tenant(
        ids={
            "company_id": company.id,
            "invite_id": created.id,
            "notification_id": note.id,
            "session_id": kyc_session.id,
            "contract_id": contract.id,
        }
    )


def _walk(routes, prefix: str = ""):
    for route in routes:
        if isinstance(route, APIRoute):
            yield route, prefix + route.path
        elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.160)
            inner = prefix + route.include_context.prefix
            yield from _walk(route.original_router.routes, inner)


def _routes(app) -> set[tuple[str, str]]:
    found = set()
    for route, path in _walk(app.routes):
        if "{" in path:
            found |= {(m, path) for m in route.methods if m != "HEAD"}
    return found


def test_every_route_with_an_id_is_walked_or_exempt(app):
    unclassified = _routes(app) - set(API_WALK) - set(WEB_WALK) - EXEMPT
    assert unclassified == set(), f"classify these routes in {__name__}: {sorted(unclassified)}"
    stale = (set(API_WALK) | set(WEB_WALK) | EXEMPT) - _routes(app)
    assert stale == set()


@pytest.mark.parametrize("role", ["client", "contractor"])
def test_another_tenant_gets_404_on_every_api_route(client, session, tenant_a, role):
    intruder = make_user(session, role=role)
    headers = auth_headers(client, intruder)
    for (method, path), body in API_WALK.items():
        url = path.format(**tenant_a.ids)
        response = client.request(method, url, headers=headers, json=body)
        problem(response, 404)
        anonymous = client.request(method, url, json=body)
        problem(anonymous, 401)


@pytest.mark.parametrize("role", ["client", "contractor"])
def test_another_tenant_gets_404_on_every_web_page(app, session, tenant_a, role):
    intruder = make_user(session, role=role)
    browser = TestClient(app, raise_server_exceptions=False, base_url="http://testserver.local")
    sign_in(browser, intruder.email)
    for (method, path), form in WEB_WALK.items():
        url = path.format(**tenant_a.ids)
        if method == "GET":
            response = browser.get(url, follow_redirects=False)
        else:
            response = web_post(browser, url, form, follow_redirects=False)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "text/html" in response.headers["content-type"]


def test_an_unlinked_contractor_cannot_see_a_company_until_linked(client, session, tenant_a):
    from mindlinks.companies.service import link_contractor

    contractor = make_user(session, role="contractor")
    headers = auth_headers(client, contractor)
    url = f"/api/companies/{tenant_a.ids['company_id']}"
    problem(client.get(url, headers=headers), 404)
    link_contractor(session, tenant_a.ids["company_id"], contractor.id)
    session.flush()
    assert client.get(url, headers=headers).status_code == 200
    # Linked, but not staff: the invite list is refused with 403, not hidden.
    problem(client.get(url + "/invites", headers=headers), 403)
