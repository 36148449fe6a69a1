"""The signing endpoints: anonymous 401, another tenant 404, the right actor, and
every bad input answered with a problem+json 4xx."""

from __future__ import annotations

import pytest

from mindlinks.esign.api import SIGN_PATHS, sign_body_limit
from mindlinks.esign.models import ContractSignature
from tests.esign.factories import drawn, make_admin, make_deal, noisy_png, png_bytes, sign_body
from tests.factories import auth_headers, problem


def sign_url(contract):
    return f"/api/contracts/{contract.id}/sign"


def decline_url(contract):
    return f"/api/contracts/{contract.id}/decline"


@pytest.fixture
def client_headers(client, deal):
    return auth_headers(client, deal.client)


@pytest.fixture
def contractor_headers(client, deal):
    return auth_headers(client, deal.contractor)


# --- sign ------------------------------------------------------------------------


def test_anonymous_cannot_sign(client, deal):
    problem(client.post(sign_url(deal.contract), json=sign_body()), 401)


def test_another_tenant_gets_404(client, session, app_context, deal):
    other = make_deal(session, app_context)
    for user in (other.client, other.contractor):
        response = client.post(
            sign_url(deal.contract), json=sign_body(), headers=auth_headers(client, user)
        )
        problem(response, 404, "contract-not-found")
    response = client.post(
        sign_url(deal.contract), json={"consent": False}, headers=auth_headers(client, other.client)
    )
    problem(response, 404)  # 404 before the body is judged


def test_an_unknown_contract_is_404(client, client_headers):
    problem(client.post("/api/contracts/nope/sign", json=sign_body(), headers=client_headers), 404)


