"""Onfido adapter (API v3.6) against payloads in Onfido's documented shape, through
httpx's mock transport.

Shapes follow Onfido's v3.6 API reference as generated into onfido-python
(`WorkflowRunBuilder`, `WorkflowRun` with `link.url` and `sdk_token`,
`WebhookEvent{payload{resource_type, action, object}}`). Signatures are computed
here with hashlib, independently of the adapter, except for the published vectors.
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
from mindlinks.kyc.providers.base import (
    KycProviderRejected,
    KycProviderUnavailable,
    WebhookPayloadInvalid,
    WebhookSignatureInvalid,
)
from mindlinks.kyc.providers.onfido import OnfidoProvider, applicant_names, signature_valid

BASE = "https://api.eu.onfido.com/v3.6"
API_TOKEN = "api_sandbox.onfido-token-for-tests.0123456789"
WEBHOOK_TOKEN = "onfido-webhook-token-for-tests"
WORKFLOW_ID = "e8c921eb-0495-44fe-b655-bcdcaffdafe5"
APPLICANT_ID = "4a6a7e4c-13c5-4e5b-9c5c-3a2a1b0c9d8e"
RUN_ID = "bc77c6e5-753a-4580-96a6-aaed3e5a8d19"
OUR_SESSION_ID = "0f8e6c1a-9b2d-4e57-a3c4-5d6e7f809a1b"
CALLBACK = "https://mindlinks.example/kyc/result"
LINK_URL = "https://eu.onfido.app/l/bc77c6e5-753a-4580-96a6-aaed3e5a8d19"
SDK_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJwYXlsb2FkIjoib25maWRvIn0.sdk-token-signature"


def sign(body: bytes | str, key: str = WEBHOOK_TOKEN) -> str:
    message = body.encode() if isinstance(body, str) else body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "onfido_base_url": BASE,
        "onfido_api_token": API_TOKEN,
        "onfido_webhook_token": WEBHOOK_TOKEN,
        "onfido_workflow_id": WORKFLOW_ID,
        "kyc_provider_timeout_seconds": 4.0,
    }
    values.update(overrides)
    return Settings(**values)


class Recorder:
    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.requests]


def provider_with(
    handler: Callable[[httpx.Request], httpx.Response], **overrides: Any
) -> tuple[OnfidoProvider, Recorder]:
    recorder = Recorder(handler)
    client = httpx.Client(transport=httpx.MockTransport(recorder))
    return OnfidoProvider(settings(**overrides), client=client), recorder


def no_http(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request {request.method} {request.url}")


def applicant_answer() -> dict[str, Any]:
    """`POST /applicants` 201 answer."""
    return {
        "id": APPLICANT_ID,
        "created_at": "2024-07-10T12:40:00Z",
        "delete_at": None,
        "href": f"/v3.6/applicants/{APPLICANT_ID}",
        "first_name": "Sarah Jane",
        "last_name": "Morgan",
        "email": "sarah@example.com",
        "dob": None,
        "address": None,
        "id_numbers": [],
        "phone_number": None,
        "location": None,
    }


def workflow_run(status: str = "awaiting_input", **overrides: Any) -> dict[str, Any]:
    """A `WorkflowRun` as `POST /workflow_runs` and `GET /workflow_runs/{id}` answer it."""
    run: dict[str, Any] = {
        "id": RUN_ID,
        "applicant_id": APPLICANT_ID,
        "workflow_id": WORKFLOW_ID,
        "workflow_version_id": 3,
        "customer_user_id": OUR_SESSION_ID,
        "status": status,
        "dashboard_url": f"https://dashboard.onfido.com/results/{RUN_ID}",
        "created_at": "2024-07-10T12:49:09Z",
        "updated_at": "2024-07-10T12:49:09Z",
        "tags": [],
        "output": None,
        "reasons": [],
        "error": None,
        "link": {
            "url": LINK_URL,
            "completed_redirect_url": CALLBACK,
            "expired_redirect_url": None,
            "expires_at": "2024-10-08T12:49:09Z",
            "language": None,
        },
        "sdk_token": SDK_TOKEN,
    }
    run.update(overrides)
    return run


def run_event(action: str = "workflow_run.completed", status: str = "approved") -> dict[str, Any]:
    return {
        "payload": {
            "resource_type": "workflow_run",
            "action": action,
            "object": {
                "id": RUN_ID,
                "status": status,
                "completed_at_iso8601": "2024-07-10T12:58:41Z",
                "href": f"{BASE}/workflow_runs/{RUN_ID}",
            },
        }
    }


def signed(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", "X-SHA2-Signature": sign(body)}


def webhook_provider(token: str | None = WEBHOOK_TOKEN) -> OnfidoProvider:
    return provider_with(no_http, onfido_webhook_token=token)[0]


def start(provider: OnfidoProvider, full_name: str = "Sarah Jane Morgan") -> Any:
    return provider.start_session(
        session_id=OUR_SESSION_ID,
        callback_url=CALLBACK,
        full_name=full_name,
        email="sarah@example.com",
    )


def router(
    run: httpx.Response | None = None, applicant: httpx.Response | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v3.6/applicants":
            return applicant or httpx.Response(201, json=applicant_answer())
        if request.method == "POST" and request.url.path == "/v3.6/workflow_runs":
            return run or httpx.Response(201, json=workflow_run())
        if request.method == "DELETE" and request.url.path == f"/v3.6/applicants/{APPLICANT_ID}":
            return httpx.Response(204)
        return httpx.Response(404, json={"error": {"type": "resource_not_found"}})

    return handle


# --- starting a verification ---------------------------------------------------------


def test_start_session_creates_an_applicant_then_a_workflow_run():
    provider, recorder = provider_with(router())

    started = start(provider)

    assert started.reference == RUN_ID
    assert started.verification_url == LINK_URL
    assert started.client_token == SDK_TOKEN
    assert recorder.calls() == [("POST", "/v3.6/applicants"), ("POST", "/v3.6/workflow_runs")]
    applicant, run = recorder.requests
    for request in (applicant, run):
        assert request.url.host == "api.eu.onfido.com"
        assert request.headers["Authorization"] == f"Token token={API_TOKEN}"
        assert request.headers["Content-Type"] == "application/json"
        assert request.extensions["timeout"]["read"] == 4.0
    assert json.loads(applicant.content) == {
        "first_name": "Sarah Jane",
        "last_name": "Morgan",
        "email": "sarah@example.com",
    }
    assert json.loads(run.content) == {
        "workflow_id": WORKFLOW_ID,
        "applicant_id": APPLICANT_ID,
        "customer_user_id": OUR_SESSION_ID,
        "link": {"completed_redirect_url": CALLBACK},
    }


def test_the_regional_base_url_from_settings_is_used():
    provider, recorder = provider_with(
        lambda request: httpx.Response(200, json=workflow_run("processing")),
        onfido_base_url="https://api.us.onfido.com/v3.6/",
    )
    provider.fetch_decision(RUN_ID)
    assert str(recorder.requests[0].url) == f"https://api.us.onfido.com/v3.6/workflow_runs/{RUN_ID}"


def test_a_run_without_an_sdk_token_starts_without_a_client_token():
    provider, _ = provider_with(router(run=httpx.Response(201, json=workflow_run(sdk_token=None))))
    assert start(provider).client_token is None


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("Sarah Jane Morgan", ("Sarah Jane", "Morgan")),
        ('Sarah "Sally" Morgan', ("Sarah Sally", "Morgan")),
        ("José {García}!", ("José", "García")),
        ("Ana; Lopez=<x>", ("Ana", "Lopezx")),
        ("Madonna", ("Madonna", "Madonna")),
    ],
)
def test_applicant_names_are_split_and_stripped_of_characters_onfido_refuses(full_name, expected):
    assert applicant_names(full_name) == expected


def test_when_the_workflow_run_fails_the_new_applicant_is_deleted():
    provider, recorder = provider_with(router(run=httpx.Response(503, text="unavailable")))
    with pytest.raises(KycProviderUnavailable):
        start(provider)
    assert recorder.calls() == [
        ("POST", "/v3.6/applicants"),
        ("POST", "/v3.6/workflow_runs"),
        ("DELETE", f"/v3.6/applicants/{APPLICANT_ID}"),
    ]
    assert recorder.requests[-1].headers["Authorization"] == f"Token token={API_TOKEN}"


def test_a_refused_workflow_run_is_rejected_and_still_cleans_up():
    error = {"error": {"type": "validation_error", "message": "workflow_id invalid", "fields": {}}}
    provider, recorder = provider_with(router(run=httpx.Response(422, json=error)))
    with pytest.raises(KycProviderRejected, match="validation_error") as raised:
        start(provider)
    assert raised.value.status_code == 422
    assert recorder.calls()[-1] == ("DELETE", f"/v3.6/applicants/{APPLICANT_ID}")


def test_a_failed_cleanup_does_not_hide_the_original_error():
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            raise httpx.ConnectError("down")
        return router(run=httpx.Response(500, text="boom"))(request)

    provider, _ = provider_with(handle)
    with pytest.raises(KycProviderUnavailable, match="500"):
        start(provider)


def test_a_run_answer_without_a_link_is_unavailable():
    run = workflow_run()
    run["link"] = {"completed_redirect_url": CALLBACK}
    provider, recorder = provider_with(router(run=httpx.Response(201, json=run)))
    with pytest.raises(KycProviderUnavailable, match="link"):
        start(provider)
    assert recorder.calls()[-1][0] == "DELETE"


def test_a_refused_applicant_is_rejected_and_no_run_is_attempted():
    error = {"error": {"type": "validation_error", "message": "email invalid"}}
    provider, recorder = provider_with(router(applicant=httpx.Response(422, json=error)))
    with pytest.raises(KycProviderRejected):
        start(provider)
    assert recorder.calls() == [("POST", "/v3.6/applicants")]


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
def test_start_session_when_onfido_is_down_is_unavailable(error):
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    provider, _ = provider_with(fail)
    with pytest.raises(KycProviderUnavailable) as raised:
        start(provider)
    assert not isinstance(raised.value, KycProviderRejected)


@pytest.mark.parametrize("missing", ["onfido_api_token", "onfido_workflow_id"])
def test_without_a_token_or_workflow_nothing_is_sent(missing):
    provider, recorder = provider_with(no_http, **{missing: None})
    with pytest.raises(KycProviderUnavailable, match=missing.upper()):
        start(provider)
    assert recorder.requests == []


def test_logs_carry_neither_the_token_nor_personal_data():
    error = {"error": {"type": "validation_error", "message": "Sarah Jane Morgan is invalid"}}
    provider, _ = provider_with(router(run=httpx.Response(422, json=error)))
    with capture_logs() as logs, pytest.raises(KycProviderRejected):
        start(provider)
    assert logs and logs[0]["event"] == "kyc_provider_rejected"
    text = repr(logs)
    for secret in (API_TOKEN, WEBHOOK_TOKEN, SDK_TOKEN, "Sarah", "Morgan", "sarah@example.com"):
        assert secret not in text


# --- webhooks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("approved", "approved"),
        ("declined", "declined"),
        ("review", "review"),
        ("abandoned", "abandoned"),
        ("error", "review"),
    ],
)
def test_each_completed_run_status_maps_to_its_outcome(status, outcome):
    body, headers = signed(run_event(status=status))

    decision = webhook_provider().parse_webhook(body, headers)

    assert decision.outcome == outcome
    assert decision.reference == RUN_ID
    assert decision.event_id == f"{RUN_ID}:workflow_run.completed:{status}"
    assert decision.provider_status == status


@pytest.mark.parametrize("status", ["processing", "awaiting_input", "", "approvedd"])
def test_a_completed_run_with_a_non_final_status_is_invalid(status):
    body, headers = signed(run_event(status=status))
    with pytest.raises(WebhookPayloadInvalid):
        webhook_provider().parse_webhook(body, headers)


def test_other_run_events_are_pending():
    body, headers = signed(run_event(action="workflow_run.started", status="processing"))
    decision = webhook_provider().parse_webhook(body, headers)
    assert decision.outcome == "pending"
    assert decision.reference == RUN_ID
    assert decision.event_id == f"{RUN_ID}:workflow_run.started:processing"


def test_a_replayed_webhook_yields_the_same_event_id():
    body, headers = signed(run_event(status="declined"))
    provider = webhook_provider()
    assert provider.parse_webhook(body, headers).event_id == (
        provider.parse_webhook(body, headers).event_id
    )
    other_body, other_headers = signed(run_event(status="approved"))
    assert provider.parse_webhook(other_body, other_headers).event_id != (
        provider.parse_webhook(body, headers).event_id
    )


def test_a_bad_signature_is_refused():
    body, _ = signed(run_event())
    with pytest.raises(WebhookSignatureInvalid):
        webhook_provider().parse_webhook(body, {"X-SHA2-Signature": sign(body, key="not-ours")})


def test_a_missing_signature_is_refused():
    body, _ = signed(run_event())
    with pytest.raises(WebhookSignatureInvalid):
        webhook_provider().parse_webhook(body, {"Content-Type": "application/json"})
    with pytest.raises(WebhookSignatureInvalid):
        webhook_provider().parse_webhook(body, {"X-SHA2-Signature": ""})


def test_a_body_altered_after_signing_is_refused():
    body, headers = signed(run_event(status="declined"))
    altered = body.replace(b'"declined"', b'"approved"')
    assert altered != body
    with pytest.raises(WebhookSignatureInvalid):
        webhook_provider().parse_webhook(altered, headers)


def test_the_signature_header_name_is_case_insensitive():
    body, _ = signed(run_event())
    assert webhook_provider().parse_webhook(body, {"x-sha2-signature": sign(body)}).outcome == (
        "approved"
    )


def test_the_signature_is_checked_before_the_body_is_parsed():
    garbage = b"\x00not json"
    with pytest.raises(WebhookSignatureInvalid):
        webhook_provider().parse_webhook(garbage, {"X-SHA2-Signature": "00" * 32})
    with pytest.raises(WebhookPayloadInvalid):
        webhook_provider().parse_webhook(garbage, {"X-SHA2-Signature": sign(garbage)})


def test_without_a_webhook_token_every_webhook_is_refused():
    body, headers = signed(run_event())
    with pytest.raises(WebhookSignatureInvalid):
        webhook_provider(token=None).parse_webhook(body, headers)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.pop("payload"),
        lambda p: p.update(payload=[]),
        lambda p: p["payload"].pop("action"),
        lambda p: p["payload"].pop("object"),
        lambda p: p["payload"]["object"].pop("id"),
        lambda p: p["payload"]["object"].update(status=7),
    ],
    ids=["no-payload", "payload-list", "no-action", "no-object", "no-object-id", "status-number"],
)
def test_a_signed_body_that_is_not_an_onfido_event_is_invalid(mutate):
    payload = copy.deepcopy(run_event())
    mutate(payload)
    body, headers = signed(payload)
    with pytest.raises(WebhookPayloadInvalid):
        webhook_provider().parse_webhook(body, headers)


class TestPublishedVectors:
    """Signature test vectors published in onfido-python's own tests.

    - classic (check) event: repository onfido/onfido-python, path
      tests/test_classic_webhook_event_verification.py, commit
      d2016d9a789fdcdb29245c897a61ace4180831ca (raw_event, secret_token, valid
      signature ...d9c7 and the invalid ...d9c8);
    - Studio (workflow task) event: repository onfido/onfido-python, path
      tests/test_studio_webhook_event_verification.py, commit
      54de55a8c0b9b0582dd0f2f8452a1445dc05bf9f (raw_event, secret_token, valid
      signature ...4dfa and the invalid ...4dfb).

    The raw events are reproduced byte for byte; the adapter must accept the valid
    signatures and refuse the invalid ones, as onfido-python's WebhookEventVerifier does.
    """

    CLASSIC_TOKEN = "wU99mE6jJ7nXOLFwZ0tJymM1lpI15pZh"
    CLASSIC_EVENT = (
        b'{"payload":{"resource_type":"check","action":"check.completed",'
        b'"object":{"id":"f2302f45-227d-413d-ad61-09ec077a086a","status":"complete",'
        b'"completed_at_iso8601":"2024-04-04T09:21:21Z",'
        b'"href":"https://api.onfido.com/v3.6/checks/f2302f45-227d-413d-ad61-09ec077a086a"}}}'
    )
    CLASSIC_SIGNATURE = "77ebc3e418f26be6eebb47f7ebe551321de26734fc273961e075fc9ab163d9c7"
    CLASSIC_BAD_SIGNATURE = "77ebc3e418f26be6eebb47f7ebe551321de26734fc273961e075fc9ab163d9c8"

    STUDIO_TOKEN = "YKOC6mkBxi6yK2zlUIrLMvsJMFEZObP5"
    STUDIO_EVENT = (
        b'{"payload":{"resource_type":"workflow_task","action":"workflow_task.started",'
        b'"object":{"id":"profile_1eb92","task_spec_id":"profile_1eb92",'
        b'"task_def_id":"profile_data","workflow_run_id":"bc77c6e5-753a-4580-96a6-aaed3e5a8d19"'
        b',"status":"started","started_at_iso8601":"2024-07-10T12:49:09Z",'
        b'"href":"https://api.eu.onfido.com/v3.6/workflow_runs/'
        b'bc77c6e5-753a-4580-96a6-aaed3e5a8d19/tasks/profile_1eb92"},'
        b'"resource":{"created_at":"2024-07-10T12:49:09Z","id":"profile_1eb92",'
        b'"workflow_run_id":"bc77c6e5-753a-4580-96a6-aaed3e5a8d19","updated_at":"2024-07-10T12:49:09Z"'
        b',"input":{},"task_def_version":null,"task_def_id":"profile_data","output":null}}}'
    )
    STUDIO_SIGNATURE = "c95a5b785484f6fa1bc25f381b5595d66bf85cb442eefb06aa007802ee6a4dfa"
    STUDIO_BAD_SIGNATURE = "c95a5b785484f6fa1bc25f381b5595d66bf85cb442eefb06aa007802ee6a4dfb"

    def test_the_classic_vector_verifies_and_its_bad_signature_does_not(self):
        headers = {"X-SHA2-Signature": self.CLASSIC_SIGNATURE}
        assert signature_valid(
            self.CLASSIC_TOKEN, self.CLASSIC_EVENT, {"x-sha2-signature": self.CLASSIC_SIGNATURE}
        )
        decision = webhook_provider(self.CLASSIC_TOKEN).parse_webhook(self.CLASSIC_EVENT, headers)
        # A check is not a workflow run: pending, and its id matches no session.
        assert decision.outcome == "pending"
        assert decision.reference == "f2302f45-227d-413d-ad61-09ec077a086a"
        assert decision.event_id == "f2302f45-227d-413d-ad61-09ec077a086a:check.completed:complete"

        with pytest.raises(WebhookSignatureInvalid):
            webhook_provider(self.CLASSIC_TOKEN).parse_webhook(
                self.CLASSIC_EVENT, {"X-SHA2-Signature": self.CLASSIC_BAD_SIGNATURE}
            )

    def test_the_studio_vector_verifies_and_names_its_workflow_run(self):
        headers = {"X-SHA2-Signature": self.STUDIO_SIGNATURE}
        decision = webhook_provider(self.STUDIO_TOKEN).parse_webhook(self.STUDIO_EVENT, headers)
        assert decision.outcome == "pending"
        assert decision.reference == "bc77c6e5-753a-4580-96a6-aaed3e5a8d19"
        assert decision.event_id == (
            "bc77c6e5-753a-4580-96a6-aaed3e5a8d19/profile_1eb92:workflow_task.started:started"
        )
        with pytest.raises(WebhookSignatureInvalid):
            webhook_provider(self.STUDIO_TOKEN).parse_webhook(
                self.STUDIO_EVENT, {"X-SHA2-Signature": self.STUDIO_BAD_SIGNATURE}
            )

    def test_a_vector_signed_with_another_token_is_refused(self):
        headers = {"X-SHA2-Signature": self.CLASSIC_SIGNATURE}
        with pytest.raises(WebhookSignatureInvalid):
            webhook_provider(self.STUDIO_TOKEN).parse_webhook(self.CLASSIC_EVENT, headers)


# --- polling ------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["processing", "awaiting_input", "awaiting_client_input"])
def test_fetch_decision_answers_none_while_the_run_is_in_progress(status):
    provider, recorder = provider_with(
        lambda request: httpx.Response(200, json=workflow_run(status))
    )

    assert provider.fetch_decision(RUN_ID) is None

    [request] = recorder.requests
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/workflow_runs/{RUN_ID}"
    assert request.headers["Authorization"] == f"Token token={API_TOKEN}"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("approved", "approved"),
        ("declined", "declined"),
        ("review", "review"),
        ("abandoned", "abandoned"),
        ("error", "review"),
    ],
)
def test_a_polled_final_run_maps_like_its_webhook_with_the_same_event_id(status, outcome):
    provider, _ = provider_with(lambda request: httpx.Response(200, json=workflow_run(status)))

    polled = provider.fetch_decision(RUN_ID)

    body, headers = signed(run_event(status=status))
    pushed = provider.parse_webhook(body, headers)
    assert polled is not None
    assert polled.outcome == outcome == pushed.outcome
    assert polled.event_id == pushed.event_id
    assert polled.reference == RUN_ID
    assert polled.vendor_session_id == OUR_SESSION_ID


def test_a_polled_decision_carries_reasons_and_only_whitelisted_output():
    run = workflow_run(
        "declined",
        reasons=["document_forged", "face_mismatch"],
        output={
            "document_type": "passport",
            "issuing_country": "GBR",
            "first_name": "Sarah",
            "last_name": "Morgan",
            "document_number": "999999999",
            "date_of_birth": "1967-03-30",
        },
    )
    provider, _ = provider_with(lambda request: httpx.Response(200, json=run))

    decision = provider.fetch_decision(RUN_ID)

    assert decision is not None
    assert decision.reason == "document_forged; face_mismatch"
    assert dict(decision.extracted) == {"document_type": "passport", "document_country": "GBR"}
    for pii in ("Sarah", "Morgan", "999999999", "1967-03-30"):
        assert pii not in repr(decision)


def test_a_polled_run_in_error_names_the_error_type_for_the_reviewer():
    run = workflow_run("error", error={"type": "task_failed", "message": "document task failed"})
    provider, _ = provider_with(lambda request: httpx.Response(200, json=run))
    decision = provider.fetch_decision(RUN_ID)
    assert decision is not None
    assert decision.outcome == "review"
    assert decision.reason == "error: task_failed"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, text="oops"),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(429, json={"error": {"type": "rate_limit"}}),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=workflow_run("paused")),
        httpx.Response(200, json=workflow_run(None)),
        httpx.Response(200, json=workflow_run(["processing"])),
        httpx.Response(200, json=workflow_run("approved", id="another-run")),
        httpx.Response(200, json=workflow_run("processing", id="another-run")),
    ],
    ids=[
        "500",
        "502",
        "429",
        "not-json",
        "unknown-status",
        "no-status",
        "status-list",
        "another-run",
        "another-run-in-progress",
    ],
)
def test_fetch_decision_on_an_error_or_unreadable_answer_is_unavailable(answer):
    provider, _ = provider_with(lambda request: answer)
    with pytest.raises(KycProviderUnavailable) as raised:
        provider.fetch_decision(RUN_ID)
    assert not isinstance(raised.value, KycProviderRejected)


def test_fetch_decision_when_onfido_times_out_is_unavailable():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    provider, _ = provider_with(slow)
    with pytest.raises(KycProviderUnavailable, match="in time"):
        provider.fetch_decision(RUN_ID)


def test_fetch_decision_of_an_unknown_run_is_rejected():
    provider, _ = provider_with(
        lambda request: httpx.Response(404, json={"error": {"type": "resource_not_found"}})
    )
    with pytest.raises(KycProviderRejected, match="resource_not_found") as raised:
        provider.fetch_decision(RUN_ID)
    assert raised.value.status_code == 404
