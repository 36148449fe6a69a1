"""Errors of the contracts module, each named after the rule it enforces."""

from __future__ import annotations

from mindlinks.platform.errors import Conflict, NotFound, Problem


class ContractNotFound(NotFound):
    """Unknown, or not the caller's: the two answer alike."""

    slug = "contract-not-found"
    title = "No such contract"


class ContractTemplateNotFound(NotFound):
    slug = "contract-template-not-found"
    title = "No such contract template"


class ContractTransitionNotAllowed(Conflict):
    """A status change the transition table does not allow; names the current state."""

    slug = "contract-transition-not-allowed"
    title = "The contract cannot move to that status"

    def __init__(self, current: str, target: str, detail: str | None = None) -> None:
        super().__init__(
            detail or f"The contract is {current}; it cannot become {target}.",
            extra={"current_status": current},
        )


class ContractNotEditable(Conflict):
    slug = "contract-not-editable"
    title = "Only a draft contract can be edited"

    def __init__(self, current: str) -> None:
        super().__init__(
            f"The contract is {current}; only a draft can be edited.",
            extra={"current_status": current},
        )


class ContractNotSignable(Conflict):
    """Signed already by this party, not this party's turn, or not in a signable state."""

    slug = "contract-not-signable"
    title = "The contract cannot be signed now"

    def __init__(self, detail: str, *, current: str) -> None:
        super().__init__(detail, extra={"current_status": current})


class EvidenceNotReady(Conflict):
    slug = "evidence-not-ready"
    title = "The evidence bundle is not ready yet"


class ContractNotSent(Conflict):
    """A draft has no frozen document yet: there is nothing to download."""

    slug = "contract-not-sent"
    title = "The contract has not been sent yet"

    def __init__(self, current: str) -> None:
        super().__init__(
            f"The contract is {current}; its PDF is fixed when it is sent.",
            extra={"current_status": current},
        )


class ContractEditConflict(Conflict):
    """Another request changed the draft between this one's read and its write."""

    slug = "contract-edit-conflict"
    title = "The contract was changed by someone else"

    def __init__(self) -> None:
        super().__init__("The draft changed while this request was handled; reload and retry.")


class ContractDocumentUnavailable(Problem):
    """A sent contract whose frozen PDF cannot be found or opened (a server fault
    that an operator must look at; the answer names it rather than a bare 500)."""

    status = 500
    slug = "contract-document-unavailable"
    title = "The contract's document cannot be read"
