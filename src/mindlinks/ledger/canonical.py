"""The bytes of a ledger entry: RFC 8785 (JCS) JSON with integers only.

Writing: `check_payload` refuses whatever has no single canonical form or no plain
JSON meaning (floats, NaN, integers beyond ±(2^53-1), tuples, bytes, non-str keys,
lone surrogates); `encode_entry` serializes the entry object.

Reading: `parse_canonical` insists that stored bytes are exactly the RFC 8785 form
of a float-free JSON object with integers within ±(2^53-1). It round-trips through
the C `json` module, whose output equals RFC 8785's for ASCII text without floats
(sorting by code point and by UTF-16 unit agree on ASCII; both escape the same
characters the same way); non-ASCII text is checked with `rfc8785` itself.
`encode_entry` takes the same fast path when its output is ASCII.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import rfc8785

from mindlinks.ledger.errors import LedgerEntryInvalid, LedgerPayloadNotCanonical

GENESIS_PREV_HASH = bytes(32)
"""`prev_hash` of entry 0: 32 zero bytes (64 hex zeros in the entry)."""
MAX_ENTRY_BYTES = 64 * 1024
MAX_SAFE_INTEGER = 2**53 - 1  # RFC 8785 numbers are IEEE 754 doubles
MAX_DEPTH = 32


class NotCanonical(ValueError):
    """Stored bytes that are not one float-free JSON object in RFC 8785 form."""


def _no_float(token: str) -> Any:
    raise NotCanonical(f"number {token} is not an integer")


def _safe_int(token: str) -> int:
    value = int(token)
    if len(token) > 15 and not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise NotCanonical(f"integer {token} is outside ±(2^53-1)")
    return value


_decode = json.JSONDecoder(
    parse_float=_no_float, parse_int=_safe_int, parse_constant=_no_float
).decode
_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def format_recorded_at(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and `Z`: `2026-11-29T10:00:00.000000Z`."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not recorded; use platform.clock.now()")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def check_payload(value: Any, path: str = "payload", depth: int = 0) -> None:
    """Refuse anything that has no single RFC 8785 form or no plain JSON meaning."""
    if depth > MAX_DEPTH:
        raise LedgerPayloadNotCanonical(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _check_text(value, path)
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise LedgerPayloadNotCanonical(
                f"{path}: {value} is outside ±(2^53-1); store it as a string"
            )
        return
    if isinstance(value, float):
        raise LedgerPayloadNotCanonical(
            f"{path}: floats are not allowed in the ledger ({value!r}); "
            "use integers (e.g. minor units) or strings"
        )
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_payload(item, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise LedgerPayloadNotCanonical(f"{path}: object keys must be strings, not {key!r}")
            _check_text(key, f"{path} key {key!r}")
            check_payload(item, f"{path}.{key}", depth + 1)
        return
    raise LedgerPayloadNotCanonical(
        f"{path}: {type(value).__name__} is not JSON (use str, int, bool, None, list, dict)"
    )


def _check_text(value: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LedgerPayloadNotCanonical(f"{path}: not valid Unicode (lone surrogate)") from exc


def encode_entry(obj: Mapping[str, Any]) -> bytes:
    """The RFC 8785 bytes of an entry object whose payload passed `check_payload`."""
    text = _encode(obj)
    if text.isascii():  # the C encoder's output is the RFC 8785 form here
        data = text.encode("ascii")
    else:
        try:
            data = rfc8785.dumps(dict(obj))
        except rfc8785.CanonicalizationError as exc:
            raise LedgerPayloadNotCanonical(str(exc)) from exc
    if len(data) > MAX_ENTRY_BYTES:
        raise LedgerEntryInvalid(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_BYTES}")
    return data


def parse_canonical(raw: bytes) -> dict[str, Any]:
    """Parse entry bytes, insisting they are the RFC 8785 form of a JSON object."""
    try:
        text = raw.decode("utf-8")
        value = _decode(text)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise NotCanonical(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise NotCanonical("not a JSON object")
    if raw.isascii():
        same = _encode(value) == text
    else:
        try:
            same = rfc8785.dumps(value) == raw
        except rfc8785.CanonicalizationError as exc:
            raise NotCanonical(str(exc)) from exc
    if not same:
        raise NotCanonical("not in RFC 8785 canonical form")
    return value
