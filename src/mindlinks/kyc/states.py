"""The one transition table of a verification session, and what provider outcomes mean.

    created   -> submitted | approved | declined | review | expired
    submitted -> approved | declined | review | expired
    review    -> approved | declined
    approved, declined, expired: final

`created` can jump straight to a decision because with Veriff or Onfido the capture
happens at the provider: we hear of it only when it is decided. A session in
review is decided by a person (ours or the provider's) and no longer expires.
"""

from __future__ import annotations

from typing import Final, Literal

from mindlinks.kyc.providers.base import Outcome

Status = Literal["created", "submitted", "approved", "declined", "review", "expired"]
STATUSES: Final = ("created", "submitted", "approved", "declined", "review", "expired")
FINAL_STATUSES: Final = frozenset({"approved", "declined", "expired"})
DECISIONS: Final = frozenset({"approved", "declined"})

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "created": frozenset({"submitted", "approved", "declined", "review", "expired"}),
    "submitted": frozenset({"approved", "declined", "review", "expired"}),
    "review": frozenset({"approved", "declined"}),
    "approved": frozenset(),
    "declined": frozenset(),
    "expired": frozenset(),
}

# Provider outcome -> (status, reason code). `resubmit` is final for the session
# (the contractor starts a new one), so it is a decline that says why;
# `abandoned` is an expiry; `pending` changes nothing.
OUTCOME_STATUS: Final[dict[Outcome, tuple[str, str] | None]] = {
    "approved": ("approved", "provider_approved"),
    "declined": ("declined", "provider_declined"),
    "review": ("review", "provider_review"),
    "expired": ("expired", "provider_expired"),
    "resubmit": ("declined", "resubmission_requested"),
    "abandoned": ("expired", "abandoned"),
    "pending": None,
}
RESUBMIT_REASON: Final = "The provider asked for the documents again: start a new verification."


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def is_final(status: str) -> bool:
    return status in FINAL_STATUSES
