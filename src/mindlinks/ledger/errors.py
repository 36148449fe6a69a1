"""Errors of the ledger module, each named after the rule it enforces.

Requests for proofs and entries that the ledger cannot answer are client errors
(4xx problem+json with a reason). Entries that break the canonical-JSON rule are
programming errors of the caller (a service), so they are `ValueError`s, not problems.
"""

from __future__ import annotations

from mindlinks.platform.errors import InvalidInput, NotFound


class SeqOutOfRange(NotFound):
    """No entry has this seq: it is negative or at or beyond the head."""

    slug = "seq-out-of-range"
    title = "No ledger entry has this seq"

    def __init__(self, seq: int, head: int) -> None:
        super().__init__(f"No ledger entry has seq {seq}: the ledger has {head} entries.")


class SubjectNotFound(NotFound):
    """A ledger subject that does not exist or that the caller may not see."""

    slug = "ledger-subject-not-found"
    title = "No such ledger subject"


class CheckpointNotFound(NotFound):
    """No checkpoint has been issued yet, or none for this tree size."""

    slug = "checkpoint-not-found"
    title = "No such checkpoint"


class TreeSizeOutOfRange(InvalidInput):
    """A tree size below 1 (or not above the entry asked about) or beyond the head."""

    slug = "tree-size-out-of-range"
    title = "The tree size is out of range"

    def __init__(self, field: str, size: int, low: int, head: int) -> None:
        message = (
            f"must be from {low} to the head {head}"
            if low <= head
            else f"must be at least {low}, but the ledger has {head} entries"
        )
        super().__init__(field, message, f"{field}={size}: {message}")


class InvalidConsistencyRange(InvalidInput):
    """A consistency proof needs 1 ≤ first ≤ second."""

    slug = "invalid-consistency-range"
    title = "A consistency proof needs 1 <= first <= second"

    def __init__(self, first: int, second: int) -> None:
        field = "first"
        message = "must be at least 1" if first < 1 else f"must not exceed second ({second})"
        super().__init__(field, message, f"first={first}, second={second}: first {message}")


class LedgerPayloadNotCanonical(ValueError):
    """Ledger payloads are JSON of str, int (|n| < 2^53), bool, None, list and dict
    with str keys: they must have exactly one RFC 8785 form. Floats, NaN, tuples,
    bytes and other objects are refused."""


class LedgerEntryInvalid(ValueError):
    """A kind, subject or actor that does not fit its column or its pattern, or an
    entry above the size limit."""


class LedgerStateCorrupt(RuntimeError):
    """The stored tree is missing a node that an append or a proof needs: the
    database was changed outside the ledger service. Run `mindlinks ledger verify`."""
