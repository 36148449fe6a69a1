"""Veriff adapter against payloads in Veriff's documented shape, through httpx's mock transport.

Shapes follow devdocs.veriff.com: `POST /v1/sessions` (create session), the decision
webhook, and `GET /v1/sessions/{id}/decision` (decision data, `verification: null`
until decided). Signatures are computed here with hashlib, independently of the adapter.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from mindlinks.config import Settings
from mindlinks.kyc.providers._http import split_full_name
from mindlinks.kyc.providers.base import (
    KycProviderRejected,
    KycProviderUnavailable,
    WebhookPayloadInvalid,
    WebhookSignatureInvalid,
)
from mindlinks.kyc.providers.veriff import VeriffProvider

BASE = "https://stationapi.veriff.com"
API_KEY = "5b1a3b0e-veriff-api-key-for-tests"
SHARED_SECRET = "b7c3e9f2-veriff-shared-secret-for-tests"
VERIFICATION_ID = "12df6045-3846-3e45-946a-14fa6136d78b"
OUR_SESSION_ID = "0f8e6c1a-9b2d-4e57-a3c4-5d6e7f809a1b"
CALLBACK = "https://mindlinks.example/kyc/result"


def sign(body: bytes | str, key: str = SHARED_SECRET) -> str:
    message = body.encode() if isinstance(body, str) else body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "veriff_base_url": BASE,
        "veriff_api_key": API_KEY,
        "veriff_shared_secret": SHARED_SECRET,
        "kyc_provider_timeout_seconds": 3.5,
    }
    values.update(overrides)
    return Settings(**values)


class Recorder:
    """A mock transport that records each request and answers with `handler`."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def provider_with(
    handler: Callable[[httpx.Request], httpx.Response], **overrides: Any
) -> tuple[VeriffProvider, Recorder]:
    recorder = Recorder(handler)
    client = httpx.Client(transport=httpx.MockTransport(recorder))
    return VeriffProvider(settings(**overrides), client=client), recorder


