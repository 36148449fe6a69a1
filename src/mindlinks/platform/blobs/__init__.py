"""Encrypted document storage: `blob_store_for(ctx)` and `signed_blob_url(...)`.

See `base.py` for the model. The store is chosen by `MINDLINKS_BLOB_STORE` (`local`
under `<data dir>/blobs/`, or `s3`) and built once per app context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mindlinks.config import Settings
from mindlinks.platform.blobs.base import BlobIntegrityError, BlobNotFound, BlobStore
from mindlinks.platform.blobs.keyring import KeyRing, load_keyring
from mindlinks.platform.blobs.local import LocalBlobStore
from mindlinks.platform.blobs.urls import open_signed_blob, signed_blob_url

if TYPE_CHECKING:
    from mindlinks.platform.context import AppContext

__all__ = [
    "BlobIntegrityError",
    "BlobNotFound",
    "BlobStore",
    "blob_store_for",
    "make_blob_store",
    "open_signed_blob",
    "signed_blob_url",
]

_EXTRAS_KEY = "blob_store"


def make_blob_store(settings: Settings, keyring: KeyRing | None = None) -> BlobStore:
    keyring = keyring or load_keyring(settings)
    if settings.blob_store == "s3":
        # boto3 is imported only by installations that use S3.
        from mindlinks.platform.blobs.s3 import S3BlobStore

        return S3BlobStore.from_settings(settings, keyring)
    return LocalBlobStore(settings.data_dir / "blobs", keyring)


def blob_store_for(ctx: AppContext) -> BlobStore:
    """The app's blob store, built on first use and kept in `ctx.extras`."""
    store: BlobStore | None = ctx.extras.get(_EXTRAS_KEY)
    if store is None:
        # Two threads may both build one; setdefault keeps the first, and both
        # are equivalent, so the loser is simply dropped.
        store = ctx.extras.setdefault(_EXTRAS_KEY, make_blob_store(ctx.settings))
    return store
