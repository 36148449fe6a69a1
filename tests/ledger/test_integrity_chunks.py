"""The entry checks of `verify_ledger` on chunks built in memory (no database).

`fast_chunk` vouches for whole chunks without parsing each entry; the reference
`exact_chunk` parses every entry. The fast way may decline (None, and the reference
runs), but whatever it accepts the reference must accept with the same leaves:
hypothesis builds sound chunks, damages them in many ways (a byte, a column, a
non-canonical but equivalent spelling, all with the hashes made to match), and
compares the two.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindlinks.ledger.canonical import GENESIS_PREV_HASH, encode_entry, format_recorded_at
from mindlinks.ledger.verify_entries import (
    check_chunk,
    columns_of,
    exact_chunk,
    fast_chunk,
    flat_objects_canonical,
    stamp_pg_micros,
    stamp_sqlite_text,
)

START = 4096
MOMENT = datetime(2026, 11, 29, 10, 30, 0, 5, tzinfo=UTC)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


@dataclass
class Chunk:
    """Rows of entries START.. as a driver returns them, SQLite-style (recorded_at as
    the text SQLAlchemy writes) or PostgreSQL-style (microseconds since 2000)."""

    rows: list[list[Any]]
    prev: bytes
    postgres: bool = False

    @property
    def stamp(self) -> Callable[[Any], str | None]:
        return stamp_pg_micros if self.postgres else stamp_sqlite_text

    def columns(self) -> Any:
        """The chunk as `verify_range.Source` gives it to the fast check: SQLite's rows
        with their names encoded, PostgreSQL's with text read as bytes (a text column
        cannot hold anything else there; what a test puts in instead reads as NULL)."""
        if not self.postgres:
            return columns_of(self.rows, encode_names=True)
        raw = [
            [row[0], *(v.encode() if isinstance(v, str) else None for v in row[1:4]), *row[4:]]
            for row in self.rows
        ]
        return columns_of(raw, encode_names=False)

    def fast(self) -> list[bytes] | None:
        return fast_chunk(self.columns(), START, len(self.rows), self.prev, self.stamp)

    def exact(self) -> tuple[list[bytes], tuple[int, str] | None]:
        return exact_chunk(self.rows, START, len(self.rows), self.prev, self.stamp)

    def checked(self) -> tuple[list[bytes], tuple[int, str] | None]:
        return check_chunk(self.columns(), self.rows, START, len(self.rows), self.prev, self.stamp)

    def rewrite(self, index: int, data: bytes) -> None:
        """New bytes for the LAST entry, with its leaf hash made to match (so only the
        bytes' form and fields can be wrong)."""
        assert index == len(self.rows) - 1
        self.rows[index][5] = data
        self.rows[index][6] = leaf(data)


def recorded_column(moment: datetime, postgres: bool) -> Any:
    if postgres:
        return (moment - PG_EPOCH) // timedelta(microseconds=1)
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def entry_object(seq: int, item: dict[str, Any], moment: datetime, prev: bytes) -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": item["kind"],
        "subject": item["subject"],
        "actor": item["actor"],
        "recorded_at": format_recorded_at(moment),
        "payload": item["payload"],
        "prev_hash": prev.hex(),
    }


def make_chunk(items: list[dict[str, Any]], *, postgres: bool = False, step_us: int = 0) -> Chunk:
    prev = bytes(range(32))  # the leaf hash of entry START - 1
    rows: list[list[Any]] = []
    before = prev
    for offset, item in enumerate(items):
        seq = START + offset
        moment = MOMENT + timedelta(microseconds=step_us * offset)
        data = encode_entry(entry_object(seq, item, moment, before))
        h = leaf(data)
        rows.append(
            [
                seq,
                item["kind"],
                item["subject"],
                item["actor"],
                recorded_column(moment, postgres),
                data,
                h,
                before,
            ]
        )
        before = h
    return Chunk(rows, prev, postgres)


def item(n: int, **payload: Any) -> dict[str, Any]:
    return {
        "kind": "contract.signed",
        "subject": f"contract:C{n}",
        "actor": "user:U1",
        "payload": payload or {"amount_minor": n, "currency": "EUR", "ok": True, "note": None},
    }


# -- sound chunks ----------------------------------------------------------------------


