"""Errors of the KYC module, each named after the rule it enforces."""

from __future__ import annotations

from mindlinks.platform.errors import (
    Conflict,
    Forbidden,
    InvalidFields,
    NotAuthenticated,
    NotFound,
    Problem,
)

KYC_PAGE = "/kyc"


class KycSessionNotFound(NotFound):
    """Unknown, or not the caller's: the two answer alike."""

    slug = "kyc-session-not-found"
    title = "No such verification session"


class KycNotApproved(Forbidden):
    """What other modules raise (through `service.require_verified`) before a
    contractor may act on something that needs a verified identity."""

    slug = "kyc-not-approved"
    title = "Verify your identity first"

    def __init__(self, detail: str | None = None, *, kyc_status: str = "none") -> None:
        super().__init__(
            detail,
            extra={
                "kyc_status": kyc_status,
                "links": [{"rel": "verify-identity", "href": KYC_PAGE}],
            },
        )


class KycAlreadyApproved(Conflict):
    slug = "kyc-already-approved"
    title = "Your identity is already verified"


class KycSessionInProgress(Conflict):
    """A submitted session (or one in review) is waiting for its decision."""

    slug = "kyc-session-in-progress"
    title = "A verification is already waiting for its decision"


class KycSessionNotOpen(Conflict):
    """Capturing documents for a session that is no longer `created`."""

    slug = "kyc-session-not-open"
    title = "The verification session no longer accepts documents"


class KycSessionNotReviewable(Conflict):
    """An admin decision on a session that is not in `review`."""

    slug = "kyc-session-not-reviewable"
    title = "Only a session in review takes an admin decision"


class KycTransitionNotAllowed(Conflict):
    """A status change the transition table does not allow."""

    slug = "kyc-transition-not-allowed"
    title = "The verification session cannot move to that status"


class KycUploadInvalid(InvalidFields):
    """A file that is not a JPEG, PNG or WebP image of sane size (API.md: over the
    per-file limit is 422 too), or a selfie that repeats a document side."""

    slug = "kyc-upload-invalid"
    title = "An uploaded image was refused"


class KycProviderNotConfigured(NotFound):
    """A webhook for a provider this deployment has no secret for: nothing to verify
    it with, so it answers like an unknown path."""

    slug = "kyc-provider-not-configured"
    title = "No such KYC provider"


class KycWebhookSignatureInvalid(NotAuthenticated):
    slug = "kyc-webhook-signature-invalid"
    title = "The webhook signature is missing or wrong"

    def __init__(self, detail: str | None = None) -> None:
        Problem.__init__(self, detail)


class KycWebhookPayloadInvalid(Problem):
    status = 422
    slug = "kyc-webhook-payload-invalid"
    title = "The webhook is signed but is not an event this provider sends"


class KycProviderDown(Problem):
    status = 503
    slug = "kyc-provider-unavailable"
    title = "The identity-verification provider is not answering"


class KycUploadTooLarge(Problem):
    """A capture body over three files at the limit: a file is over 10 MB (API.md: 422)."""

    status = 422
    slug = "upload-too-large"
    title = "A file is larger than the upload limit"
