"""Problems answered by the signed blob URL, each named after the rule it enforces.

A token that does not verify answers 404 like an address that never existed, so a
prober learns nothing; a genuine token past its expiry answers 403 `url-expired`,
so the admin knows to ask for a fresh page rather than report a missing document.
"""

from __future__ import annotations

from mindlinks.platform.errors import Forbidden, NotFound, Problem, ServiceUnavailable


class BlobUrlInvalid(NotFound):
    """The token is malformed, its signature does not verify, or it names another store."""

    slug = "blob-url-invalid"
    title = "No document at this address"

    def __init__(self) -> None:
        super().__init__("This document address is not valid.")


class BlobUrlExpired(Forbidden):
    """A genuine signed URL (or the storage's own presigned URL) past its expiry."""

    slug = "url-expired"
    title = "This document address has expired"

    def __init__(self) -> None:
        super().__init__("This document address has expired; reload the page for a new one.")


class BlobGone(NotFound):
    """The URL is genuine but the blob was deleted since (e.g. by retention)."""

    slug = "blob-not-found"
    title = "The document no longer exists"

    def __init__(self) -> None:
        super().__init__("This document has been deleted.")


class BlobStorageUnavailable(ServiceUnavailable):
    """The object store did not answer, or answered something we cannot use."""

    slug = "blob-storage-unavailable"
    title = "Document storage is unavailable"


class BlobUnreadable(Problem):
    """A stored blob fails authentication: it was altered at rest. A server fault."""

    status = 500
    slug = "blob-unreadable"
    title = "The stored document cannot be opened"

    def __init__(self) -> None:
        super().__init__("The stored document failed its integrity check; this has been logged.")
