"""Identifiers: time-ordered, random, URL-safe strings."""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last = 0


def new_id() -> str:
    """A 26-char lowercase id: 48-bit millisecond time then 80 random bits.

    Ids sort by creation time, which keeps cursor pagination stable and index
    inserts local, without revealing a counter. Within one process they strictly
    increase: an id made in the same millisecond as the last one is the last one
    plus a random step, so rows written back to back keep their order.
    """
    global _last
    with _lock:
        value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
        if value <= _last:
            value = _last + 1 + secrets.randbits(32)
        _last = value
    return _encode(value)


def id_at(millis: int, random_bits: int) -> str:
    """The id `new_id` makes at `millis` (Unix milliseconds) with these 80 random bits
    (for tools that replay time, such as the benchmarks)."""
    return _encode((millis << 80) | (random_bits & ((1 << 80) - 1)))


_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_token(nbytes: int = 32) -> str:
    """An unguessable bearer secret (URL-safe base64 of `nbytes` random bytes)."""
    return secrets.token_urlsafe(nbytes)
