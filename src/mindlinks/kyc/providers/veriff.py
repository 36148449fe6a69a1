"""Veriff adapter (station API v1).

- Start: `POST {base}/v1/sessions` with `X-AUTH-CLIENT: <api key>` and
  `{"verification": {"callback", "person": {"firstName", "lastName"}, "vendorData"}}`;
  Veriff answers `verification.id` (our `reference`) and `verification.url`.
  `vendorData` carries our session id, so every decision names it again.
- Decision webhook: `X-HMAC-SIGNATURE` is the lowercase hex HMAC-SHA256 of the raw
  body with the shared secret, and `X-AUTH-CLIENT` is our api key. Both are checked
  before the body is parsed. Veriff signs no timestamp and sends no event id, so the
  event id is `<verification id>:<status>`: a replay carries the same id and the
  service drops it. Newer deliveries name the headers `vrf-hmac-signature` and
  `vrf-auth-client`; both spellings are accepted.
- Polling fallback: `GET {base}/v1/sessions/{id}/decision`, signed with the HMAC of
  the session id; `"verification": null` means Veriff has not decided yet. A decision
  fetched this way gets the same event id as its webhook, so whichever arrives second
  is a no-op.

Only the document type and issuing country leave this module as `extracted`: names,
dates of birth and document numbers stay with Veriff.
"""

from __future__ import annotations

import json
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

# Decision code → (the status Veriff sends with it, our outcome).
DECISION_CODES: Final[Mapping[int, tuple[str, Outcome]]] = {
    9001: ("approved", "approved"),
    9102: ("declined", "declined"),
    9103: ("resubmission_requested", "resubmit"),
    9104: ("expired", "expired"),
    9121: ("abandoned", "abandoned"),
}
# Event-webhook codes: the contractor started or submitted; no decision yet. Veriff
# posts these only when the event webhook URL is configured, possibly to this path.
EVENT_CODES: Final[Mapping[int, str]] = {7001: "started", 7002: "submitted"}

_MAX_ID = 255
_MAX_TEXT = 500


class VeriffProvider(HttpProviderClient):
    name = "veriff"

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        self.base_url = settings.veriff_base_url.rstrip("/")
        self.api_key = settings.veriff_api_key
        self.shared_secret = settings.veriff_shared_secret
        super().__init__(settings.kyc_provider_timeout_seconds, client)

    def start_session(
        self, *, session_id: str, callback_url: str, full_name: str, email: str
    ) -> StartedSession:
        # Veriff does not need the email; it is not sent.
        api_key = self._require_api_key()
        verification: dict[str, Any] = {"callback": callback_url, "vendorData": session_id}
        first_name, last_name = split_full_name(full_name)
        if first_name:
            person = {"firstName": first_name}
            if last_name:
                person["lastName"] = last_name
            verification["person"] = person
        answer = send_json(
            self.client,
            "POST",
            f"{self.base_url}/v1/sessions",
            provider=self.name,
            operation="create_session",
            headers={"X-AUTH-CLIENT": api_key, "Content-Type": "application/json"},
            body={"verification": verification},
            timeout=self.timeout,
        )
        started = answer.get("verification")
        reference = started.get("id") if isinstance(started, dict) else None
        url = started.get("url") if isinstance(started, dict) else None
        if not _is_id(reference) or not isinstance(url, str) or not _is_web_url(url):
            log.warning("kyc_provider_bad_body", provider=self.name, operation="create_session")
            raise KycProviderUnavailable("veriff answered a session without an id and url")
        return StartedSession(reference=reference, verification_url=url)

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderDecision:
        self._verify(raw_body, lower_keys(headers))
        try:
            body = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookPayloadInvalid("the body is not JSON") from exc
        if not isinstance(body, dict):
            raise WebhookPayloadInvalid("the body is not a JSON object")
        verification = body.get("verification")
        if isinstance(verification, dict):
            return _decision(verification)
        if "verification" not in body and "action" in body:
            return _event(body)
        raise WebhookPayloadInvalid("not a Veriff decision or event webhook")

    def fetch_decision(self, reference: str) -> ProviderDecision | None:
        api_key = self._require_api_key()
        secret = self._require_shared_secret()
        answer = send_json(
            self.client,
            "GET",
            f"{self.base_url}/v1/sessions/{quote(reference, safe='')}/decision",
            provider=self.name,
            operation="fetch_decision",
            headers={
                "X-AUTH-CLIENT": api_key,
                "X-HMAC-SIGNATURE": hmac_sha256_hex(secret, reference.encode()),
            },
            timeout=self.timeout,
        )
        if "verification" not in answer:
            log.warning("kyc_provider_bad_body", provider=self.name, operation="fetch_decision")
            raise KycProviderUnavailable("veriff answered without a verification field")
        verification = answer["verification"]
        if verification is None:
            return None
        try:
            if not isinstance(verification, dict):
                raise WebhookPayloadInvalid("verification is not an object")
            if _code(verification.get("code")) in EVENT_CODES:
                return None
            decision = _decision(verification)
        except WebhookPayloadInvalid as exc:
            log.warning("kyc_provider_bad_body", provider=self.name, operation="fetch_decision")
            raise KycProviderUnavailable(f"veriff answered an unreadable decision: {exc}") from exc
        if decision.reference != reference:
            log.warning("kyc_provider_bad_body", provider=self.name, operation="fetch_decision")
            raise KycProviderUnavailable("veriff answered the decision of another session")
        return decision

    def _verify(self, raw_body: bytes, headers: Mapping[str, str]) -> None:
        if not self.shared_secret or not self.api_key:
            log.error("kyc_provider_not_configured", provider=self.name)
            raise WebhookSignatureInvalid("veriff webhooks cannot be verified: not configured")
        signature = headers.get("x-hmac-signature") or headers.get("vrf-hmac-signature")
        if not signature:
            raise WebhookSignatureInvalid("the X-HMAC-SIGNATURE header is missing")
        expected = hmac_sha256_hex(self.shared_secret, raw_body)
        if not same_secret(expected, signature.strip().lower()):
            raise WebhookSignatureInvalid("the X-HMAC-SIGNATURE does not match the body")
        auth_client = headers.get("x-auth-client") or headers.get("vrf-auth-client")
        if not auth_client or not same_secret(self.api_key, auth_client.strip()):
            raise WebhookSignatureInvalid("the X-AUTH-CLIENT header is not our api key")

    def _require_api_key(self) -> str:
        if not self.api_key:
            log.error("kyc_provider_not_configured", provider=self.name)
            raise KycProviderUnavailable("veriff is not configured: set MINDLINKS_VERIFF_API_KEY")
        return self.api_key

    def _require_shared_secret(self) -> str:
        if not self.shared_secret:
            log.error("kyc_provider_not_configured", provider=self.name)
            raise KycProviderUnavailable(
                "veriff is not configured: set MINDLINKS_VERIFF_SHARED_SECRET"
            )
        return self.shared_secret