@pytest.mark.parametrize("postgres", [False, True])
def test_a_sound_chunk_is_vouched_for_by_the_fast_check(postgres):
    chunk = make_chunk([item(n) for n in range(50)], postgres=postgres, step_us=7)
    leaves = chunk.fast()
    assert leaves is not None
    assert leaves == [row[6] for row in chunk.rows]
    assert chunk.exact() == (leaves, None)


def test_nested_payloads_and_escapes_take_the_general_way_and_pass():
    chunk = make_chunk(
        [
            item(1, ids=["a", "b"], meta={"z": 1, "a": [None, False, -3]}),
            item(2, text='quote " and backslash \\ and tab \t', zero=0),
            item(3, spaced="a b c", negative=-12),
        ]
    )
    leaves = chunk.fast()
    assert leaves is not None and chunk.exact() == (leaves, None)


def test_spaces_inside_strings_stay_on_the_flat_way_and_pass():
    chunk = make_chunk([item(n, note=f"signed on site, page {n}", ok=True) for n in range(20)])
    leaves = chunk.fast()
    assert leaves is not None and chunk.exact() == (leaves, None)


def test_arrays_of_objects_take_the_general_way_and_pass():
    """Their `},{` would spoil the flat way's count; the general way compares each
    element with its payload instead."""
    lines = [{"qty": 2, "sku": "A-1"}, {"qty": 1, "sku": "B-7"}]
    chunk = make_chunk([item(n, lines=lines, number=n) for n in range(5)])
    leaves = chunk.fast()
    assert leaves is not None and chunk.exact() == (leaves, None)


def test_a_string_value_starting_with_a_colon_is_still_vouched_for():
    """It adds a `":` that no key made: the flat way refuses, the general way accepts."""
    document = b'[{"a":":x"}]'
    assert not flat_objects_canonical(document, 1)
    chunk = make_chunk([item(n, a=":x") for n in range(3)])
    leaves = chunk.fast()
    assert leaves is not None and chunk.exact() == (leaves, None)


def test_non_ascii_entries_are_left_to_the_reference_which_accepts_them():
    chunk = make_chunk([item(1, name="Zoë", city="Łódź", emoji="\U0001f600"), item(2)])
    assert chunk.fast() is None
    leaves, problem = chunk.checked()
    assert problem is None and len(leaves) == 2


# -- what the fast way must never accept -----------------------------------------------


def respell(data: bytes, how: str) -> bytes:
    """The same entry object in a non-canonical spelling."""
    obj = json.loads(data)
    if how == "spaces":
        return json.dumps(obj, sort_keys=True).encode()
    if how == "unsorted payload":
        obj["payload"] = dict(reversed(list(obj["payload"].items())))
        return json.dumps(obj, separators=(",", ":")).encode()
    if how == "escaped":
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        return text.replace('"EUR"', '"\\u0045UR"').encode()
    if how == "slash escape":
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        return text.replace('"EUR"', '"E\\/R"').encode()
    if how == "duplicate key":
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        return text.replace('"payload":{', '"payload":{"amount_minor":0,', 1).encode()
    if how == "minus zero":
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        return text.replace('"amount_minor":0', '"amount_minor":-0', 1).encode()
    if how == "float":
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        return text.replace('"amount_minor":0', '"amount_minor":0.0', 1).encode()
    if how == "exponent":
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        return text.replace('"amount_minor":0', '"amount_minor":0e0', 1).encode()
    if how == "huge integer":
        obj["payload"]["amount_minor"] = 2**53
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    if how == "huge negative integer":
        obj["payload"]["amount_minor"] = -(2**60)
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    if how == "trailing newline":
        return data + b"\n"
    if how == "payload not an object":
        obj["payload"] = [1, 2]
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    raise AssertionError(how)


SPELLINGS = [
    "spaces",
    "unsorted payload",
    "escaped",
    "slash escape",
    "duplicate key",
    "minus zero",
    "float",
    "exponent",
    "huge integer",
    "huge negative integer",
    "trailing newline",
    "payload not an object",
]


@pytest.mark.parametrize("how", SPELLINGS)
def test_a_non_canonical_spelling_with_matching_hashes_is_named_at_its_seq(how):
    chunk = make_chunk([item(0), item(0), item(0)])
    last = len(chunk.rows) - 1
    chunk.rewrite(last, respell(chunk.rows[last][5], how))
    assert chunk.fast() is None
    leaves, problem = chunk.checked()
    assert len(leaves) == last
    assert problem is not None and problem[0] == START + last


COLUMNS = {"kind": 1, "subject": 2, "actor": 3, "recorded_at": 4, "seq": 0}


