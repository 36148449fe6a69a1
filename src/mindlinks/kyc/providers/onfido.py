"""Onfido adapter (API v3.6, Studio workflow runs), against the regional base URL.

- Start: `POST /applicants` `{first_name, last_name, email}` → applicant id, then
  `POST /workflow_runs` `{workflow_id, applicant_id, customer_user_id: <our session id>,
  link: {completed_redirect_url: <callback>}}` → the run's `id` (our `reference`),
  `link.url` (the hosted capture flow) and `sdk_token` (for the SDK, when present).
  If the run cannot be created the applicant just made is deleted again, best effort,
  so no name and email linger at Onfido for a session that never existed.
- Webhook: `{"payload": {"resource_type", "action", "object": {"id", "status",
  "completed_at_iso8601", "href"}}}`, verified by `X-SHA2-Signature` = hex
  HMAC-SHA256 of the raw body with the webhook token, in constant time, before the
  body is parsed. `workflow_run.completed` carries the outcome (approved, declined,
  review, abandoned; `error` goes to review so a human looks); every other event is
  `pending`. Onfido sends no event id, so it is `<object id>:<action>:<status>`
  (task events are prefixed with their run id: task ids repeat across runs).
- Polling fallback: `GET /workflow_runs/{id}`; None while `processing`,
  `awaiting_input` or `awaiting_client_input`. A final run gets the same event id
  as its `workflow_run.completed` webhook, so whichever arrives second is a no-op.

Only the document type and issuing country leave this module as `extracted`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final, TypeGuard
from urllib.parse import quote

import httpx
import structlog

from mindlinks.config import Settings
from mindlinks.kyc.providers._http import (
    HttpProviderClient,
    hmac_sha256_hex,
    lower_keys,
    same_secret,
    send_json,
    split_full_name,
)
from mindlinks.kyc.providers.base import (
    KycProviderUnavailable,
    Outcome,
    ProviderDecision,
    StartedSession,
    WebhookPayloadInvalid,
    WebhookSignatureInvalid,
)

log = structlog.get_logger(__name__)

COMPLETED = "workflow_run.completed"
# A completed run's status → our outcome.
FINAL_STATUSES: Final[Mapping[str, Outcome]] = {
    "approved": "approved",
    "declined": "declined",
    "review": "review",
    "abandoned": "abandoned",
    "error": "review",
}
IN_PROGRESS_STATUSES: Final = frozenset({"processing", "awaiting_input", "awaiting_client_input"})

# Characters Onfido refuses in applicant names (`^[^!#$%*=<>;{}"]*$` in its API spec).
_NAME_FORBIDDEN = re.compile(r'[!#$%*=<>;{}"]')
_MAX_ID = 255
_MAX_TEXT = 500
_EXTRACTED_KEYS = (("document_type", "document_type"), ("issuing_country", "document_country"))


class OnfidoProvider(HttpProviderClient):
    name = "onfido"

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        self.base_url = settings.onfido_base_url.rstrip("/")
        self.api_token = settings.onfido_api_token
        self.webhook_token = settings.onfido_webhook_token
        self.workflow_id = settings.onfido_workflow_id
        super().__init__(settings.kyc_provider_timeout_seconds, client)

    def start_session(
        self, *, session_id: str, callback_url: str, full_name: str, email: str
    ) -> StartedSession:
        headers = self._headers()
        if not self.workflow_id:
            log.error("kyc_provider_not_configured", provider=self.name)
            raise KycProviderUnavailable(
                "onfido is not configured: set MINDLINKS_ONFIDO_WORKFLOW_ID"
            )
        first_name, last_name = applicant_names(full_name)
        applicant = self._send(
            "POST",
            "/applicants",
            operation="create_applicant",
            headers=headers,
            body={"first_name": first_name, "last_name": last_name, "email": email},
        )
        applicant_id = applicant.get("id")
        if not _is_id(applicant_id):
            log.warning("kyc_provider_bad_body", provider=self.name, operation="create_applicant")
            raise KycProviderUnavailable("onfido answered an applicant without an id")
        try:
            run = self._send(
                "POST",
                "/workflow_runs",
                operation="create_workflow_run",
                headers=headers,
                body={
                    "workflow_id": self.workflow_id,
                    "applicant_id": applicant_id,
                    "customer_user_id": session_id,
                    "link": {"completed_redirect_url": callback_url},
                },
            )
            return _started(run)
        except KycProviderUnavailable:
            self._delete_applicant(applicant_id, headers)
            raise

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderDecision:
        if not self.webhook_token:
            log.error("kyc_provider_not_configured", provider=self.name)
            raise WebhookSignatureInvalid("onfido webhooks cannot be verified: not configured")
        if not signature_valid(self.webhook_token, raw_body, lower_keys(headers)):
            raise WebhookSignatureInvalid("the X-SHA2-Signature is missing or does not match")
        try:
            body = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookPayloadInvalid("the body is not JSON") from exc
        payload = body.get("payload") if isinstance(body, dict) else None
        if not isinstance(payload, dict):
            raise WebhookPayloadInvalid("the body has no payload object")
        return _event(payload)

    def fetch_decision(self, reference: str) -> ProviderDecision | None:
        run = self._send(
            "GET",
            f"/workflow_runs/{quote(reference, safe='')}",
            operation="fetch_workflow_run",
            headers=self._headers(),
        )
        status = run.get("status")
        if not isinstance(status, str) or run.get("id") != reference:
            log.warning("kyc_provider_bad_body", provider=self.name, operation="fetch_workflow_run")
            raise KycProviderUnavailable("onfido answered an unreadable workflow run")
        if status in IN_PROGRESS_STATUSES:
            return None
        outcome = FINAL_STATUSES.get(status)
        if outcome is None:
            log.warning(
                "kyc_provider_unknown_status", provider=self.name, provider_status=status[:64]
            )
            raise KycProviderUnavailable(f"onfido answered an unknown run status {status[:64]!r}")
        return ProviderDecision(
            event_id=f"{reference}:{COMPLETED}:{status}",
            reference=reference,
            outcome=outcome,
            reason=_reason(run),
            vendor_session_id=_text(run.get("customer_user_id"), _MAX_ID),
            provider_status=status,
            extracted=_extracted(run.get("output")),
        )

    def _headers(self) -> dict[str, str]:
        if not self.api_token:
            log.error("kyc_provider_not_configured", provider=self.name)
            raise KycProviderUnavailable("onfido is not configured: set MINDLINKS_ONFIDO_API_TOKEN")
        return {"Authorization": f"Token token={self.api_token}"}

    def _send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        headers: Mapping[str, str],
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return send_json(
            self.client,
            method,
            f"{self.base_url}{path}",
            provider=self.name,
            operation=operation,
            headers=headers,
            body=body,
            timeout=self.timeout,
        )

    def _delete_applicant(self, applicant_id: str, headers: Mapping[str, str]) -> None:
        try:
            response = self.client.delete(
                f"{self.base_url}/applicants/{quote(applicant_id, safe='')}",
                headers=dict(headers),
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            log.warning("kyc_provider_cleanup_failed", provider=self.name, error=type(exc).__name__)
            return
        if response.status_code >= 300:
            log.warning(
                "kyc_provider_cleanup_failed", provider=self.name, http_status=response.status_code
            )


def signature_valid(webhook_token: str, raw_body: bytes, headers: Mapping[str, str]) -> bool:
    """`X-SHA2-Signature` is the hex HMAC-SHA256 of the raw body, keyed by the webhook token.

    `headers` must have lowercase names (see `lower_keys`).
    """
    signature = headers.get("x-sha2-signature")
    if not signature:
        return False
    return same_secret(hmac_sha256_hex(webhook_token, raw_body), signature.strip().lower())


def applicant_names(full_name: str) -> tuple[str, str]:
    """First and last name as Onfido accepts them: both required, some characters refused.

    A single-word name fills both fields, since Onfido requires a last name and
    documents of people with one name print it in either field.
    """
    first, last = split_full_name(_NAME_FORBIDDEN.sub("", full_name))
    return first, last or first


def _is_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID


def _text(value: Any, limit: int = _MAX_TEXT) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def _started(run: Mapping[str, Any]) -> StartedSession:
    reference = run.get("id")
    link = run.get("link")
    url = link.get("url") if isinstance(link, dict) else None
    if not _is_id(reference) or not isinstance(url, str) or not url.startswith("http"):
        log.warning("kyc_provider_bad_body", provider="onfido", operation="create_workflow_run")
        raise KycProviderUnavailable("onfido answered a workflow run without an id and link")
    sdk_token = run.get("sdk_token")
    return StartedSession(
        reference=reference,
        verification_url=url,
        client_token=sdk_token if isinstance(sdk_token, str) and sdk_token else None,
    )


def _event(payload: Mapping[str, Any]) -> ProviderDecision:
    action = payload.get("action")
    obj = payload.get("object")
    if not isinstance(action, str) or not action or not isinstance(obj, dict):
        raise WebhookPayloadInvalid("payload.action or payload.object is missing")
    object_id = obj.get("id")
    if not _is_id(object_id):
        raise WebhookPayloadInvalid("payload.object.id is missing")
    raw_status = obj.get("status")
    if raw_status is not None and not isinstance(raw_status, str):
        raise WebhookPayloadInvalid("payload.object.status is not a string")
    status = raw_status or ""

    if action == COMPLETED:
        outcome = FINAL_STATUSES.get(status)
        if outcome is None:
            raise WebhookPayloadInvalid(f"a completed workflow run has status {status[:64]!r}")
        return ProviderDecision(
            event_id=f"{object_id}:{action}:{status}",
            reference=object_id,
            outcome=outcome,
            provider_status=status,
        )

    # Task events name their run; other resources (checks, reports) are not runs, so
    # their id matches no session and the service acknowledges them as unknown.
    reference = object_id
    event_id = f"{object_id}:{action}:{status}"
    run_id = obj.get("workflow_run_id")
    if payload.get("resource_type") == "workflow_task" and _is_id(run_id):
        reference = run_id
        event_id = f"{run_id}/{event_id}"
    return ProviderDecision(
        event_id=event_id, reference=reference, outcome="pending", provider_status=status
    )


def _reason(run: Mapping[str, Any]) -> str | None:
    reasons = run.get("reasons")
    parts: list[str] = []
    if isinstance(reasons, list):
        parts = [r.strip() for r in reasons if isinstance(r, str) and r.strip()]
    error = run.get("error")
    if isinstance(error, dict) and isinstance(error.get("type"), str):
        parts.append(f"error: {error['type']}")
    return "; ".join(parts)[:_MAX_TEXT] or None


def _extracted(output: Any) -> dict[str, str]:
    """Whitelisted keys of the run's output: a workflow's output may hold names and numbers."""
    if not isinstance(output, dict):
        return {}
    extracted: dict[str, str] = {}
    for source, target in _EXTRACTED_KEYS:
        value = _text(output.get(source), 64)
        if value:
            extracted[target] = value
    return extracted
