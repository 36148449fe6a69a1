"""The one interface every identity-verification provider sits behind.

The platform's own session id (`KycSession.id`) travels to the provider as the
vendor reference; the provider's verification id comes back as `reference`.
Decisions arrive by signed webhook (`parse_webhook`) or, as a fallback, by polling
(`fetch_decision`). Each implementation verifies the signature over the raw body
itself, because each provider signs differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

# What the platform does with a provider's answer. `resubmit` and `abandoned` are
# final for that session: the contractor starts a new one.
Outcome = Literal["approved", "declined", "review", "expired", "resubmit", "abandoned", "pending"]


class WebhookSignatureInvalid(Exception):
    """The signature header is missing or does not match the raw body."""


class WebhookPayloadInvalid(Exception):
    """The body was signed correctly but is not an event this provider sends."""


class KycProviderUnavailable(Exception):
    """The provider did not answer, or answered with a server error."""


class KycProviderRejected(KycProviderUnavailable):
    """The provider refused the request with a 4xx: our credentials, configuration or input.

    A subclass of `KycProviderUnavailable`, so a caller that only handles that one
    still fails safe; unlike it, retrying the same request will not help until an
    operator fixes the cause. `status_code` is the provider's HTTP status.
    """

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class StartedSession:
    """The provider's side of a new verification session."""

    reference: str  # the provider's verification id (Veriff verification.id, Onfido run id)
    verification_url: str  # where the contractor goes to capture documents
    client_token: str | None = None  # an SDK token (Onfido), never logged


@dataclass(frozen=True)
class ProviderDecision:
    """A decision (or a status change) as the provider reported it.

    `event_id` is what deduplicates repeats: the provider's own event id where it has
    one, else `<reference>:<status>` (Veriff signs no timestamp and sends no id).
    """

    event_id: str
    reference: str
    outcome: Outcome
    reason: str | None = None
    vendor_session_id: str | None = None  # our session id echoed back, when the provider does
    provider_status: str = ""  # the raw status or code, for the record
    extracted: Mapping[str, str] = field(default_factory=dict)  # e.g. document type, country


class KycProvider(Protocol):
    """`name` is the path segment of the webhook: `/api/webhooks/kyc/{name}`."""

    name: str

    def start_session(
        self, *, session_id: str, callback_url: str, full_name: str, email: str
    ) -> StartedSession: ...

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderDecision:
        """Verify the signature on the raw bytes first, then parse.

        Raises WebhookSignatureInvalid or WebhookPayloadInvalid."""
        ...

    def fetch_decision(self, reference: str) -> ProviderDecision | None:
        """Poll the provider; None while it has not decided."""
        ...
