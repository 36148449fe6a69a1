"""The entry checks of `verify_ledger`, over values as the database driver returns them.

A row is `(seq, kind, subject, actor, recorded_at, entry_bytes, leaf_hash,
prev_hash)`; `recorded_at` is whatever the driver gives (an integer from
PostgreSQL, see `stamp_pg_micros`; SQLite's text) and a `Stamp` turns it into the
RFC 3339 text the entry must carry, exactly as the column type would read it.

`check_chunk` answers, for entries `start .. start+count-1` that must chain to the
leaf hash `prev`, the leaf hashes of the entries that passed and the first problem.
Two ways, one verdict:

- `exact_chunk` is the reference: entry by entry in seq order, stopping at the
  first bad one, it checks that the seq is the next one, that the bytes are a JSON
  object in RFC 8785 form (`canonical.parse_canonical`), that SHA-256(0x00 ‖ bytes)
  is the stored leaf hash, that the prev_hash column is the previous leaf hash, and
  that seq, prev_hash, kind, subject, actor and recorded_at inside the bytes agree
  with the columns. Parsing and re-serializing each entry takes about 15 times as
  long as hashing it, so it only runs where the fast way cannot vouch for a chunk.
- `fast_chunk` vouches for a whole chunk (given by column, `columns_of`, with
  kind, subject and actor as UTF-8 bytes) or declines (None), and then the
  reference runs on it, so every problem is named by the reference. The seqs, the
  leaf hashes and the chain are compared for the whole chunk at once.
  The fields: RFC 8785 sorts the keys, so an entry is always
  `{"actor":A,"kind":K,"payload":{P},"prev_hash":H,"recorded_at":R,"seq":N,
  "subject":S}`; with the column texts printable ASCII without `"` or `\\`, their
  JSON form is the text in quotes, so each entry must equal that template filled
  with its columns, the hex of its stored prev_hash and the P cut out of its bytes.
  That one comparison proves every field and every byte outside P. What remains is
  that each `{P}` is an object in RFC 8785 form. The chunk's payloads, joined with
  `,`, make one JSON array, which must be ASCII (anything else goes to the
  reference, whose non-ASCII path uses `rfc8785`). Flat objects (scalar values,
  no escapes, spaces only inside strings) are proven canonical without
  re-serializing them (`flat_objects_canonical`): if the array is canonical and
  holds exactly count-1 `},{` (each joint is one, and so is each joint between the
  elements of a canonical array of objects), its elements are the payloads, each
  canonical. Others are parsed as one array and re-serialized element by element
  with the C encoder, each compared with its payload (`objects_canonical`).
  Whatever the fast way accepts, the reference accepts too
  (tests/ledger/test_integrity_chunks.py checks that with hypothesis).
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import re
from binascii import hexlify
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import chain, repeat
from typing import Any

from pydantic_core import from_json

from mindlinks.ledger.canonical import NotCanonical, format_recorded_at, parse_canonical

Row = Sequence[Any]
"""(seq, kind, subject, actor, recorded_at, entry_bytes, leaf_hash, prev_hash)"""
Columns = tuple[
    Sequence[int],
    Sequence[bytes],
    Sequence[bytes],
    Sequence[bytes],
    Sequence[Any],
    Sequence[bytes],
    bytes,
    bytes,
]
"""A chunk by column: seq, kind, subject, actor, recorded_at and entry_bytes, in seq
order, then the leaf_hash and prev_hash columns concatenated. kind, subject and actor
are the UTF-8 of the column texts (`columns_of`)."""
Stamp = Callable[[Any], str | None]
"""The RFC 3339 text of a recorded_at value as the driver returns it, None if it
is not a time at all."""
Problem = tuple[int, str]

REQUIRED_FIELDS = frozenset(
    {"seq", "kind", "subject", "actor", "recorded_at", "payload", "prev_hash"}
)
_sha256 = hashlib.sha256
_LEAF_PREFIX = hashlib.sha256(b"\x00")

# -- recorded_at ------------------------------------------------------------------------


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_INFINITY = (2**63 - 1, -(2**63))


_DAY_MICROS = 86_400_000_000


@lru_cache(maxsize=4096)
def _pg_date(days: int) -> str | None:
    """The date `days` after 2000-01-01 as RFC 3339 writes it, None outside years
    1-9999 (a pure function of the number: entries of one day share it)."""
    try:
        return format_recorded_at(_PG_EPOCH + timedelta(days=days))[:10]
    except OverflowError:
        return None


def stamp_pg_micros(value: Any) -> str | None:
    """PostgreSQL: a timestamptz read in binary as its integer, microseconds since
    2000-01-01 UTC (a datetime with its time zone costs more to build than hashing
    the entry). The text is `format_recorded_at` of that moment, its date and time
    of day taken apart with integer arithmetic (it is one call per entry where
    entries were appended one by one)."""
    if type(value) is not int or value in _PG_INFINITY:
        return None
    days, micros = divmod(value, _DAY_MICROS)
    date = _pg_date(days)
    if date is None:
        return None
    seconds, fraction = divmod(micros, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    # %-formatting: about 40 % less than an f-string with format specifications
    return "%sT%02d:%02d:%02d.%06dZ" % (date, hour, minute, second, fraction)  # noqa: UP031


def stamp_sqlite_text(value: Any) -> str | None:
    """SQLite keeps the text SQLAlchemy wrote; read it back the way its DateTime does
    (`datetime.fromisoformat`), then as `UTCDateTime` does (naive means UTC), and
    give `format_recorded_at` of that moment.

    The text written is `YYYY-MM-DD HH:MM:SS.ffffff`, perhaps with `+00:00`. When
    `fromisoformat` read it as that (six fraction digits, a space and a point where
    they belong, UTC or naive), the RFC 3339 text has the same digits: it is cut
    from the value instead of formatted (a third of the cost, which counts where
    every entry has a time of its own)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        size = len(value)
        if (
            (size == 26 and moment.tzinfo is None)
            or (size == 32 and moment.tzinfo is UTC and value[26:] == "+00:00")
        ) and (
            value[10] == " " and value[19] == "." and value.isascii() and value[20:26].isdigit()
        ):
            return value[:10] + "T" + value[11:26] + "Z"
    else:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    try:
        return format_recorded_at(moment)
    except OverflowError:  # an offset that moves it out of years 1-9999: not a time
        return None


