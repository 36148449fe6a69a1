"""Errors of the signing ceremony, each named after the rule it enforces.

`ContractNotSignable` (409 `contract-not-signable`) and `ContractNotFound` come
from the contracts module: they are part of the contract's public vocabulary.
"""

from __future__ import annotations

from mindlinks.platform.errors import Conflict, Forbidden, InvalidFields


class ConsentRequired(InvalidFields):
    """Signing without accepting the electronic records and signature disclosure."""

    slug = "consent-required"
    title = "Accept the electronic records and signature disclosure to sign"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"field": "consent", "message": detail}])


class DisclosureOutdated(InvalidFields):
    """The client showed (and the signer accepted) a disclosure that is not the
    current one: it must show the current text again."""

    slug = "disclosure-outdated"
    title = "The disclosure you accepted is not the current one"

    def __init__(self, current_version: int, given: int) -> None:
        message = (
            f"version {given} is not the current disclosure (version {current_version}); "
            "show GET /api/esign/disclosure again and ask for consent to that text"
        )
        super().__init__(
            message,
            errors=[{"field": "disclosure_version", "message": message}],
            extra={"current_version": current_version},
        )


class NotYourRole(Forbidden):
    """A party asking to sign or decline for a role that is not theirs."""

    slug = "not-your-role"
    title = "You may only act for your own role in this contract"


class SignatureInvalid(InvalidFields):
    """A typed name or drawn image that cannot be a signature."""

    slug = "signature-invalid"
    title = "The signature is not acceptable"

    def __init__(self, message: str, field: str = "signature.value") -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])


class SignatureTooLarge(SignatureInvalid):
    """The body of a sign request is over its size limit: a drawn image far over
    the PNG limit. Raised by the body-size middleware (`api.SIGN_PATHS`), so the
    answer is the 422 that an image just over the limit gets too."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            "the drawn signature is larger than the limit" + (f" ({detail})" if detail else "")
        )


class ContractNotDeclinable(Conflict):
    """Declining after this party signed, or a contract that is no longer signable."""

    slug = "contract-not-declinable"
    title = "The contract cannot be declined now"

    def __init__(self, detail: str, *, current: str) -> None:
        super().__init__(detail, extra={"current_status": current})
