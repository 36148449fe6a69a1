"""Blobs as files under `<data dir>/blobs/`, for the embedded mode.

A blob's file is named after the SHA-256 of its key and fanned out by the first two
pairs of hex digits (`ab/cd/abcd….blob`), so no folder grows past a few hundred
entries and nothing of the key (ids) shows in the file system. Writes go to a
temporary file in the same folder and are renamed into place, so a reader sees the
whole old blob or the whole new one, never half of one. Files are owner-only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from mindlinks.platform.blobs.base import BlobNotFound
from mindlinks.platform.blobs.keyring import KeyRing
from mindlinks.platform.blobs.naming import check_blob_key


class LocalBlobStore:
    name = "local"

    def __init__(self, root: Path, keyring: KeyRing) -> None:
        self.root = root
        self.keyring = keyring

    def path_for(self, key: str) -> Path:
        digest = hashlib.sha256(check_blob_key(key).encode("ascii")).hexdigest()
        return self.root / digest[:2] / digest[2:4] / f"{digest}.blob"

    def put(self, key: str, data: bytes, *, associated_data: bytes, content_type: str) -> None:
        # The content type travels in the signed URL, not at rest: the store
        # keeps only ciphertext.
        path = self.path_for(key)
        sealed = self.keyring.seal(data, associated_data)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(sealed)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def read_sealed(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def get(self, key: str, *, associated_data: bytes) -> bytes:
        return self.keyring.open(self.read_sealed(key), associated_data)

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def presigned_ciphertext_url(self, key: str, *, expires_in: int) -> str | None:
        check_blob_key(key)
        return None
