"""Errors of the payments module, each named after the rule it enforces."""

from __future__ import annotations

from mindlinks.platform.errors import Conflict, InvalidInput


class ScheduleCursorInvalid(InvalidInput):
    """A `cursor` the payment-schedule list did not issue (422 `invalid-input`, like
    every list's bad cursor)."""

    def __init__(self) -> None:
        super().__init__("cursor", "not a cursor this list issued")


class PaymentTermsNotSchedulable(Conflict):
    """Stored terms that no longer pass validation cannot become a schedule; the
    activation that asked for one is refused rather than left without it."""

    slug = "payment-terms-not-schedulable"
    title = "The contract's payment terms cannot be scheduled"
