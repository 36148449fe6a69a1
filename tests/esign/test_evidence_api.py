"""GET /api/contracts/{id}/evidence and the published CA, GET /api/esign/platform-ca.pem."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from mindlinks.companies import service as companies
from mindlinks.esign.evidence_verify import verify_bundle, vkeys_from_key_document
from mindlinks.esign.pki import platform_ca_pem
from tests.contracts.factories import client_company, linked_contractor, make_contract
from tests.esign.evidence_factories import sealed_contract, unzip
from tests.factories import auth_headers, make_user, problem


@pytest.fixture
def sealed(session, app_context):
    return sealed_contract(session, app_context)


def evidence_url(contract) -> str:
    return f"/api/contracts/{contract.id}/evidence"


def test_anonymous_is_401(client, sealed):
    problem(client.get(evidence_url(sealed.contract)), 401)


def test_another_tenant_gets_404(client, session, sealed):
    _, stranger = client_company(session)
    problem(client.get(evidence_url(sealed.contract), headers=auth_headers(client, stranger)), 404)
    other_contractor = make_user(session, role="contractor")
    problem(
        client.get(evidence_url(sealed.contract), headers=auth_headers(client, other_contractor)),
        404,
    )
    problem(client.get("/api/contracts/nope/evidence", headers=auth_headers(client, stranger)), 404)


def test_a_party_downloads_a_bundle_that_verifies_against_the_published_anchors(client, sealed):
    anchors_keys = client.get("/api/ledger/public-keys").json()
    anchors_ca = client.get("/api/esign/platform-ca.pem").content
    for user in (sealed.client, sealed.contractor):
        response = client.get(evidence_url(sealed.contract), headers=auth_headers(client, user))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        assert (
            f'filename="evidence-{sealed.contract.id}.zip"'
            in response.headers["content-disposition"]
        )
        report = verify_bundle(
            response.content,
            trusted_ledger_keys=vkeys_from_key_document(anchors_keys),
            trusted_ca_pem=anchors_ca,
        )
        assert report.ok, [c for c in report.checks if not c.ok]
        assert report.anchored
    files = unzip(response.content)
    assert json.loads(files["keys/ledger-public-key.json"]) == anchors_keys
    assert files["keys/platform-ca.pem"] == anchors_ca


def test_a_staff_member_of_the_client_company_may_download_it(client, session, sealed):
    member = make_user(session, role="client")
    companies.link_member(session, sealed.contract.company_id, member.id)
    response = client.get(evidence_url(sealed.contract), headers=auth_headers(client, member))
    assert response.status_code == 200, response.text


def test_before_sealing_it_is_409_evidence_not_ready(client, session, app_context):
    unsealed = sealed_contract(session, app_context, seal=False)
    body = problem(
        client.get(evidence_url(unsealed.contract), headers=auth_headers(client, unsealed.client)),
        409,
        "evidence-not-ready",
    )
    assert "not sealed" in body["detail"]
    assert body["current_status"] == "active"


def test_before_a_checkpoint_covers_it_it_is_409_evidence_not_ready(client, session, app_context):
    uncovered = sealed_contract(session, app_context, checkpoint=False)
    body = problem(
        client.get(
            evidence_url(uncovered.contract), headers=auth_headers(client, uncovered.contractor)
        ),
        409,
        "evidence-not-ready",
    )
    assert "checkpoint" in body["detail"]


def test_a_draft_contract_has_no_evidence(client, session, app_context):
    company, owner = client_company(session)
    contractor = linked_contractor(session, company)
    draft = make_contract(session, company=company, client=owner, contractor=contractor)
    problem(
        client.get(evidence_url(draft), headers=auth_headers(client, owner)),
        409,
        "evidence-not-ready",
    )


def test_the_platform_ca_is_public_pem(client, app_context):
    response = client.get("/api/esign/platform-ca.pem")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-pem-file"
    assert response.content == platform_ca_pem(app_context.settings)
    (cert, *_) = x509.load_pem_x509_certificates(response.content)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