def no_http(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request {request.method} {request.url}")


def created_session_answer() -> dict[str, Any]:
    """`POST /v1/sessions` 201 answer, as documented."""
    return {
        "status": "success",
        "verification": {
            "id": VERIFICATION_ID,
            "url": f"https://alchemy.veriff.com/v/{'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9'}.sess",
            "vendorData": OUR_SESSION_ID,
            "host": "https://alchemy.veriff.com",
            "status": "created",
            "sessionToken": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.session.token",
        },
    }


def decision_payload(
    code: int = 9001,
    status: str = "approved",
    reason: str | None = None,
    reason_code: int | None = None,
) -> dict[str, Any]:
    """The decision webhook body (and the decision endpoint's answer), as documented."""
    return {
        "status": "success",
        "verification": {
            "id": VERIFICATION_ID,
            "attemptId": "00bca969-b53a-4fad-b065-874d41a7123b",
            "vendorData": OUR_SESSION_ID,
            "endUserId": None,
            "status": status,
            "code": code,
            "reason": reason,
            "reasonCode": reason_code,
            "decisionTime": "2024-11-06T07:18:36.916Z",
            "acceptanceTime": "2024-11-06T07:15:27.000Z",
            "person": {
                "firstName": "SARAH",
                "lastName": "MORGAN",
                "idNumber": None,
                "dateOfBirth": "1967-03-30",
                "placeOfBirth": "MADRID",
                "nationality": None,
                "gender": None,
                "yearOfBirth": "1967",
                "pepSanctionMatch": None,
            },
            "document": {
                "type": "DRIVERS_LICENSE",
                "country": "GB",
                "number": "MORGA753116SM9IJ",
                "validFrom": None,
                "validUntil": "2032-04-20",
            },
            "comments": [],
            "additionalVerifiedData": {},
        },
        "technicalData": {"ip": "186.153.67.122"},
    }


def signed_headers(body: bytes, **extra: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-AUTH-CLIENT": API_KEY,
        "X-HMAC-SIGNATURE": sign(body),
    }
    headers.update(extra)
    return headers


def webhook_provider() -> VeriffProvider:
    return provider_with(no_http)[0]


# --- creating a session -------------------------------------------------------------


def test_start_session_posts_the_documented_request_and_answers_id_and_url():
    provider, recorder = provider_with(
        lambda request: httpx.Response(201, json=created_session_answer())
    )

    started = provider.start_session(
        session_id=OUR_SESSION_ID,
        callback_url=CALLBACK,
        full_name="Sarah Jane Morgan",
        email="sarah@example.com",
    )

    assert started.reference == VERIFICATION_ID
    assert started.verification_url == created_session_answer()["verification"]["url"]
    assert started.client_token is None
    [request] = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/v1/sessions"
    assert request.headers["X-AUTH-CLIENT"] == API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert "X-HMAC-SIGNATURE" not in request.headers
    assert json.loads(request.content) == {
        "verification": {
            "callback": CALLBACK,
            "person": {"firstName": "Sarah Jane", "lastName": "Morgan"},
            "vendorData": OUR_SESSION_ID,
        }
    }
    assert b"sarah@example.com" not in request.content


def test_start_session_uses_the_configured_timeout():
    provider, recorder = provider_with(
        lambda request: httpx.Response(201, json=created_session_answer())
    )
    provider.start_session(
        session_id=OUR_SESSION_ID, callback_url=CALLBACK, full_name="A B", email="a@example.com"
    )
    assert recorder.requests[0].extensions["timeout"] == {
        "connect": 3.5,
        "read": 3.5,
        "write": 3.5,
        "pool": 3.5,
    }


def test_start_session_with_a_single_name_sends_only_the_first_name():
    provider, recorder = provider_with(
        lambda request: httpx.Response(201, json=created_session_answer())
    )
    provider.start_session(
        session_id=OUR_SESSION_ID, callback_url=CALLBACK, full_name="Madonna", email="m@example.com"
    )
    person = json.loads(recorder.requests[0].content)["verification"]["person"]
    assert person == {"firstName": "Madonna"}


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("Sarah Morgan", ("Sarah", "Morgan")),
        ("  Sarah   Jane  Morgan ", ("Sarah Jane", "Morgan")),
        ("Ludwig van Beethoven", ("Ludwig", "van Beethoven")),
        ("Juan de la Cruz", ("Juan", "de la Cruz")),
        ("Morgan, Sarah Jane", ("Sarah Jane", "Morgan")),
        ("Madonna", ("Madonna", "")),
        ("", ("", "")),
    ],
)
def test_full_names_split_into_given_names_and_surname(full_name, expected):
    assert split_full_name(full_name) == expected


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_start_session_on_a_server_error_or_rate_limit_is_unavailable(status):
    provider, _ = provider_with(lambda request: httpx.Response(status, json={"status": "fail"}))
    with pytest.raises(KycProviderUnavailable) as raised:
        provider.start_session(
            session_id=OUR_SESSION_ID, callback_url=CALLBACK, full_name="A B", email="a@b.example"
        )
    assert not isinstance(raised.value, KycProviderRejected)


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.ConnectError("down")]
)
def test_start_session_when_veriff_is_down_is_unavailable(error):
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    provider, _ = provider_with(fail)
    with pytest.raises(KycProviderUnavailable):
        provider.start_session(
            session_id=OUR_SESSION_ID, callback_url=CALLBACK, full_name="A B", email="a@b.example"
        )


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_start_session_refused_with_a_4xx_is_rejected(status):
    body = {"status": "fail", "code": "1102", "message": "Mandatory parameters are missing"}
    provider, _ = provider_with(lambda request: httpx.Response(status, json=body))
    with pytest.raises(KycProviderRejected) as raised:
        provider.start_session(
            session_id=OUR_SESSION_ID, callback_url=CALLBACK, full_name="A B", email="a@b.example"
        )
    assert raised.value.status_code == status
    assert isinstance(raised.value, KycProviderUnavailable)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(201, text="<html>gateway</html>"),
        httpx.Response(201, json=["not", "an", "object"]),
        httpx.Response(201, json={"status": "success", "verification": {"id": VERIFICATION_ID}}),
        httpx.Response(201, json={"status": "success", "verification": {"url": "https://x"}}),
    ],
)
def test_start_session_with_an_unreadable_answer_is_unavailable(answer):
    provider, _ = provider_with(lambda request: answer)
    with pytest.raises(KycProviderUnavailable):
        provider.start_session(
            session_id=OUR_SESSION_ID, callback_url=CALLBACK, full_name="A B", email="a@b.example"
        )


