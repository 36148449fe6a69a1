"""The built-in sandbox provider: offline, deterministic, and the embedded default.

It behaves like a real provider seen from outside:

- `start_session` answers a reference of its own and the capture page,
  `{base_url}/kyc/sandbox/{session id}` (served by the web module);
- the capture (`kyc.capture.submit_sandbox_capture`) hands it the document number
  and it decides by API.md's rule: `DECL…` declined, `REVW…` review, anything
  else approved. It records that decision on its side of the fence (table
  `kyc_sandbox_verifications`, no PII) and the platform learns of it only through
  a signed webhook that a job POSTs over HTTP to `/api/webhooks/kyc/sandbox`;
- the webhook is shaped like Veriff's decision webhook and signed like it:
  `X-HMAC-SIGNATURE` is the lowercase hex HMAC-SHA256 of the raw body under the
  `kyc-sandbox` webhook secret, checked in constant time before the body is read;
- `fetch_decision` reads back what it decided (the polling fallback), through a
  read-only session of its own so it never waits on a writer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from mindlinks.kyc.models import KycSandboxVerification
from mindlinks.kyc.providers._http import hmac_sha256_hex, lower_keys, same_secret
from mindlinks.kyc.providers.base import (
    Outcome,
    ProviderDecision,
    StartedSession,
    WebhookPayloadInvalid,
    WebhookSignatureInvalid,
)
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id

SIGNATURE_HEADER: Final = "X-HMAC-SIGNATURE"
REFERENCE_PREFIX: Final = "sbx-"
# Veriff's decision codes, plus one for review, which Veriff's decision webhook
# does not send but the sandbox must (API.md: `REVW…` goes to review).
STATUS_CODES: Final[Mapping[str, tuple[int, Outcome]]] = {
    "approved": (9001, "approved"),
    "declined": (9102, "declined"),
    "resubmission_requested": (9103, "resubmit"),
    "expired": (9104, "expired"),
    "abandoned": (9121, "abandoned"),
    "review": (9151, "review"),
}
_OUTCOME_STATUS: Final[Mapping[str, str]] = {
    outcome: status for status, (_code, outcome) in STATUS_CODES.items()
}
DECLINE_PREFIX: Final = "DECL"
REVIEW_PREFIX: Final = "REVW"
DECLINE_REASON: Final = "The sandbox declines document numbers that start with DECL."
REVIEW_REASON: Final = "The sandbox sends document numbers that start with REVW to manual review."
_MAX_ID = 200
_MAX_TEXT = 500

ReadSession = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class SandboxVerdict:
    """What the sandbox decided about one capture (no PII: outcome and reason)."""

    reference: str
    session_id: str
    outcome: Outcome  # approved | declined | review
    reason: str | None
    decided_at: datetime


def verdict_for(document_number: str) -> tuple[Outcome, str | None]:
    """API.md's sandbox rule, by the document number as typed (case-insensitive)."""
    number = document_number.strip().upper()
    if number.startswith(DECLINE_PREFIX):
        return "declined", DECLINE_REASON
    if number.startswith(REVIEW_PREFIX):
        return "review", REVIEW_REASON
    return "approved", None


class SandboxKycProvider:
    name = "sandbox"

    def __init__(
        self, *, secret: str | None, base_url: str, read_session: ReadSession | None = None
    ) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self._read_session = read_session

    @property
    def configured(self) -> bool:
        return bool(self.secret)

    # --- the provider's side -------------------------------------------------

    def start_session(
        self, *, session_id: str, callback_url: str, full_name: str, email: str
    ) -> StartedSession:
        # The sandbox keeps nothing about the person; the capture page is ours.
        return StartedSession(
            reference=f"{REFERENCE_PREFIX}{new_id()}",
            verification_url=f"{self.base_url}/kyc/sandbox/{session_id}",
        )

    def record_capture(
        self, session: Session, *, reference: str, session_id: str, document_number: str
    ) -> SandboxVerdict:
        """Decide about a capture and keep the decision (in the caller's transaction)."""
        outcome, reason = verdict_for(document_number)
        row = KycSandboxVerification(
            reference=reference,
            session_id=session_id,
            outcome=outcome,
            reason=reason,
            decided_at=now(),
        )
        session.add(row)
        session.flush()
        return SandboxVerdict(reference, session_id, outcome, reason, row.decided_at)

    def webhook_body(self, verdict: SandboxVerdict) -> bytes:
        """The decision webhook, shaped like Veriff's."""
        status = _OUTCOME_STATUS[verdict.outcome]
        body = {
            "status": "success",
            "verification": {
                "id": verdict.reference,
                "code": STATUS_CODES[status][0],
                "status": status,
                "reason": verdict.reason,
                "vendorData": verdict.session_id,
                "decisionTime": verdict.decided_at.isoformat().replace("+00:00", "Z"),
            },
        }
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    def sign(self, raw_body: bytes) -> str:
        if not self.secret:
            raise WebhookSignatureInvalid("the sandbox webhook secret is not configured")
        return hmac_sha256_hex(self.secret, raw_body)

    # --- the platform's side -------------------------------------------------

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderDecision:
        if not self.secret:
            raise WebhookSignatureInvalid("the sandbox webhook secret is not configured")
        signature = lower_keys(headers).get(SIGNATURE_HEADER.lower())
        if not signature:
            raise WebhookSignatureInvalid(f"the {SIGNATURE_HEADER} header is missing")
        expected = hmac_sha256_hex(self.secret, raw_body)
        if not same_secret(expected, signature.strip().lower()):
            raise WebhookSignatureInvalid(f"the {SIGNATURE_HEADER} does not match the body")
        try:
            body = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookPayloadInvalid("the body is not JSON") from exc
        verification = body.get("verification") if isinstance(body, dict) else None
        if not isinstance(verification, dict):
            raise WebhookPayloadInvalid("not a decision webhook: `verification` is missing")
        return _decision(verification)

    def fetch_decision(self, reference: str) -> ProviderDecision | None:
        if self._read_session is None:
            return None
        with self._read_session() as session:
            row = session.scalar(
                select(KycSandboxVerification).where(KycSandboxVerification.reference == reference)
            )
            if row is None:
                return None
            status = _OUTCOME_STATUS[row.outcome]
            return ProviderDecision(
                event_id=f"{row.reference}:{status}",
                reference=row.reference,
                outcome=STATUS_CODES[status][1],
                reason=row.reason,
                vendor_session_id=row.session_id,
                provider_status=f"{STATUS_CODES[status][0]} {status}",
            )


def _decision(verification: Mapping[str, Any]) -> ProviderDecision:
    reference = verification.get("id")
    if not isinstance(reference, str) or not 0 < len(reference) <= _MAX_ID:
        raise WebhookPayloadInvalid("verification.id is missing")
    status = verification.get("status")
    if not isinstance(status, str) or status not in STATUS_CODES:
        raise WebhookPayloadInvalid(f"verification.status {status!r} is unknown")
    code, outcome = STATUS_CODES[status]
    if verification.get("code") != code:
        raise WebhookPayloadInvalid(f"verification.code does not match status {status!r}")
    reason = verification.get("reason")
    vendor = verification.get("vendorData")
    return ProviderDecision(
        event_id=f"{reference}:{status}",
        reference=reference,
        outcome=outcome,
        reason=reason.strip()[:_MAX_TEXT] if isinstance(reason, str) and reason.strip() else None,
        vendor_session_id=vendor[:_MAX_ID] if isinstance(vendor, str) and vendor else None,
        provider_status=f"{code} {status}",
    )