@pytest.mark.parametrize("postgres", [False, True])
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("kind", "contract.voided"),
        ("kind", 'contract."signed'),
        ("subject", "contract:OTHER"),
        ("subject", "contract:C2\\"),
        ("actor", "user:U2"),
        ("actor", "user:Ü1"),
        ("recorded_at", "later"),
        ("seq", START + 9),
    ],
)
def test_a_column_that_disagrees_with_the_bytes_is_named_at_its_seq(postgres, column, value):
    chunk = make_chunk([item(n) for n in range(5)], postgres=postgres)
    if column == "recorded_at":
        value = recorded_column(MOMENT + timedelta(seconds=1), postgres)
    chunk.rows[2][COLUMNS[column]] = value
    assert chunk.fast() is None
    leaves, problem = chunk.checked()
    assert len(leaves) == 2
    assert problem is not None and problem[0] == START + 2


def test_a_changed_byte_a_stale_leaf_hash_or_a_broken_chain_is_named():
    chunk = make_chunk([item(n) for n in range(6)])
    data = bytearray(chunk.rows[3][5])
    data[data.index(b'"amount_minor":') + 15] ^= 1
    chunk.rows[3][5] = bytes(data)
    assert chunk.fast() is None
    assert chunk.checked()[1] == (
        START + 3,
        f"entry {START + 3}: its bytes do not hash to the stored leaf hash",
    )

    chunk = make_chunk([item(n) for n in range(6)])
    chunk.rows[4][7] = bytes(32)
    assert chunk.fast() is None
    assert chunk.checked()[1][0] == START + 4

    chunk = make_chunk([item(n) for n in range(6)])
    chunk.prev = bytes(32)
    assert chunk.fast() is None
    assert chunk.checked()[1][0] == START


def test_a_missing_row_is_named():
    chunk = make_chunk([item(n) for n in range(6)])
    del chunk.rows[2]
    assert chunk.fast() is None
    _, problem = exact_chunk(chunk.rows, START, 6, chunk.prev, chunk.stamp)
    assert problem == (START + 2, f"entry {START + 2} is missing (the next stored is {START + 3})")


def test_payloads_that_are_only_json_when_joined_are_refused():
    """Each payload alone is not JSON, but joined as the fast way joins them they make
    a canonical array of as many objects: the count of `},{` gives them away."""
    payloads = [b'{"a":"}', b'{"}', b'{"b":1},{"c":2}']
    chunk = make_chunk([item(n) for n in range(3)])
    prev = chunk.prev
    for index, payload in enumerate(payloads):
        row = chunk.rows[index]
        obj = json.loads(row[5])
        head = json.dumps(
            {k: obj[k] for k in ("actor", "kind")}, separators=(",", ":"), sort_keys=True
        )[:-1]
        tail = json.dumps(
            {k: obj[k] for k in ("recorded_at", "seq", "subject")}, separators=(",", ":")
        )[1:]
        data = (
            head.encode()
            + b',"payload":'
            + payload
            + b',"prev_hash":"'
            + prev.hex().encode()
            + b'",'
            + tail.encode()
        )
        row[5], row[6], row[7] = data, leaf(data), prev
        prev = row[6]
    joined = b"[" + b",".join(payloads) + b"]"
    assert json.loads(joined) == [{"a": "},{"}, {"b": 1}, {"c": 2}]  # canonical, 3 objects
    assert chunk.fast() is None
    leaves, problem = chunk.checked()
    assert leaves == [] and problem is not None and problem[0] == START
    assert "not JSON" in problem[1]


@pytest.mark.parametrize(
    ("document", "canonical"),
    [
        (b'[{"a":1,"b":"x"},{}]', True),
        (b'[{"a":true,"b":null,"c":false}]', True),
        (b'[{"b":1,"a":2}]', False),
        (b'[{"a":1,"a":1}]', False),
        (b'[{"a":1.5}]', False),
        (b'[{"a":[1]}]', False),
        (b'[{"a":{}}]', False),
        (b"[{'a':1}]", False),
    ],
)
def test_flat_objects_canonical(document, canonical):
    try:
        answer = flat_objects_canonical(document, document.count(b"},{") + 1)
    except ValueError:
        answer = False
    assert answer is canonical


