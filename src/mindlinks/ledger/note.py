"""Signing side of checkpoints: C2SP tlog-checkpoint bodies as C2SP signed notes.

A checkpoint note (https://c2sp.org/tlog-checkpoint, https://c2sp.org/signed-note):

    <origin>\\n<tree size>\\n<base64 root hash>\\n[extension lines\\n]
    \\n
    — <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>\\n

The signature covers the body (up to and including its final newline). Our only
extension line is `issued-at <RFC 3339 UTC time>`; extension lines are opaque to
other tooling, which reads origin, size and root only. The key name is the origin.
Key hashes, vkeys and parsing are shared with the offline verifier, so both sides
agree byte for byte.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mindlinks.ledger import verifier

EM_DASH = verifier.EM_DASH
ISSUED_AT = verifier.ISSUED_AT


def raw_public_key(public_key: Ed25519PublicKey | bytes) -> bytes:
    if isinstance(public_key, bytes):
        if len(public_key) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        return public_key
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, public_key_bytes: bytes) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || 0x01 || 32-byte public key)."""
    return verifier.key_hash(name, raw_public_key(public_key_bytes))


def key_id(name: str, public_key: Ed25519PublicKey | bytes) -> str:
    return key_hash(name, raw_public_key(public_key)).hex()


def vkey(name: str, public_key: Ed25519PublicKey | bytes) -> str:
    """`<name>+<hex key hash>+<base64(0x01 || public key)>`, as Go's sumdb/note prints it."""
    if not verifier.valid_key_name(name):
        raise ValueError(f"invalid key name {name!r}")
    return verifier.format_vkey(name, raw_public_key(public_key))


def issued_at_line(when: datetime) -> str:
    """`issued-at 2026-11-29T10:00:00Z` (UTC, whole seconds)."""
    if when.tzinfo is None:
        raise ValueError("issued-at needs an aware datetime")
    stamp = when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ISSUED_AT + stamp


def _check_line(line: str, what: str) -> None:
    if not isinstance(line, str) or line == "":
        raise ValueError(f"the {what} must be a non-empty string")
    if any(ord(c) < 0x20 for c in line):
        raise ValueError(f"the {what} must not hold newlines or control characters")


def format_checkpoint(
    origin: str, tree_size: int, root_hash: bytes, extensions: Sequence[str] = ()
) -> str:
    """The checkpoint body (note text), ending in a newline."""
    _check_line(origin, "origin")
    if type(tree_size) is not int or not 0 <= tree_size <= verifier.MAX_TREE_SIZE:
        raise ValueError("the tree size must be an integer in [0, 2^64-1]")
    if not isinstance(root_hash, bytes) or len(root_hash) != verifier.HASH_SIZE:
        raise ValueError("the root hash must be 32 bytes")
    for line in extensions:
        _check_line(line, "extension line")
    lines = [origin, str(tree_size), base64.b64encode(root_hash).decode("ascii"), *extensions]
    return "\n".join(lines) + "\n"


def signature_line(body: str, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """One `— <name> <base64(key hash || signature)>\\n` line over `body`."""
    if not verifier.valid_key_name(key_name):
        raise ValueError(f"invalid key name {key_name!r}")
    if not body.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in body):
        raise ValueError("a note body is text ending in a newline, without control characters")
    if "\n\n" in body or body.startswith("\n"):
        raise ValueError("a checkpoint body has no empty lines")
    signature = private_key.sign(body.encode("utf-8"))
    hash_ = key_hash(key_name, raw_public_key(private_key.public_key()))
    encoded = base64.b64encode(hash_ + signature).decode("ascii")
    return f"{EM_DASH} {key_name} {encoded}\n"


def sign_note(body: str, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """The full signed note: body, blank line, one Ed25519 signature line."""
    return body + "\n" + signature_line(body, key_name, private_key)


def sign_checkpoint(
    origin: str,
    tree_size: int,
    root_hash: bytes,
    private_key: Ed25519PrivateKey,
    issued_at: datetime | None = None,
) -> str:
    """A checkpoint signed under its origin as key name, with an `issued-at` line."""
    extensions = [issued_at_line(issued_at)] if issued_at is not None else []
    body = format_checkpoint(origin, tree_size, root_hash, extensions)
    return sign_note(body, origin, private_key)
