"""AES-256-GCM key ring for blobs: seal with the current key, open with any key ever used.

A sealed blob is a self-describing header followed by the GCM ciphertext and tag:

    b"MLB" | version (1 byte, 0x01) | key id length (1 byte) | key id (ASCII) |
    nonce (12 random bytes) | ciphertext ‖ 16-byte tag

The associated data of the GCM call is the whole header followed by the caller's
associated data, so neither the key id, the version nor the record binding can be
changed without the tag failing. The header is length-prefixed, so the
concatenation is unambiguous.

Keys come from `MINDLINKS_BLOB_KEYS` (JSON `{key id: base64 of 32 bytes}`; the current
key is `MINDLINKS_BLOB_CURRENT_KEY_ID`, else the first). In the embedded mode, with no
keys configured, the ring lives in `<keys dir>/blob-keys.json` (owner-only, created by
`mindlinks keys init` or on first use) and `rotate_local_blob_key` adds a new current
key to it, keeping the old ones so old blobs still open. A process reads the ring
once (see `blob_store_for`): a rotation applies to new blobs after a restart.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mindlinks.config import Settings
from mindlinks.platform.blobs.base import BlobIntegrityError

MAGIC = b"MLB"
VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
TAG_BYTES = 16
KEYRING_FILE = "blob-keys.json"
_LOCK_FILE = ".blob-keys.lock"
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class BlobKeyError(RuntimeError):
    """The key ring is missing, malformed, or cannot be changed this way."""


def _check_key_id(key_id: str) -> str:
    if not _KEY_ID.fullmatch(key_id):
        raise BlobKeyError(f"blob key id {key_id!r} must match {_KEY_ID.pattern}")
    return key_id


def _decode_key(key_id: str, encoded: object) -> bytes:
    if not isinstance(encoded, str):
        raise BlobKeyError(f"blob key {key_id!r} must be a base64 string")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BlobKeyError(f"blob key {key_id!r} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise BlobKeyError(f"blob key {key_id!r} must be {KEY_BYTES} bytes, not {len(raw)}")
    return raw


@dataclass(frozen=True)
class SealedHeader:
    version: int
    key_id: str
    nonce: bytes
    length: int  # bytes of header before the ciphertext


def parse_header(sealed: bytes) -> SealedHeader:
    """Read the header of a sealed blob; BlobIntegrityError when it is not one."""
    if len(sealed) < len(MAGIC) + 2 or sealed[: len(MAGIC)] != MAGIC:
        raise BlobIntegrityError("not a sealed blob (bad magic)")
    pos = len(MAGIC)
    version = sealed[pos]
    if version != VERSION:
        raise BlobIntegrityError(f"unsupported sealed blob version {version}")
    id_len = sealed[pos + 1]
    pos += 2
    end = pos + id_len + NONCE_BYTES
    if id_len == 0 or len(sealed) < end + TAG_BYTES:
        raise BlobIntegrityError("sealed blob is truncated")
    try:
        key_id = sealed[pos : pos + id_len].decode("ascii")
    except UnicodeDecodeError as exc:
        raise BlobIntegrityError("sealed blob has a malformed key id") from exc
    return SealedHeader(version, key_id, sealed[pos + id_len : end], end)


@dataclass(frozen=True)
class KeyRing:
    keys: Mapping[str, bytes]
    current_id: str

    def __post_init__(self) -> None:
        if not self.keys:
            raise BlobKeyError("the blob key ring is empty")
        for key_id, key in self.keys.items():
            _check_key_id(key_id)
            if len(key) != KEY_BYTES:
                raise BlobKeyError(f"blob key {key_id!r} must be {KEY_BYTES} bytes")
        if self.current_id not in self.keys:
            raise BlobKeyError(f"current blob key {self.current_id!r} is not in the ring")

    @classmethod
    def from_mapping(cls, encoded: Mapping[str, object], current_id: str | None) -> KeyRing:
        """A ring from `{key id: base64 key}`; the current key defaults to the first."""
        if not encoded:
            raise BlobKeyError("the blob key ring is empty")
        keys = {_check_key_id(kid): _decode_key(kid, value) for kid, value in encoded.items()}
        return cls(keys=keys, current_id=current_id or next(iter(keys)))

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytearray:
        key_id = self.current_id.encode("ascii")
        nonce = os.urandom(NONCE_BYTES)
        header = MAGIC + bytes([VERSION, len(key_id)]) + key_id + nonce
        # Sealed straight into one buffer: `header + encrypt(...)` would hold a
        # second full copy of a 10 MB document at the peak.
        sealed = bytearray(len(header) + len(plaintext) + TAG_BYTES)
        sealed[: len(header)] = header
        AESGCM(self.keys[self.current_id]).encrypt_into(
            nonce, plaintext, header + associated_data, memoryview(sealed)[len(header) :]
        )
        return sealed

    def open(self, sealed: bytes, associated_data: bytes) -> bytes:
        """Decrypt; BlobIntegrityError for an unknown key, another record or any tampering."""
        header = parse_header(sealed)
        key = self.keys.get(header.key_id)
        if key is None:
            raise BlobIntegrityError(f"blob sealed with unknown key id {header.key_id!r}")
        head = sealed[: header.length]
        try:
            return AESGCM(key).decrypt(
                header.nonce, sealed[header.length :], head + associated_data
            )
        except InvalidTag as exc:
            # One answer for tampering and for a blob that belongs to another
            # record: GCM cannot tell them apart, and neither should a caller.
            raise BlobIntegrityError("blob does not open with this record's binding") from exc


def keyring_path(settings: Settings) -> Path:
    return settings.keys_dir / KEYRING_FILE


def new_key_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def _new_key() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def _write_ring_file(path: Path, document: dict[str, object]) -> None:
    """Replace the ring file atomically with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".blob-keys-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    # Serialises creation and rotation between processes sharing a data dir
    # (`serve` and `keys init` at once), so neither loses the other's key.
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.keys_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_ring_file(path: Path) -> tuple[dict[str, object], str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BlobKeyError(f"cannot read the blob key ring {path}: {exc}") from exc
    keys = document.get("keys") if isinstance(document, dict) else None
    current = document.get("current") if isinstance(document, dict) else None
    if not isinstance(keys, dict) or not isinstance(current, str):
        raise BlobKeyError(f"{path} must hold {{'current': <key id>, 'keys': {{...}}}}")
    return keys, current


def ensure_blob_keyring(settings: Settings) -> bool:
    """Create the embedded key ring file if missing; True when one was created.

    Nothing is created when keys are configured: the operator owns them.
    """
    if settings.blob_keys:
        return False
    path = keyring_path(settings)
    if path.exists():
        return False
    with _locked(settings):
        if path.exists():
            return False
        key_id = new_key_id()
        _write_ring_file(path, {"current": key_id, "keys": {key_id: _new_key()}})
    return True


def rotate_local_blob_key(settings: Settings) -> str:
    """Add a new current key to the embedded ring, keeping the old ones; its id."""
    if settings.blob_keys:
        raise BlobKeyError(
            "blob keys are configured (MINDLINKS_BLOB_KEYS): add a key there and set "
            "MINDLINKS_BLOB_CURRENT_KEY_ID to rotate"
        )
    ensure_blob_keyring(settings)
    path = keyring_path(settings)
    with _locked(settings):
        keys, _ = _read_ring_file(path)
        key_id = new_key_id()
        while key_id in keys:
            key_id = new_key_id()
        keys[key_id] = _new_key()
        _write_ring_file(path, {"current": key_id, "keys": keys})
    return key_id


def load_keyring(settings: Settings) -> KeyRing:
    """The ring from settings, else (development only) the embedded file."""
    if settings.blob_keys:
        try:
            encoded = json.loads(settings.blob_keys)
        except ValueError as exc:
            raise BlobKeyError("MINDLINKS_BLOB_KEYS is not valid JSON") from exc
        if not isinstance(encoded, dict):
            raise BlobKeyError("MINDLINKS_BLOB_KEYS must be a JSON object {key id: base64 key}")
        return KeyRing.from_mapping(encoded, settings.blob_current_key_id)
    if not settings.is_development:
        raise BlobKeyError("MINDLINKS_BLOB_KEYS must hold the document encryption key ring")
    ensure_blob_keyring(settings)
    keys, current = _read_ring_file(keyring_path(settings))
    return KeyRing.from_mapping(keys, settings.blob_current_key_id or current)
