"""Local key material for the embedded mode (`mindlinks keys init`).

Production points settings at keys it manages itself; the embedded mode keeps
them under `<data dir>/keys`, created on first use with owner-only permissions.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mindlinks.config import Settings

TOKEN_KEY_FILE = "token-signing-ed25519.pem"  # noqa: S105
WEBHOOK_SECRETS_FILE = "webhook-secrets.json"
DEV_WEBHOOK_PROVIDERS = ("kyc-sandbox", "payments-sandbox")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def token_key_path(settings: Settings) -> Path:
    return settings.token_signing_key_path or settings.keys_dir / TOKEN_KEY_FILE


def ensure_token_signing_key(settings: Settings) -> bool:
    """Create the token signing key if missing; True when one was created."""
    path = token_key_path(settings)
    if path.exists():
        return False
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        _write_private(path, pem)
    except FileExistsError:
        return False
    return True


def load_token_signing_key(settings: Settings) -> SigningKey:
    path = token_key_path(settings)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return SigningKey(kid=key_id(key.public_key()), private_key=key)


def ensure_webhook_secrets(settings: Settings) -> bool:
    path = settings.keys_dir / WEBHOOK_SECRETS_FILE
    if path.exists():
        return False
    secrets_map = {name: secrets.token_hex(32) for name in DEV_WEBHOOK_PROVIDERS}
    try:
        _write_private(path, json.dumps(secrets_map, indent=2).encode())
    except FileExistsError:
        return False
    return True


def init_keys(settings: Settings) -> list[str]:
    """Create every missing local key; answer the names of those created."""
    created = []
    if ensure_token_signing_key(settings):
        created.append("token signing key")
    if ensure_webhook_secrets(settings):
        created.append("development webhook secrets")
    from mindlinks.ledger.keys import ensure_ledger_key

    if ensure_ledger_key(settings):
        created.append("ledger signing key")
    from mindlinks.platform.blobs.keyring import ensure_blob_keyring

    if ensure_blob_keyring(settings):
        created.append("blob encryption key ring")
    from mindlinks.esign.pki import ensure_local_signing_ca

    if ensure_local_signing_ca(settings):
        created.append("local signing CA and platform seal certificate")
    return created