# -- hypothesis: the fast way accepts nothing the reference refuses ---------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.text(alphabet='abcdef0123456789:,{}[]" -', max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='abz_:{},"', max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
payloads = st.dictionaries(
    st.text(alphabet=st.characters(codec="ascii", min_codepoint=32), max_size=8),
    json_values,
    max_size=4,
)
texts = st.text(alphabet=st.characters(codec="ascii", min_codepoint=33), min_size=1, max_size=10)
items_strategy = st.builds(
    lambda kind, subject, actor, payload: {
        "kind": kind,
        "subject": subject,
        "actor": actor,
        "payload": payload,
    },
    st.sampled_from(["contract.signed", "payment.received"]),
    texts.map(lambda t: f"contract:{t}"),
    texts,
    payloads,
)


def damage(chunk: Chunk, rng: random.Random) -> None:
    last = len(chunk.rows) - 1
    kind = rng.choice(["byte", "byte+leaf", "column", "respell", "insert", "none"])
    if kind == "byte" or kind == "byte+leaf":
        index = rng.randrange(len(chunk.rows)) if kind == "byte" else last
        data = bytearray(chunk.rows[index][5])
        data[rng.randrange(len(data))] = rng.randrange(256)
        chunk.rows[index][5] = bytes(data)
        if kind == "byte+leaf":
            chunk.rewrite(last, bytes(data))
    elif kind == "column":
        index = rng.randrange(len(chunk.rows))
        column = rng.choice([0, 1, 2, 3, 4, 7])
        chunk.rows[index][column] = rng.choice(
            [START + index + 1, "x", "", 'a"b', "é", b"x", bytes(32), None, 0]
        )
    elif kind == "respell":
        chunk.rewrite(last, respell(chunk.rows[last][5], rng.choice(["spaces", "escaped"])))
    elif kind == "insert":
        data = chunk.rows[last][5]
        at = rng.randrange(len(data))
        chunk.rewrite(last, data[:at] + rng.choice([b" ", b"\\", b",", b"}", b"0"]) + data[at:])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(items_strategy, min_size=1, max_size=6),
    st.booleans(),
    st.integers(0, 2**32),
)
def test_the_fast_check_accepts_nothing_the_reference_refuses(items, postgres, seed):
    chunk = make_chunk(items, postgres=postgres, step_us=3)
    sound = chunk.exact()
    assert sound[1] is None  # what encode_entry writes is sound
    fast = chunk.fast()
    if fast is not None:
        assert fast == sound[0]
    damage(chunk, random.Random(seed))
    fast = chunk.fast()
    exact = chunk.exact()
    if fast is not None:
        assert exact == (fast, None)
    assert chunk.checked() == exact


def with_payload_text(chunk: Chunk, texts: list[bytes]) -> Chunk:
    """The chunk's entries with their payloads replaced by the given text (any
    spelling, JSON or not), the hashes and chain made to match."""
    before = chunk.prev
    for row, text in zip(chunk.rows, texts, strict=True):
        obj = json.loads(row[5])
        obj["payload"] = {"__payload__": 0}
        obj["prev_hash"] = before.hex()
        data = encode_entry(obj).replace(b'"payload":{"__payload__":0}', b'"payload":' + text)
        row[5], row[6], row[7] = data, leaf(data), before
        before = row[6]
    return chunk


spelled_keys = st.sampled_from(['"a"', '"b"', '"c"', '":x"', '"a b"', '"},{"', '"\\u0061"'])
spelled_values = st.sampled_from(
    [
        "1",
        "0",
        "-0",
        "-7",
        "01",
        "1.5",
        "1e2",
        "true",
        "null",
        '"x"',
        '"x y"',
        '"},{"',
        '":-0"',
        '"\\u0041"',
        '"\\\\"',
        "9007199254740991",
        "9007199254740993",
        "[]",
        "[1,2]",
        "[1, 2]",
        '[{"b":1},{"a":2}]',
        '{"b":1,"a":2}',
        '{"a":2,"b":1}',
        "{}",
    ]
)
payload_texts = st.builds(
    lambda members, colon, comma, pad: (
        pad + "{" + comma.join(k + colon + v for k, v in members) + "}"
    ).encode(),
    st.lists(st.tuples(spelled_keys, spelled_values), max_size=4),
    st.sampled_from([":", ":", ":", ": "]),
    st.sampled_from([",", ",", ",", ", "]),
    st.sampled_from(["", "", "", " "]),
)
"""Payload texts, mostly JSON, often canonical, often not in one way or another."""


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payload_texts, min_size=1, max_size=5), st.booleans())
def test_spelled_payloads_the_fast_check_accepts_the_reference_accepts(texts, postgres):
    """Payloads spelled member by member rather than serialized: duplicate or unsorted
    keys, spaces in and out of strings, `},{` and `:-0` in strings, -0, leading zeros,
    floats, integers beyond 2^53, escapes, nested arrays and objects."""
    chunk = with_payload_text(
        make_chunk([item(n) for n in range(len(texts))], postgres=postgres), texts
    )
    fast = chunk.fast()
    exact = chunk.exact()
    if fast is not None:
        assert exact == (fast, None)
    assert chunk.checked() == exact


