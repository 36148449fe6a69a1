"""The ledger's Ed25519 checkpoint key, its rotation, and every public key ever used.

Embedded mode keeps the key under `<keys dir>/ledger/` (created by `mindlinks keys
init`, owner-only): `ledger-ed25519.pem` is the active private key (PKCS#8 PEM), and
`retired/<key id>-<fingerprint>.json` holds the public-key document of each key a
rotation retired, so checkpoints signed before a rotation still verify.

A configured key wins over the embedded one, and production requires one:
`MINDLINKS_LEDGER_KEY_PATH` (a PKCS#8 PEM file) or `MINDLINKS_LEDGER_PRIVATE_KEY`
(base64 of the 32-byte Ed25519 seed, or a PEM text). The operator then rotates by
configuring a new key and listing the old public-key documents in
`MINDLINKS_LEDGER_PUBLIC_KEYS_PATH` (a JSON list); `rotate_ledger_key` refuses.

The key name is `settings.ledger_origin` (the checkpoint origin), and the key id is
the C2SP signed-note key hash in hex (see `note.py`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mindlinks.config import Settings
from mindlinks.ledger import note, verifier

LEDGER_KEYS_DIR = "ledger"
ACTIVE_KEY_FILE = "ledger-ed25519.pem"
RETIRED_DIR = "retired"
LOCK_FILE = ".rotate.lock"


class LedgerKeyError(RuntimeError):
    """The ledger key is missing, unreadable, or cannot be changed this way."""


@dataclass(frozen=True)
class LedgerPublicKey:
    key_name: str
    public_key: bytes
    retired_at: str | None = None

    @property
    def key_id(self) -> str:
        return note.key_id(self.key_name, self.public_key)

    @property
    def vkey(self) -> str:
        return note.vkey(self.key_name, self.public_key)


@dataclass(frozen=True)
class LedgerSigningKey:
    key_name: str
    private_key: Ed25519PrivateKey

    @property
    def public(self) -> LedgerPublicKey:
        return LedgerPublicKey(self.key_name, note.raw_public_key(self.private_key.public_key()))

    @property
    def key_id(self) -> str:
        return self.public.key_id


@dataclass(frozen=True)
class LedgerKeyRing:
    """The signing key and all public keys ever used (active first, then retired)."""

    active: LedgerSigningKey
    public_keys: tuple[LedgerPublicKey, ...]

    @property
    def vkeys(self) -> list[str]:
        return [key.vkey for key in self.public_keys]

    @property
    def retired(self) -> tuple[LedgerPublicKey, ...]:
        return self.public_keys[1:]

    def find(self, key_id: str) -> LedgerPublicKey | None:
        return next((key for key in self.public_keys if key.key_id == key_id), None)

    def documents(self) -> list[dict[str, str]]:
        return [public_key_document(key) for key in self.public_keys]


def public_key_document(key: LedgerPublicKey | LedgerSigningKey) -> dict[str, str]:
    """API.md's GET /api/ledger/public-key: key_id, algorithm, key_name, public_key, vkey."""
    public = key.public if isinstance(key, LedgerSigningKey) else key
    return {
        "key_id": public.key_id,
        "algorithm": "Ed25519",
        "key_name": public.key_name,
        "public_key": base64.b64encode(public.public_key).decode("ascii"),
        "vkey": public.vkey,
    }


def public_key_from_document(document: Any) -> LedgerPublicKey:
    """Parse and cross-check a public-key document (vkey, key_id, key_name, public_key)."""
    try:
        (vkey,) = verifier.trusted_vkeys_from_document(document)
        parsed = verifier.parse_vkey(vkey)
    except (verifier.VerificationFailed, ValueError) as exc:
        raise LedgerKeyError(f"bad ledger public-key document: {exc}") from None
    retired_at = document.get("retired_at")
    return LedgerPublicKey(
        parsed.name, parsed.public_key, retired_at if isinstance(retired_at, str) else None
    )


def ledger_keys_dir(settings: Settings) -> Path:
    return settings.keys_dir / LEDGER_KEYS_DIR


def active_key_path(settings: Settings) -> Path:
    return ledger_keys_dir(settings) / ACTIVE_KEY_FILE