def test_without_an_api_key_nothing_is_sent_and_the_provider_is_unavailable():
    provider, recorder = provider_with(no_http, veriff_api_key=None)
    with pytest.raises(KycProviderUnavailable, match="MINDLINKS_VERIFF_API_KEY"):
        provider.start_session(
            session_id=OUR_SESSION_ID, callback_url=CALLBACK, full_name="A B", email="a@b.example"
        )
    with pytest.raises(KycProviderUnavailable):
        provider.fetch_decision(VERIFICATION_ID)
    assert recorder.requests == []


def test_logs_carry_neither_credentials_nor_personal_data():
    answers = iter(
        [
            httpx.Response(400, json={"status": "fail", "code": "1102", "message": "Sarah Morgan"}),
            httpx.Response(503, text="down"),
        ]
    )
    provider, _ = provider_with(lambda request: next(answers))
    with capture_logs() as logs:
        for _ in range(2):
            with pytest.raises(KycProviderUnavailable):
                provider.start_session(
                    session_id=OUR_SESSION_ID,
                    callback_url=CALLBACK,
                    full_name="Sarah Morgan",
                    email="sarah@example.com",
                )
    assert [entry["event"] for entry in logs] == ["kyc_provider_rejected", "kyc_provider_error"]
    assert logs[0]["error_code"] == "1102"
    text = repr(logs)
    for secret in (API_KEY, SHARED_SECRET, "Sarah", "Morgan", "sarah@example.com"):
        assert secret not in text


# --- the decision webhook -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        (9001, "approved", "approved"),
        (9102, "declined", "declined"),
        (9103, "resubmission_requested", "resubmit"),
        (9104, "expired", "expired"),
        (9121, "abandoned", "abandoned"),
    ],
)
def test_each_decision_code_maps_to_its_outcome(code, status, outcome):
    body = json.dumps(decision_payload(code, status)).encode()

    decision = webhook_provider().parse_webhook(body, signed_headers(body))

    assert decision.outcome == outcome
    assert decision.reference == VERIFICATION_ID
    assert decision.event_id == f"{VERIFICATION_ID}:{status}"
    assert decision.vendor_session_id == OUR_SESSION_ID
    assert decision.provider_status == f"{code} {status}"


def test_a_declined_decision_carries_the_reason_and_reason_code():
    body = json.dumps(
        decision_payload(9102, "declined", reason="Physical document not used", reason_code=102)
    ).encode()
    decision = webhook_provider().parse_webhook(body, signed_headers(body))
    assert decision.reason == "Physical document not used (reason code 102)"


def test_extracted_data_holds_document_type_and_country_but_no_personal_data():
    body = json.dumps(decision_payload()).encode()
    decision = webhook_provider().parse_webhook(body, signed_headers(body))
    assert dict(decision.extracted) == {
        "document_type": "DRIVERS_LICENSE",
        "document_country": "GB",
    }
    everything = repr(decision)
    for pii in ("SARAH", "MORGAN", "MORGA753116SM9IJ", "1967-03-30", "MADRID", "186.153.67.122"):
        assert pii not in everything


def test_a_replayed_webhook_yields_the_same_event_id_and_a_new_status_a_new_one():
    body = json.dumps(decision_payload(9103, "resubmission_requested")).encode()
    provider = webhook_provider()
    first = provider.parse_webhook(body, signed_headers(body))
    replay = provider.parse_webhook(body, signed_headers(body))
    assert replay.event_id == first.event_id

    later = json.dumps(decision_payload(9001, "approved")).encode()
    assert provider.parse_webhook(later, signed_headers(later)).event_id != first.event_id


