"""Encryption at rest of what a verification holds: the document number and the images.

Both go through the blob key ring (AES-256-GCM, key ids, rotation), and each
ciphertext is bound by its associated data to the record it belongs to, so a value
copied onto another session or another side fails to open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from mindlinks.platform.blobs.keyring import KeyRing, load_keyring

if TYPE_CHECKING:
    from mindlinks.platform.context import AppContext

KEYRING_EXTRA: Final = "kyc.keyring"


def keyring_for(ctx: AppContext) -> KeyRing:
    """The blob key ring, read once per app context."""
    ring = ctx.extras.get(KEYRING_EXTRA)
    if not isinstance(ring, KeyRing):
        ring = ctx.extras.setdefault(KEYRING_EXTRA, load_keyring(ctx.settings))
    return ring


def document_number_binding(session_id: str) -> bytes:
    return f"kyc_sessions/{session_id}/document_number".encode()


def client_token_binding(session_id: str) -> bytes:
    return f"kyc_sessions/{session_id}/client_token".encode()


def image_binding(session_id: str, side: str) -> bytes:
    return f"kyc_documents/{session_id}/{side}".encode()


def image_key(session_id: str, side: str, document_id: str) -> str:
    # A fresh id per upload: blob keys are never reused.
    return f"kyc/{session_id}/{side}-{document_id}"


def seal_text(ring: KeyRing, value: str, binding: bytes) -> bytes:
    return bytes(ring.seal(value.encode("utf-8"), binding))


def open_text(ring: KeyRing, sealed: bytes, binding: bytes) -> str:
    return ring.open(sealed, binding).decode("utf-8")