def _is_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID


def _is_web_url(value: str) -> bool:
    return value.startswith(("https://", "http://")) and len(value) <= 2048


def _code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _text(value: Any, limit: int = _MAX_TEXT) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def _decision(verification: Mapping[str, Any]) -> ProviderDecision:
    reference = verification.get("id")
    if not _is_id(reference):
        raise WebhookPayloadInvalid("verification.id is missing")
    code = _code(verification.get("code"))
    if code is None or code not in DECISION_CODES:
        raise WebhookPayloadInvalid(f"verification.code {verification.get('code')!r} is unknown")
    status, outcome = DECISION_CODES[code]
    if verification.get("status") != status:
        raise WebhookPayloadInvalid(f"verification.status does not match code {code}")

    reason = _text(verification.get("reason"))
    reason_code = _code(verification.get("reasonCode"))
    if reason_code is not None:
        reason = f"{reason} (reason code {reason_code})" if reason else f"reason code {reason_code}"

    extracted: dict[str, str] = {}
    document = verification.get("document")
    if isinstance(document, dict):
        for source, target in (("type", "document_type"), ("country", "document_country")):
            value = _text(document.get(source), 64)
            if value:
                extracted[target] = value

    return ProviderDecision(
        event_id=f"{reference}:{status}",
        reference=reference,
        outcome=outcome,
        reason=reason,
        vendor_session_id=_text(verification.get("vendorData"), _MAX_ID),
        provider_status=f"{code} {status}",
        extracted=extracted,
    )


def _event(body: Mapping[str, Any]) -> ProviderDecision:
    """An event webhook (`{"id", "code": 7001|7002, "action", "vendorData"}`): no decision."""
    reference = body.get("id")
    code = _code(body.get("code"))
    if not _is_id(reference) or code is None or code not in EVENT_CODES:
        raise WebhookPayloadInvalid("not a Veriff event webhook")
    action = EVENT_CODES[code]
    if body.get("action") != action:
        raise WebhookPayloadInvalid(f"action does not match code {code}")
    return ProviderDecision(
        event_id=f"{reference}:{action}",
        reference=reference,
        outcome="pending",
        vendor_session_id=_text(body.get("vendorData"), _MAX_ID),
        provider_status=f"{code} {action}",
    )
