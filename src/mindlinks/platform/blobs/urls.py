"""Expiring, HMAC-signed addresses for blobs: `/api/blobs/<token>`.

The token is `<payload>.<tag>`, both unpadded base64url. The payload is compact JSON
naming the store, the blob key, its associated data, the content type to serve, the
expiry (Unix seconds) and, for S3, a SigV4 presigned GET for the ciphertext with the
same lifetime. The tag is HMAC-SHA256 of the encoded payload under a key derived from
`MINDLINKS_SECRET_KEY` for this purpose only (HKDF, its own `info`), so no other
token the app signs can be replayed as a blob URL; it is compared in constant time.

Nothing in the token is secret: it holds ids (never names or document numbers) and,
for S3, an address that yields ciphertext only the key ring opens. Whoever holds the
URL may read the document until it expires, so it is shown to admins only and sent
with `Cache-Control: no-store`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mindlinks.config import Settings
from mindlinks.platform import clock
from mindlinks.platform.blobs.base import BlobIntegrityError, BlobNotFound, BlobStore
from mindlinks.platform.blobs.errors import (
    BlobGone,
    BlobStorageUnavailable,
    BlobUnreadable,
    BlobUrlExpired,
    BlobUrlInvalid,
)
from mindlinks.platform.blobs.keyring import KeyRing
from mindlinks.platform.blobs.naming import InvalidBlobKey, check_blob_key

URL_PREFIX = "/api/blobs/"
TOKEN_VERSION = 1
MAX_TOKEN_LENGTH = 8192
# SigV4 presigned URLs live at most seven days; our own tokens follow the same bound.
MAX_EXPIRES_IN = 7 * 24 * 3600
S3_FETCH_TIMEOUT_SECONDS = 10.0
_HKDF_INFO = b"mindlinks/blob-url/hmac-sha256/v1"

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SignedBlobClaims:
    store: str
    key: str
    associated_data: bytes
    content_type: str
    expires_at: int
    ciphertext_url: str | None


@dataclass(frozen=True)
class OpenedBlob:
    data: bytes
    content_type: str


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signing_key(settings: Settings) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        settings.secret_key.encode("utf-8")
    )


def _tag(settings: Settings, payload: str) -> bytes:
    return hmac.new(_signing_key(settings), payload.encode("ascii"), hashlib.sha256).digest()


def signed_blob_url(
    settings: Settings,
    store: BlobStore,
    key: str,
    *,
    associated_data: bytes,
    content_type: str,
    expires_in: int | None = None,
) -> str:
    """An app-relative URL serving the blob's plaintext until it expires (default 1 h)."""
    ttl = settings.blob_url_ttl_seconds if expires_in is None else expires_in
    if not 0 < ttl <= MAX_EXPIRES_IN:
        raise ValueError(f"expires_in must be 1..{MAX_EXPIRES_IN} seconds, not {ttl}")
    check_blob_key(key)
    expires_at = math.floor(clock.now().timestamp()) + ttl
    claims: dict[str, Any] = {
        "v": TOKEN_VERSION,
        "s": store.name,
        "k": key,
        "a": _b64encode(associated_data),
        "t": content_type,
        "e": expires_at,
    }
    ciphertext_url = store.presigned_ciphertext_url(key, expires_in=ttl)
    if ciphertext_url is not None:
        claims["u"] = ciphertext_url
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    return f"{URL_PREFIX}{payload}.{_b64encode(_tag(settings, payload))}"


def verify_token(settings: Settings, token: str) -> SignedBlobClaims:
    """The claims of a token whose tag verifies; BlobUrlInvalid otherwise (expiry unchecked)."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise BlobUrlInvalid()
    payload, tag_text = token.split(".")
    try:
        tag = _b64decode(tag_text)
    except (binascii.Error, ValueError) as exc:
        raise BlobUrlInvalid() from exc
    try:
        expected = _tag(settings, payload)
    except UnicodeEncodeError as exc:
        raise BlobUrlInvalid() from exc
    if not hmac.compare_digest(tag, expected):
        raise BlobUrlInvalid()
    # Past this point the payload is ours; a failure to read it means a token
    # from an incompatible version, which is as unusable as a forged one.
    try:
        claims = json.loads(_b64decode(payload))
        if claims.get("v") != TOKEN_VERSION:
            raise ValueError("token version")
        ciphertext_url = claims.get("u")
        result = SignedBlobClaims(
            store=str(claims["s"]),
            key=check_blob_key(claims["k"]),
            associated_data=_b64decode(claims["a"]),
            content_type=str(claims["t"]),
            expires_at=int(claims["e"]),
            ciphertext_url=str(ciphertext_url) if ciphertext_url is not None else None,
        )
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError, InvalidBlobKey) as exc:
        raise BlobUrlInvalid() from exc
    return result


def _fetch_ciphertext(url: str, http: httpx.Client | None) -> bytes:
    client = http or httpx.Client(timeout=S3_FETCH_TIMEOUT_SECONDS)
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        log.warning("blob_fetch_failed", error=type(exc).__name__)
        raise BlobStorageUnavailable("Document storage did not answer.") from exc
    finally:
        if http is None:
            client.close()
    if response.status_code == 200:
        return response.content
    if response.status_code == 403:
        # S3 checks the presigned URL's own signature and expiry: a refusal
        # there is an expired address, whatever our clock said.
        raise BlobUrlExpired()
    if response.status_code == 404:
        raise BlobGone()
    log.warning("blob_fetch_refused", status=response.status_code)
    raise BlobStorageUnavailable(f"Document storage answered {response.status_code}.")


def open_signed_blob(
    settings: Settings,
    store: BlobStore,
    token: str,
    *,
    http: httpx.Client | None = None,
) -> OpenedBlob:
    """Check the token (bad → 404, expired → 403 `url-expired`) and open its blob."""
    claims = verify_token(settings, token)
    if claims.store != store.name:
        raise BlobUrlInvalid()
    if clock.now().timestamp() >= claims.expires_at:
        raise BlobUrlExpired()
    try:
        if claims.ciphertext_url is not None:
            # The S3 store's ciphertext comes through the presigned URL, so
            # S3 enforces the expiry too; only our key ring opens it.
            keyring = getattr(store, "keyring", None)
            if not isinstance(keyring, KeyRing):
                raise TypeError(f"blob store {store.name!r} has no key ring")
            sealed = _fetch_ciphertext(claims.ciphertext_url, http)
            data = keyring.open(sealed, claims.associated_data)
        else:
            data = store.get(claims.key, associated_data=claims.associated_data)
    except BlobNotFound as exc:
        raise BlobGone() from exc
    except BlobIntegrityError as exc:
        log.error("blob_integrity_failure", store=store.name, key=claims.key, reason=str(exc))
        raise BlobUnreadable() from exc
    return OpenedBlob(data=data, content_type=claims.content_type)
