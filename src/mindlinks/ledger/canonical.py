"""The bytes of a ledger entry: RFC 8785 (JCS) JSON with integers only.

Writing: `check_payload` refuses whatever has no single canonical form or no plain
JSON meaning (floats, NaN, integers beyond ±(2^53-1), tuples, bytes, non-str keys,
lone surrogates); `encode_entry` serializes the entry object.

Appending: `encode_payload` serializes a payload once, when it is queued, and
`entry_parts` / `assemble_entry` build the entry around those bytes when it gets
its seq. An RFC 8785 object is its members sorted by key with each value encoded
on its own, and the entry's keys sort as actor, kind, payload, prev_hash,
recorded_at, seq, subject, so the entry is a fixed head (actor, kind, payload),
the prev_hash and recorded_at text, the seq, and a fixed tail (subject): the
same bytes `encode_entry` gives for the whole object, without re-encoding the
payload.

The C `json` encoder (sort_keys, no spaces, ensure_ascii=False) gives exactly the
RFC 8785 bytes for str, int, bool, None, list and dict values whose object keys
are ASCII and whose integers are within ±(2^53-1): strings are escaped the same
way (quote and backslash, the short escapes, the other control characters as a
lower-case `u00xx` escape, everything else literal), integers print the same, and
ASCII keys sort the same by code point as by UTF-16 unit. Anything else (non-ASCII
keys, subclasses of the JSON types) goes through `rfc8785`.

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
_json_string = json.encoder.encode_basestring  # ensure_ascii=False's string escaping


def _not_plain(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not plain JSON")


# The C encoder `_encode` builds for each call, built once: no circular-reference
# markers (`_plain` bounds the depth first), sorted keys, no spaces, no NaN.
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode_plain = (
    _make_encoder(None, _not_plain, _json_string, None, ":", ",", True, False, False)
    if _make_encoder is not None
    else None
)


def format_recorded_at(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and `Z`: `2026-11-29T10:00:00.000000Z`."""
    if moment.tzinfo is UTC:  # the clock's own: formatted directly, at half the cost
        return _RFC3339_UTC % (
            moment.year,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
            moment.second,
            moment.microsecond,
        )
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not recorded; use platform.clock.now()")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


_RFC3339_UTC = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


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


def _plain(value: Any, depth: int) -> bool:
    """Whether the C encoder's output is this value's RFC 8785 form; False sends the
    value to `check_payload` (which names what is wrong) and `rfc8785`."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if depth >= MAX_DEPTH:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            item_kind = type(item)  # scalars inline: most payloads are flat
            if item_kind is str or item_kind is bool or item is None:
                continue
            if item_kind is int:
                if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                    continue
                return False
            if not _plain(item, depth + 1):
                return False
        return True
    if kind is list:
        return all(_plain(item, depth + 1) for item in value)
    return False


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The RFC 8785 bytes of a payload object, refusing what `check_payload` refuses."""
    if type(payload) is dict and _plain(payload, 0):
        try:
            if _encode_plain is not None:
                return "".join(_encode_plain(payload, 0)).encode("utf-8")
            return _encode(payload).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: check_payload names it below
    value = dict(payload)
    check_payload(value)
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise LedgerPayloadNotCanonical(str(exc)) from exc


def entry_parts(kind: str, subject: str, actor: str, payload: bytes) -> tuple[bytes, bytes]:
    """The seq-independent head and tail of an entry's bytes (see `assemble_entry`)."""
    start = f'{{"actor":{_json_string(actor)},"kind":{_json_string(kind)},"payload":'
    end = f',"subject":{_json_string(subject)}}}'
    return start.encode("utf-8") + payload + b',"prev_hash":"', end.encode("utf-8")


ENTRY_OVERHEAD = len(b'","recorded_at":"2026-11-29T10:30:00.000005Z","seq":') + 64 + 16
"""What `assemble_entry` adds to head + tail at most: prev_hash, recorded_at, a seq
of up to 16 digits (below 2^53, like every RFC 8785 integer). Appends check
head + tail + this against MAX_ENTRY_BYTES before queuing, so an entry never fails
later, at its seq."""


def assemble_entry(head: bytes, prev_hash: bytes, recorded_at: str, seq: int, tail: bytes) -> bytes:
    """The entry's RFC 8785 bytes: equal to `encode_entry(entry object)`."""
    return b"".join(
        (
            head,
            prev_hash.hex().encode("ascii"),
            b'","recorded_at":"',
            recorded_at.encode("ascii"),
            b'","seq":',
            str(seq).encode("ascii"),
            tail,
        )
    )


def check_entry_size(head: bytes, tail: bytes) -> None:
    size = len(head) + len(tail) + ENTRY_OVERHEAD
    if size > MAX_ENTRY_BYTES:
        raise LedgerEntryInvalid(
            f"entry would be up to {size} bytes; the limit is {MAX_ENTRY_BYTES}"
        )


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