def test_the_client_signs_then_the_contractor_activates(
    client, session, deal, client_headers, contractor_headers
):
    response = client.post(
        sign_url(deal.contract),
        json=sign_body({"type": "typed", "value": "Clara Client"}),
        headers={**client_headers, "User-Agent": "Mozilla/5.0 (test)"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == deal.contract.id
    assert body["status"] == "partially_signed"
    assert body["document_sha256"] == deal.contract.document_sha256
    parties = {p["role"]: p for p in body["parties"]}
    assert parties["client"]["signed_at"] is not None
    assert parties["contractor"]["signed_at"] is None
    signature = session.query(ContractSignature).filter_by(contract_id=deal.contract.id).one()
    assert signature.user_agent == "Mozilla/5.0 (test)"
    assert signature.ip == "testclient"

    response = client.post(
        sign_url(deal.contract),
        json=sign_body(drawn(png_bytes(), data_url=True)),
        headers=contractor_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "active"
    assert body["activated_at"] is not None
    assert all(p["signed_at"] for p in body["parties"])


@pytest.mark.parametrize("consent", [None, False])
def test_consent_missing_or_false_is_422(client, deal, client_headers, consent):
    payload = sign_body()
    if consent is None:
        del payload["consent"]
    else:
        payload["consent"] = consent
    body = problem(
        client.post(sign_url(deal.contract), json=payload, headers=client_headers),
        422,
        "consent-required",
    )
    assert body["errors"][0]["field"] == "consent"


def test_consent_that_is_not_a_boolean_is_422(client, deal, client_headers):
    body = problem(
        client.post(sign_url(deal.contract), json=sign_body(consent="yes"), headers=client_headers),
        422,
    )
    assert body["errors"][0]["field"] == "consent"


def test_an_outdated_disclosure_version_is_422(client, deal, client_headers, disclosure):
    body = problem(
        client.post(
            sign_url(deal.contract),
            json=sign_body(disclosure_version=disclosure.version + 1),
            headers=client_headers,
        ),
        422,
        "disclosure-outdated",
    )
    assert body["current_version"] == disclosure.version


def test_signing_for_another_role_is_403(client, deal, client_headers):
    problem(
        client.post(
            sign_url(deal.contract), json=sign_body(role="contractor"), headers=client_headers
        ),
        403,
        "not-your-role",
    )


def test_signing_a_draft_is_409(client, session, app_context):
    draft = make_deal(session, app_context, sent=False)
    body = problem(
        client.post(
            sign_url(draft.contract), json=sign_body(), headers=auth_headers(client, draft.client)
        ),
        409,
        "contract-not-signable",
    )
    assert body["current_status"] == "draft"


def test_signing_twice_is_409(client, deal, client_headers):
    assert (
        client.post(sign_url(deal.contract), json=sign_body(), headers=client_headers).status_code
        == 200
    )
    body = problem(
        client.post(sign_url(deal.contract), json=sign_body(), headers=client_headers),
        409,
        "contract-not-signable",
    )
    assert "already signed" in body["detail"]


def test_signing_out_of_order_is_409(client, deal, contractor_headers):
    body = problem(
        client.post(sign_url(deal.contract), json=sign_body(), headers=contractor_headers),
        409,
        "contract-not-signable",
    )
    assert "waiting for the client" in body["detail"]


def test_a_contractor_without_kyc_gets_403_with_the_link(client, session, app_context):
    deal = make_deal(session, app_context, kyc=False)
    assert (
        client.post(
            sign_url(deal.contract), json=sign_body(), headers=auth_headers(client, deal.client)
        ).status_code
        == 200
    )
    body = problem(
        client.post(
            sign_url(deal.contract), json=sign_body(), headers=auth_headers(client, deal.contractor)
        ),
        403,
        "kyc-not-approved",
    )
    assert body["links"] == [{"rel": "verify-identity", "href": "/kyc"}]


def test_a_drawn_signature_that_is_not_a_png_is_422(client, deal, client_headers):
    import base64

    for value in ("not base64!", base64.b64encode(b"GIF89a....").decode()):
        body = problem(
            client.post(
                sign_url(deal.contract),
                json=sign_body({"type": "drawn", "value": value}),
                headers=client_headers,
            ),
            422,
            "signature-invalid",
        )
        assert body["errors"][0]["field"] == "signature.value"


def test_a_drawn_signature_over_1_mb_is_422(client, deal, client_headers):
    """1.2 MB of PNG is ~1.6 MB of JSON: over the global body limit, under the sign
    path's (`SIGN_PATHS`), so the signature check itself answers."""
    png = noisy_png(1_200_000)
    body = problem(
        client.post(sign_url(deal.contract), json=sign_body(drawn(png)), headers=client_headers),
        422,
        "signature-invalid",
    )
    assert body["errors"][0]["field"] == "signature.value"
    assert "1 MB" in body["errors"][0]["message"]


def test_a_sign_body_far_over_the_limit_is_422_too(client, deal, client_headers, settings):
    huge = "A" * (sign_body_limit(settings.max_signature_png_bytes) + 10)
    body = problem(
        client.post(
            sign_url(deal.contract),
            json=sign_body({"type": "drawn", "value": huge}),
            headers=client_headers,
        ),
        422,
        "signature-invalid",
    )
    assert body["errors"][0]["field"] == "signature.value"


def test_the_sign_path_pattern_matches_only_sign():
    assert any(p.fullmatch("/api/contracts/01abc/sign") for p in SIGN_PATHS)
    assert not any(p.fullmatch("/api/contracts/01abc/decline") for p in SIGN_PATHS)
    assert not any(p.fullmatch("/api/contracts/01abc/sign/x") for p in SIGN_PATHS)


def test_an_unknown_field_or_signature_type_is_422(client, deal, client_headers):
    problem(
        client.post(sign_url(deal.contract), json=sign_body(extra=1), headers=client_headers), 422
    )
    problem(
        client.post(
            sign_url(deal.contract),
            json=sign_body({"type": "stamp", "value": "x"}),
            headers=client_headers,
        ),
        422,
    )


def test_an_admin_on_a_direct_contract_gets_404(client, session, deal):
    problem(
        client.post(
            sign_url(deal.contract),
            json=sign_body(),
            headers=auth_headers(client, make_admin(session)),
        ),
        404,
    )


def test_the_admin_countersigns_an_eor_contract(client, session, eor_deal):
    admin = make_admin(session)
    for user in (eor_deal.client, eor_deal.contractor):
        response = client.post(
            sign_url(eor_deal.contract), json=sign_body(), headers=auth_headers(client, user)
        )
        assert response.status_code == 200, response.text
    response = client.post(
        sign_url(eor_deal.contract),
        json=sign_body({"type": "typed", "value": "Ada Admin"}),
        headers=auth_headers(client, admin),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "active"
    eor = next(p for p in body["parties"] if p["role"] == "eor")
    assert eor["user_id"] == admin.id


# --- decline ---------------------------------------------------------------------


def test_decline(client, session, app_context, deal, contractor_headers):
    problem(client.post(decline_url(deal.contract), json={"reason": "no"}), 401)
    other = make_deal(session, app_context)
    problem(
        client.post(
            decline_url(deal.contract),
            json={"reason": "no"},
            headers=auth_headers(client, other.contractor),
        ),
        404,
    )
    body = problem(
        client.post(decline_url(deal.contract), json={"reason": ""}, headers=contractor_headers),
        422,
    )
    assert body["errors"][0]["field"] == "reason"
    problem(
        client.post(
            decline_url(deal.contract), json={"reason": "x" * 1001}, headers=contractor_headers
        ),
        422,
    )
    response = client.post(
        decline_url(deal.contract), json={"reason": "Wrong rate."}, headers=contractor_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "declined"
    problem(
        client.post(
            decline_url(deal.contract), json={"reason": "again"}, headers=contractor_headers
        ),
        409,
        "contract-not-declinable",
    )


def test_decline_after_signing_is_409(client, deal, client_headers):
    assert (
        client.post(sign_url(deal.contract), json=sign_body(), headers=client_headers).status_code
        == 200
    )
    problem(
        client.post(
            decline_url(deal.contract), json={"reason": "changed my mind"}, headers=client_headers
        ),
        409,
        "contract-not-declinable",
    )


# --- admin: awaiting countersignature ------------------------------------------------


def test_awaiting_countersignature(client, session, app_context, eor_deal):
    url = "/api/admin/contracts/awaiting-countersignature"
    problem(client.get(url), 401)
    problem(client.get(url, headers=auth_headers(client, eor_deal.client)), 403)
    admin_headers = auth_headers(client, make_admin(session))
    waiting_for_client = make_deal(session, app_context, kind="eor")
    for user in (eor_deal.client, eor_deal.contractor):
        assert (
            client.post(
                sign_url(eor_deal.contract), json=sign_body(), headers=auth_headers(client, user)
            ).status_code
            == 200
        )
    response = client.get(url, headers=admin_headers)
    assert response.status_code == 200
    items = response.json()["items"]
    ids = [item["id"] for item in items]
    assert eor_deal.contract.id in ids
    assert waiting_for_client.contract.id not in ids
    item = next(i for i in items if i["id"] == eor_deal.contract.id)
    assert item["status"] == "partially_signed"
    assert item["awaiting_since"] is not None
    assert response.json()["next_cursor"] is None