# -- the reference ----------------------------------------------------------------------


def as_bytes(value: Any) -> bytes | None:
    """A BLOB as bytes; text as its UTF-8 (SQLite stores text in a BLOB column if told
    to); None for anything else SQLite's dynamic typing lets a column hold."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return None


def field_problem(value: dict[str, Any], seq: int, prev_hex: str) -> str:
    missing = sorted(REQUIRED_FIELDS - value.keys())
    if missing:
        return f"the entry object lacks {', '.join(missing)}"
    if type(value["seq"]) is not int or value["seq"] != seq:
        return f"its bytes say seq {value['seq']!r}"
    if value.get("prev_hash") != prev_hex:
        return "its prev_hash is not the previous entry's leaf hash"
    if not isinstance(value["payload"], dict):
        return "its payload is not a JSON object"
    return "its kind, subject, actor or recorded_at differ from the columns"


def exact_chunk(
    rows: Sequence[Row], start: int, count: int, prev: bytes, stamp: Stamp
) -> tuple[list[bytes], Problem | None]:
    leaves: list[bytes] = []
    expected = start
    prev_hex = prev.hex()
    for seq, kind, subject, actor, recorded_at, raw_value, stored_leaf, stored_prev in rows:
        if seq != expected:
            return leaves, (expected, f"entry {expected} is missing (the next stored is {seq})")
        raw = as_bytes(raw_value)
        if raw is None:
            return leaves, (seq, f"entry {seq}: its bytes are not a BLOB")
        try:
            value = parse_canonical(raw)
        except NotCanonical as exc:
            return leaves, (seq, f"entry {seq}: {exc}")
        leaf = _sha256(b"\x00" + raw).digest()
        if leaf != as_bytes(stored_leaf):
            return leaves, (seq, f"entry {seq}: its bytes do not hash to the stored leaf hash")
        if as_bytes(stored_prev) != prev:
            return leaves, (
                seq,
                f"entry {seq}: prev_hash column is not entry {seq - 1}'s leaf hash",
            )
        s = value.get("seq")
        if not (
            type(s) is int
            and s == seq
            and value.get("prev_hash") == prev_hex
            and value.get("kind") == kind
            and value.get("subject") == subject
            and value.get("actor") == actor
            and value.get("recorded_at") == stamp(recorded_at)
            and isinstance(value.get("payload"), dict)
            and value.keys() >= REQUIRED_FIELDS
        ):
            return leaves, (seq, f"entry {seq}: " + field_problem(value, seq, prev_hex))
        leaves.append(leaf)
        prev, prev_hex, expected = leaf, leaf.hex(), expected + 1
    if len(rows) < count:
        return leaves, (expected, f"entry {expected} is missing")
    return leaves, None


# -- the fast way -----------------------------------------------------------------------

_TEMPLATE = (
    b'{"actor":"%s","kind":"%s","payload":{%s},"prev_hash":"%s","recorded_at":"%s",'
    b'"seq":%d,"subject":"%s"}'
)
_HEAD = len(b'{"actor":"","kind":"","payload":{')
_TAIL = len(b'},"prev_hash":"","recorded_at":"","seq":,"subject":""}') + 64
_ASCII_PRINTABLE = bytes(range(0x20, 0x7F))
_PLAIN_TEXT = _ASCII_PRINTABLE.replace(b'"', b"").replace(b"\\", b"")
_FLAT_TEXT = _ASCII_PRINTABLE.replace(b" ", b"").replace(b"\\", b"")
"""What a payload document may hold for `flat_objects_canonical`."""
_JSON_TYPES = {str, int, bool, type(None)}
_LONG_NUMBER = re.compile(rb"[:,\[]-?[0-9]{16}")
"""An integer beyond ±(2^53-1) has 16+ digits after one of these (or its sign)."""
_LONG_MEMBER = re.compile(rb":-?[0-9]{16}")
"""The same in flat objects, where numbers only follow a colon (a faster search)."""


def _no_float(token: str) -> Any:
    raise ValueError(f"number {token} is not an integer")


_decode = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float).decode

_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    # markers=None: no cycle check (parsed JSON has no cycles); sort_keys, no spaces,
    # ensure_ascii=False, allow_nan=False: `canonical._encode`'s settings.
    _c_encoder = _c_make_encoder(
        None, None, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )

    def _encode_all(values: list[Any]) -> list[str]:
        return list(map("".join, map(_c_encoder, values, repeat(0))))

else:  # pragma: no cover - CPython always has the C accelerator
    _encode = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode

    def _encode_all(values: list[Any]) -> list[str]:
        return list(map(_encode, values))


def _joined(values: Sequence[Any]) -> bytes:
    """A column of hashes concatenated; empty if one is not bytes (SQLite may hold
    anything there), so that the fast check declines and the reference names it."""
    try:
        return b"".join(values)
    except TypeError:
        return b""


def columns_of(rows: Sequence[Row], *, encode_names: bool) -> Columns | None:
    """The rows transposed for `fast_chunk`, None where the fast check cannot take
    them. `encode_names`: kind, subject and actor are str (SQLite's) and become their
    UTF-8, which fails for anything but text; otherwise they are the bytes the driver
    read from text columns (PostgreSQL, see `verify_range.Source`)."""
    if not rows:
        return None
    seqs, kinds, subjects, actors, recorded, raws, leaves, prevs = zip(*rows, strict=True)
    if encode_names:
        try:
            kinds = tuple(map(str.encode, kinds))
            subjects = tuple(map(str.encode, subjects))
            actors = tuple(map(str.encode, actors))
        except (TypeError, UnicodeError):
            return None
    return seqs, kinds, subjects, actors, recorded, raws, _joined(leaves), _joined(prevs)


def _stamps(values: Sequence[Any], stamp: Stamp) -> list[bytes] | None:
    # Entries appended together share one recorded_at: format each run once.
    out: list[bytes] = []
    last: Any = _stamps
    text = b""
    for value in values:
        if value != last:
            formatted = stamp(value)
            if formatted is None or not formatted.isascii():
                return None
            last, text = value, formatted.encode("ascii")
        out.append(text)
    return out


def spaces_in_strings_only(document: bytes) -> bool:
    """Whether every space of a JSON text without a backslash is inside a string.

    Without escapes every `"` opens or closes a string, so the pieces between quotes
    alternate outside, inside, outside, ... (if the text is not JSON at all, the parse
    that follows refuses it). A space inside a string is its own canonical spelling,
    one outside is not canonical."""
    return b" " not in b"".join(document.split(b'"')[::2])


def flat_objects_canonical(document: bytes, count: int) -> bool:
    """Whether `document` is the RFC 8785 form of a JSON array of `count` objects
    whose values are strings, integers, booleans or null (False also for anything
    else: the caller then looks closer), given what the caller made sure of: it is
    printable ASCII without a backslash, `:-0`, or 16 digits after a colon, and its
    spaces are inside strings (`spaces_in_strings_only`).

    Nothing is re-serialized. The parse is strict JSON (`pydantic_core.from_json`);
    with no whitespace and no escapes every string and literal has one spelling, and
    so has an integer without a `-0` (a leading zero or a `+` is not JSON, a fraction
    or exponent parses to a float, which is refused, as are nested values). What is
    left is the members. Without a backslash every `"` opens or closes a string, so
    each key of the text is followed by its own `":`; exactly as many `":` as keys
    parsed mean no member was a duplicate dropped by the parse (a string value that
    starts with `:` adds one more: refused, to be safe). And the keys of each object
    must already be sorted (by code point, which is UTF-16 order for ASCII)."""
    values = from_json(document, allow_inf_nan=False, cache_strings="keys")
    if type(values) is not list or len(values) != count or set(map(type, values)) != {dict}:
        return False
    if not set(map(type, chain.from_iterable(map(dict.values, values)))) <= _JSON_TYPES:
        return False
    if any(list(keys) != sorted(keys) for keys in set(map(tuple, values))):
        return False
    return document.count(b'":') == sum(map(len, values))


def objects_canonical(document: bytes, payloads: list[bytes]) -> bool:
    """The general case: parse the array, re-serialize each element, compare each with
    its payload (which also proves that the elements are the payloads, whatever the
    array's text holds between them)."""
    values = _decode(document.decode("ascii"))
    if len(values) != len(payloads) or set(map(type, values)) != {dict}:
        return False
    return list(map(str.encode, _encode_all(values))) == payloads


def fast_chunk(
    columns: Columns | None, start: int, count: int, prev: bytes, stamp: Stamp
) -> list[bytes] | None:
    """The leaf hashes of the chunk if it is sound throughout, else None (undecided)."""
    if columns is None:
        return None
    try:
        return _fast_chunk(columns, start, count, prev, stamp)
    except (TypeError, ValueError, UnicodeError, RecursionError):
        return None  # odd values (a text leaf hash, a float, deep nesting): undecided


def _fast_chunk(
    columns: Columns, start: int, count: int, prev: bytes, stamp: Stamp
) -> list[bytes] | None:
    seqs, kinds, subjects, actors, recorded, raws, leaf_hashes, prev_hashes = columns
    if count == 0 or len(raws) != count or list(seqs) != list(range(start, start + count)):
        return None
    # A copy of a hash already fed 0x00 costs less than a new hash of 0x00 ‖ bytes.
    fresh = _LEAF_PREFIX.copy
    leaves: list[bytes] = []
    keep_leaf = leaves.append
    for raw in raws:
        h = fresh()
        h.update(raw)
        keep_leaf(h.digest())
    chained = b"".join(leaves)
    before = prev + chained[:-32]
    if leaf_hashes != chained or prev_hashes != before:
        return None

    names = b"".join(kinds) + b"".join(subjects) + b"".join(actors)
    if names.translate(None, _PLAIN_TEXT):
        return None
    stamps = _stamps(recorded, stamp)
    if stamps is None:
        return None
    hexes = hexlify(before)

    template, head, tail = _TEMPLATE, _HEAD, _TAIL
    inner: list[bytes] = []
    keep = inner.append
    at = 0
    for raw, seq, kind, subject, actor, recorded_text in zip(
        raws, seqs, kinds, subjects, actors, stamps, strict=True
    ):
        # Cut from the end (no len(raw)); a cut that does not fit makes the
        # comparison fail, as anything else that differs does.
        payload = raw[
            head + len(actor) + len(kind) : -(
                tail + len(recorded_text) + len(subject) + len(str(seq))
            )
        ]
        if (
            template % (actor, kind, payload, hexes[at : at + 64], recorded_text, seq, subject)
            != raw
        ):
            return None
        at += 64
        keep(payload)

    # Each payload is `{` + inner + `}`; joined with `},{` the chunk's payloads make
    # one JSON array. In its canonical form every element is an object, so the
    # elements are separated by `},{`; when the array is canonical and holds no other
    # `},{`, its elements are exactly the payloads, each in canonical form. (The
    # general way below compares each element with its payload instead, so payloads
    # holding `},{` themselves, such as arrays of objects, can take it.)
    document = b"[{" + b"},{".join(inner) + b"}]"
    # One pass finds what keeps the array off the flat way: backslashes, spaces outside
    # strings, and what no canonical entry holds (control characters, DEL, non-ASCII).
    odd = document.translate(None, _FLAT_TEXT)
    if (
        (not odd or (not odd.translate(None, b" ") and spaces_in_strings_only(document)))
        and document.count(b"},{") == count - 1
        and b":-0" not in document
        and not _LONG_MEMBER.search(document)
        and flat_objects_canonical(document, count)
    ):
        return leaves
    if odd.translate(None, _ASCII_PRINTABLE):
        return None  # non-ASCII goes to the reference, whose non-ASCII path uses rfc8785
    if _LONG_NUMBER.search(document):
        return None  # perhaps beyond ±(2^53-1): the reference checks its range
    payloads = [b"{" + part + b"}" for part in inner]
    return leaves if objects_canonical(document, payloads) else None


def check_chunk(
    columns: Columns | None,
    rows: Sequence[Row],
    start: int,
    count: int,
    prev: bytes,
    stamp: Stamp,
) -> tuple[list[bytes], Problem | None]:
    """The leaf hashes of the entries that passed, in order, and the first problem,
    for the chunk's rows in seq order and the same by column."""
    leaves = fast_chunk(columns, start, count, prev, stamp)
    if leaves is not None:
        return leaves, None
    return exact_chunk(rows, start, count, prev, stamp)