def _configured_private_key(settings: Settings) -> Ed25519PrivateKey | None:
    path, secret = settings.ledger_key_path, settings.ledger_private_key
    if path and secret:
        raise LedgerKeyError("set MINDLINKS_LEDGER_KEY_PATH or MINDLINKS_LEDGER_PRIVATE_KEY")
    if path:
        try:
            return _load_pem(Path(path).read_bytes(), str(path))
        except OSError as exc:
            raise LedgerKeyError(f"cannot read the ledger key {path}: {exc}") from None
    if secret:
        if secret.lstrip().startswith("-----BEGIN"):
            return _load_pem(secret.encode("utf-8"), "MINDLINKS_LEDGER_PRIVATE_KEY")
        try:
            seed = base64.b64decode(secret.strip(), validate=True)
            return Ed25519PrivateKey.from_private_bytes(seed)
        except ValueError:
            raise LedgerKeyError(
                "MINDLINKS_LEDGER_PRIVATE_KEY is not base64 of a 32-byte Ed25519 seed"
            ) from None
    return None


def _load_pem(data: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise LedgerKeyError(f"{where} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise LedgerKeyError(f"{where} is not an Ed25519 private key")
    return key


def _is_configured(settings: Settings) -> bool:
    return bool(settings.ledger_key_path or settings.ledger_private_key)


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _make_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    _make_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def ensure_ledger_key(settings: Settings) -> bool:
    """Create the embedded ledger key if missing; True when one was created.

    Nothing is created when a key is configured, nor in production (which must
    configure one; `load_ledger_keys` says so).
    """
    if _is_configured(settings) or settings.env == "production":
        return False
    path = active_key_path(settings)
    if path.exists():
        return False
    try:
        _write_new(path, _pem(Ed25519PrivateKey.generate()), 0o600)
    except FileExistsError:
        return False
    return True


def _load_active(settings: Settings) -> Ed25519PrivateKey:
    configured = _configured_private_key(settings)
    if configured is not None:
        return configured
    if settings.env == "production":
        raise LedgerKeyError(
            "production needs MINDLINKS_LEDGER_KEY_PATH or MINDLINKS_LEDGER_PRIVATE_KEY"
        )
    path = active_key_path(settings)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LedgerKeyError(f"no ledger key at {path}; run `mindlinks keys init`") from None
    return _load_pem(data, str(path))


def _load_retired(settings: Settings) -> list[LedgerPublicKey]:
    documents: list[Any] = []
    folder = ledger_keys_dir(settings) / RETIRED_DIR
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    listed = settings.ledger_public_keys_path
    try:
        documents += [json.loads(path.read_text("utf-8")) for path in files]
        if listed:
            extra = json.loads(Path(listed).read_text("utf-8"))
            documents += extra if isinstance(extra, list) else [extra]
    except (OSError, ValueError) as exc:
        raise LedgerKeyError(f"cannot read retired ledger public keys: {exc}") from None
    keys = [public_key_from_document(doc) for doc in documents]
    return sorted(keys, key=lambda k: k.retired_at or "", reverse=True)


def load_ledger_keys(settings: Settings) -> LedgerKeyRing:
    """The active signing key (named `ledger_origin`) and every public key ever used."""
    active = LedgerSigningKey(settings.ledger_origin, _load_active(settings))
    if not verifier.valid_key_name(active.key_name):
        raise LedgerKeyError(f"ledger_origin {active.key_name!r} cannot be a key name")
    public_keys = [active.public]
    for key in _load_retired(settings):
        if all(key.vkey != known.vkey for known in public_keys):
            public_keys.append(key)
    return LedgerKeyRing(active, tuple(public_keys))


@contextlib.contextmanager
def _rotation_lock(folder: Path) -> Iterator[None]:
    _make_dir(folder)
    fd = os.open(folder / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def rotate_ledger_key(settings: Settings, *, now: datetime | None = None) -> LedgerKeyRing:
    """Retire the embedded key (its public key stays published) and activate a new one.

    The old public key is written to `retired/` before the new private key atomically
    replaces the old one, so at no point is a key that may have signed unpublished.
    """
    if _is_configured(settings) or settings.env == "production":
        raise LedgerKeyError(
            "the ledger key is configured: install a new key and list the old public key "
            "in MINDLINKS_LEDGER_PUBLIC_KEYS_PATH"
        )
    folder = ledger_keys_dir(settings)
    with _rotation_lock(folder):
        ensure_ledger_key(settings)
        old = load_ledger_keys(settings).active.public
        stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        document = public_key_document(old) | {"retired_at": stamp}
        fingerprint = hashlib.sha256(old.public_key).hexdigest()[:16]
        retired = folder / RETIRED_DIR / f"{old.key_id}-{fingerprint}.json"
        if not retired.exists():
            body = json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"
            _write_new(retired, body, 0o644)
        staged = folder / f".{ACTIVE_KEY_FILE}.{secrets.token_hex(8)}"
        _write_new(staged, _pem(Ed25519PrivateKey.generate()), 0o600)
        os.replace(staged, active_key_path(settings))
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return load_ledger_keys(settings)
