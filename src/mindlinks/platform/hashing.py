"""Hashes of secrets that are stored so they can be looked up but not reused."""

from __future__ import annotations

import hashlib


def token_hash(token: str) -> str:
    # Tokens carry 256 bits of entropy, so a fast hash is enough: no dictionary
    # attack is possible, and a lookup by hash stays one indexed query.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