def test_a_bad_signature_is_refused():
    body = json.dumps(decision_payload()).encode()
    headers = signed_headers(body, **{"X-HMAC-SIGNATURE": sign(body, key="another-secret")})
    with pytest.raises(WebhookSignatureInvalid):
        webhook_provider().parse_webhook(body, headers)


def test_a_missing_signature_is_refused():
    body = json.dumps(decision_payload()).encode()
    headers = signed_headers(body)
    del headers["X-HMAC-SIGNATURE"]
    with pytest.raises(WebhookSignatureInvalid, match="missing"):
        webhook_provider().parse_webhook(body, headers)


def test_a_body_altered_after_signing_is_refused():
    original = json.dumps(decision_payload(9102, "declined")).encode()
    headers = signed_headers(original)
    altered = original.replace(b'"code": 9102', b'"code": 9001').replace(
        b'"status": "declined"', b'"status": "approved"'
    )
    assert altered != original
    with pytest.raises(WebhookSignatureInvalid):
        webhook_provider().parse_webhook(altered, headers)


def test_a_signature_over_the_reserialised_json_instead_of_the_raw_body_is_refused():
    raw = json.dumps(decision_payload(), indent=2).encode()
    compact = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    with pytest.raises(WebhookSignatureInvalid):
        webhook_provider().parse_webhook(raw, signed_headers(compact))


@pytest.mark.parametrize("auth_client", [None, "", "someone-elses-api-key"])
def test_a_missing_or_foreign_auth_client_header_is_refused(auth_client):
    body = json.dumps(decision_payload()).encode()
    headers = signed_headers(body)
    del headers["X-AUTH-CLIENT"]
    if auth_client is not None:
        headers["X-AUTH-CLIENT"] = auth_client
    with pytest.raises(WebhookSignatureInvalid, match="X-AUTH-CLIENT"):
        webhook_provider().parse_webhook(body, headers)


def test_header_names_are_case_insensitive_and_the_vrf_spelling_is_accepted():
    body = json.dumps(decision_payload()).encode()
    provider = webhook_provider()
    lower = {"x-auth-client": API_KEY, "x-hmac-signature": sign(body)}
    vrf = {"vrf-auth-client": API_KEY, "vrf-hmac-signature": sign(body).upper()}
    assert provider.parse_webhook(body, lower).outcome == "approved"
    assert provider.parse_webhook(body, vrf).outcome == "approved"


def test_the_signature_is_checked_before_the_body_is_parsed():
    garbage = b"{not json"
    with pytest.raises(WebhookSignatureInvalid):
        webhook_provider().parse_webhook(garbage, {"X-AUTH-CLIENT": API_KEY})
    with pytest.raises(WebhookPayloadInvalid):
        webhook_provider().parse_webhook(garbage, signed_headers(garbage))


def test_without_a_shared_secret_every_webhook_is_refused():
    body = json.dumps(decision_payload()).encode()
    provider, _ = provider_with(no_http, veriff_shared_secret=None)
    with pytest.raises(WebhookSignatureInvalid):
        provider.parse_webhook(body, signed_headers(body))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p["verification"].update(code=9999),
        lambda p: p["verification"].update(code=7002, status="submitted"),
        lambda p: p["verification"].update(code=None),
        lambda p: p["verification"].update(code=True),
        lambda p: p["verification"].update(status="declined"),
        lambda p: p["verification"].pop("id"),
        lambda p: p["verification"].update(id=""),
        lambda p: p.update(verification="approved"),
        lambda p: p.pop("verification"),
    ],
    ids=[
        "unknown-code",
        "event-code-in-a-decision",
        "no-code",
        "boolean-code",
        "status-contradicts-code",
        "no-id",
        "empty-id",
        "verification-not-an-object",
        "no-verification",
    ],
)
def test_a_signed_body_that_is_not_a_decision_is_invalid(mutate):
    payload = copy.deepcopy(decision_payload())
    mutate(payload)
    body = json.dumps(payload).encode()
    with pytest.raises(WebhookPayloadInvalid):
        webhook_provider().parse_webhook(body, signed_headers(body))


@pytest.mark.parametrize("body", [b"[]", b'"approved"', b"null", b"\xff\xfe"])
def test_a_signed_body_that_is_not_a_json_object_is_invalid(body):
    with pytest.raises(WebhookPayloadInvalid):
        webhook_provider().parse_webhook(body, signed_headers(body))


