"""Where documents live: an encrypted object store behind one interface.

Every blob is sealed with AES-256-GCM under a key of the ring (the key id travels in
the blob's header so keys rotate and old blobs still open) with associated data that
names the record it belongs to: a blob copied onto another record fails to open.

Blobs are never served directly. `signed_blob_url` (module `urls`) answers an
address on this app that expires (one hour by default) and is HMAC-signed; the app
opens the blob and serves the plaintext. For the S3 store the address also carries a
SigV4 presigned GET for the ciphertext, which the app redeems, so S3 enforces the
same expiry independently: bytes at rest are ciphertext that only our key ring opens.
"""

from __future__ import annotations

from typing import Protocol


class BlobNotFound(Exception):
    """No blob is stored under that key."""


class BlobIntegrityError(Exception):
    """The blob does not open: wrong record, unknown key or tampered bytes."""


class BlobStore(Protocol):
    name: str  # "local" or "s3"

    def put(self, key: str, data: bytes, *, associated_data: bytes, content_type: str) -> None:
        """Encrypt and store under `key` (keys are never reused)."""
        ...

    def get(self, key: str, *, associated_data: bytes) -> bytes:
        """Fetch and decrypt; BlobNotFound or BlobIntegrityError."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing blob is not an error."""
        ...

    def presigned_ciphertext_url(self, key: str, *, expires_in: int) -> str | None:
        """S3: a SigV4 presigned GET for the stored ciphertext. Local: None."""
        ...