def test_spelled_payloads_can_be_sound():
    """The spelling helper itself: canonical texts pass both ways."""
    texts = [b'{"a":1,"b":"x y"}', b"{}", b'{"a":[{"b":1},{"c":null}],"d":true}']
    chunk = with_payload_text(make_chunk([item(n) for n in range(3)]), texts)
    leaves = chunk.fast()
    assert leaves is not None and chunk.exact() == (leaves, None)


def test_the_reference_reads_the_dates_the_drivers_give():
    assert stamp_pg_micros(0) == "2000-01-01T00:00:00.000000Z"
    assert stamp_pg_micros(2**63 - 1) is None  # 'infinity'
    assert stamp_pg_micros("0") is None
    assert stamp_sqlite_text("2026-11-29 10:30:00.000005") == "2026-11-29T10:30:00.000005Z"
    assert stamp_sqlite_text("2026-11-29 10:30:00") == "2026-11-29T10:30:00.000000Z"
    assert stamp_sqlite_text("2026-11-29 11:30:00+01:00") == "2026-11-29T10:30:00.000000Z"
    assert stamp_sqlite_text("not a time") is None
    assert stamp_sqlite_text(17) is None


def stamp_sqlite_by_formatting(value: Any) -> str | None:
    """What `stamp_sqlite_text` gave before it cut the common shape: format it."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    try:
        return format_recorded_at(moment)
    except OverflowError:
        return None


def stamp_pg_by_formatting(value: Any) -> str | None:
    if type(value) is not int or value in (2**63 - 1, -(2**63)):
        return None
    try:
        return format_recorded_at(PG_EPOCH + timedelta(microseconds=value))
    except OverflowError:
        return None


moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.none()
)
offsets = st.sampled_from(["", "+00:00", "-00:00", "+01:00", "-05:30", "Z", "+0100", "+01"])


@settings(max_examples=500, deadline=None)
@given(
    moments, offsets, st.sampled_from([" ", "T", "_"]), st.sampled_from([0, 3, 6]), st.booleans()
)
def test_sqlite_times_read_as_formatting_them_would(moment, offset, sep, digits, cut):
    """The shortcut for SQLAlchemy's own text gives what formatting the parsed time
    gives, for that text and for its neighbours (other separators, fraction lengths,
    offsets, a character less)."""
    text = moment.isoformat(sep=sep, timespec="seconds")
    if digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    text += offset
    if cut:
        text = text[:-1]
    assert stamp_sqlite_text(text) == stamp_sqlite_by_formatting(text)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.integers(-63_082_281_600_000_000 - 10**11, -63_082_281_600_000_000 + 10**11),
        st.integers(252_455_615_999_999_999 - 10**11, 252_455_615_999_999_999 + 10**11),
        st.integers(-(10**15), 10**15),
    )
)
def test_postgresql_times_read_as_formatting_them_would(micros):
    """Integer arithmetic gives what the datetime gives, up to years 1 and 9999."""
    assert stamp_pg_micros(micros) == stamp_pg_by_formatting(micros)


def test_the_fast_check_is_used_for_the_first_entries_too():
    """Entry 0 chains to the 32 zero bytes."""
    items = [item(n) for n in range(3)]
    rows = []
    before = GENESIS_PREV_HASH
    for seq, it in enumerate(items):
        data = encode_entry(entry_object(seq, it, MOMENT, before))
        rows.append(
            [
                seq,
                it["kind"],
                it["subject"],
                it["actor"],
                recorded_column(MOMENT, False),
                data,
                leaf(data),
                before,
            ]
        )
        before = leaf(data)
    chunk = Chunk(rows, GENESIS_PREV_HASH)
    columns = chunk.columns()
    assert fast_chunk(columns, 0, 3, GENESIS_PREV_HASH, stamp_sqlite_text) == [r[6] for r in rows]