def test_an_event_webhook_posted_to_the_same_path_is_a_pending_status():
    body = json.dumps(
        {
            "id": VERIFICATION_ID,
            "attemptId": "00bca969-b53a-4fad-b065-874d41a7123b",
            "feature": "selfid",
            "code": 7002,
            "action": "submitted",
            "vendorData": OUR_SESSION_ID,
            "endUserId": None,
        }
    ).encode()
    decision = webhook_provider().parse_webhook(body, signed_headers(body))
    assert decision.outcome == "pending"
    assert decision.event_id == f"{VERIFICATION_ID}:submitted"
    assert decision.vendor_session_id == OUR_SESSION_ID


# --- polling ------------------------------------------------------------------------


def test_fetch_decision_signs_the_session_id_and_answers_none_while_undecided():
    provider, recorder = provider_with(
        lambda request: httpx.Response(
            200, json={"status": "success", "verification": None, "technicalData": {"ip": None}}
        )
    )

    assert provider.fetch_decision(VERIFICATION_ID) is None

    [request] = recorder.requests
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/v1/sessions/{VERIFICATION_ID}/decision"
    assert request.headers["X-AUTH-CLIENT"] == API_KEY
    expected = hmac.new(
        SHARED_SECRET.encode(), VERIFICATION_ID.encode(), hashlib.sha256
    ).hexdigest()
    assert request.headers["X-HMAC-SIGNATURE"] == expected
    assert request.content == b""


def test_fetch_decision_of_a_submitted_session_is_still_undecided():
    payload = decision_payload()
    payload["verification"].update(code=7002, status="submitted")
    provider, _ = provider_with(lambda request: httpx.Response(200, json=payload))
    assert provider.fetch_decision(VERIFICATION_ID) is None


def test_a_polled_decision_has_the_same_event_id_as_its_webhook():
    payload = decision_payload(9102, "declined", reason="Suspected document tampering")
    provider, _ = provider_with(lambda request: httpx.Response(200, json=payload))

    polled = provider.fetch_decision(VERIFICATION_ID)

    body = json.dumps(payload).encode()
    pushed = provider.parse_webhook(body, signed_headers(body))
    assert polled == pushed
    assert polled is not None and polled.outcome == "declined"


def test_fetch_decision_escapes_the_reference_in_the_path():
    provider, recorder = provider_with(
        lambda request: httpx.Response(200, json={"status": "success", "verification": None})
    )
    provider.fetch_decision("../admin?x=1")
    assert recorder.requests[0].url.raw_path == b"/v1/sessions/..%2Fadmin%3Fx%3D1/decision"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, text="oops"),
        httpx.Response(503, text="maintenance"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"status": "success", "verification": "approved"}),
        httpx.Response(200, json={"status": "success"}),
        httpx.Response(200, json=decision_payload(9999, "approved")),
        httpx.Response(
            200,
            json={
                **decision_payload(),
                "verification": {**decision_payload()["verification"], "id": "other"},
            },
        ),
    ],
    ids=[
        "500",
        "503",
        "not-json",
        "verification-string",
        "no-verification-field",
        "unknown-code",
        "another-session",
    ],
)
def test_fetch_decision_on_an_error_or_unreadable_answer_is_unavailable(answer):
    provider, _ = provider_with(lambda request: answer)
    with pytest.raises(KycProviderUnavailable):
        provider.fetch_decision(VERIFICATION_ID)


def test_fetch_decision_when_veriff_times_out_is_unavailable():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    provider, _ = provider_with(slow)
    with pytest.raises(KycProviderUnavailable, match="in time"):
        provider.fetch_decision(VERIFICATION_ID)


def test_fetch_decision_of_an_unknown_session_is_rejected():
    provider, _ = provider_with(
        lambda request: httpx.Response(404, json={"status": "fail", "code": "1001"})
    )
    with pytest.raises(KycProviderRejected) as raised:
        provider.fetch_decision(VERIFICATION_ID)
    assert raised.value.status_code == 404
