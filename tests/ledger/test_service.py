"""Appending entries: the exact bytes, the chain, the tree nodes, refusals, stale heads.

Tests run inside the rolled-back `session` and never assume an empty ledger: they
work relative to the head at their start. On PostgreSQL an append only queues its
entry; `rows_of` (through `seq_of`) integrates the session's queued entries and
reads the rows written for them.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from mindlinks.ledger import canonical, integrity, merkle, repository, sequencer, service, store
from mindlinks.ledger.errors import LedgerEntryInvalid, LedgerPayloadNotCanonical
from mindlinks.ledger.models import LOWEST_STORED_LEVEL, LedgerEntry, LedgerNode
from mindlinks.ledger.service import NewEntry, append_entries, append_entry
from mindlinks.platform.clock import set_clock
from tests.ledger import reference as ref
from tests.ledger.db_helpers import append_n, dialect, items, rows_of

MOMENT = datetime(2026, 11, 29, 10, 30, 0, 5, tzinfo=UTC)


@pytest.fixture
def fixed_clock():
    set_clock(lambda: MOMENT)
    yield MOMENT
    set_clock(None)


def all_leaves(session) -> list[bytes]:
    return list(session.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.seq)))


def test_an_entry_is_the_canonical_json_of_its_fields(session, fixed_clock):
    head = repository.head_size(session)
    payload = {"contract_id": "01JABC", "amount_minor": 12500, "ok": True, "note": None}
    appended = append_entry(session, "contract.signed", "contract:01JABC", "user:01JU", payload)
    assert (appended.kind, appended.subject, appended.actor) == (
        "contract.signed",
        "contract:01JABC",
        "user:01JU",
    )
    assert (appended.payload, appended.recorded_at) == (payload, MOMENT)
    [entry] = rows_of(session, [appended])

    assert entry.seq == head
    decoded = json.loads(entry.entry_bytes)
    assert decoded == {
        "seq": head,
        "kind": "contract.signed",
        "subject": "contract:01JABC",
        "actor": "user:01JU",
        "recorded_at": "2026-11-29T10:30:00.000005Z",
        "payload": payload,
        "prev_hash": decoded["prev_hash"],
    }
    assert rfc8785.dumps(decoded) == entry.entry_bytes
    assert entry.entry_bytes.startswith(b'{"actor":"user:01JU","kind":"contract.signed"')
    assert entry.leaf_hash == hashlib.sha256(b"\x00" + entry.entry_bytes).digest()
    assert (entry.kind, entry.subject, entry.actor) == (
        "contract.signed",
        "contract:01JABC",
        "user:01JU",
    )
    session.expire_all()
    stored = session.get(LedgerEntry, head)
    assert stored.recorded_at == MOMENT
    assert stored.entry_bytes == entry.entry_bytes
    if dialect(session) == "sqlite":  # the text sqlite3's own datetime adapter writes
        raw = session.execute(
            text("SELECT recorded_at FROM ledger_entries WHERE seq = :s"), {"s": head}
        ).scalar_one()
        assert raw == "2026-11-29 10:30:00.000005+00:00"


def test_entries_chain_by_the_previous_leaf_hash(session):
    head = repository.head_size(session)
    first, second, third = append_n(session, 3)
    if head == 0:
        assert first.prev_hash == bytes(32)
        assert json.loads(first.entry_bytes)["prev_hash"] == "0" * 64
    else:
        assert first.prev_hash == repository.get_entry(session, head - 1).leaf_hash
    assert second.prev_hash == first.leaf_hash
    assert third.prev_hash == second.leaf_hash
    assert json.loads(third.entry_bytes)["prev_hash"] == second.leaf_hash.hex()
    assert [e.seq for e in (first, second, third)] == [head, head + 1, head + 2]


def test_appends_store_every_complete_subtree_from_level_4(session):
    append_n(session, 37)
    for _ in range(5):  # single appends too: they merge with stored frontier nodes
        append_entry(session, "test.appended", "contract:TEST", "system", {})
    append_entries(session, items(100))
    leaves = all_leaves(session)
    expected = {
        k: v for k, v in ref.complete_subtrees(leaves).items() if k[0] >= LOWEST_STORED_LEVEL
    }
    stored = {
        (lv, ix): h
        for lv, ix, h in session.execute(select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash))
    }
    assert stored == expected
    assert repository.root_at(session, len(leaves)) == ref.root(leaves)


def test_a_batch_and_single_appends_build_the_same_tree(session):
    head = repository.head_size(session)
    appended = append_entries(session, items(20, start=0))
    appended += [
        append_entry(session, "test.appended", "contract:TEST", "system", {"i": i})
        for i in range(11)
    ]
    assert [e.seq for e in rows_of(session, appended)] == list(range(head, head + 31))
    assert integrity.verify_ledger(session).ok


def test_an_empty_batch_writes_nothing(session):
    head = repository.head_size(session)
    assert append_entries(session, []) == []
    assert repository.head_size(session) == head


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"amount": 12.5}, "floats are not allowed"),
        ({"deep": {"list": [1, 2.0]}}, r"payload\.deep\.list\[1\]: floats"),
        ({"x": float("nan")}, "floats are not allowed"),
        ({"x": float("inf")}, "floats are not allowed"),
        ({"big": 2**53}, "outside"),
        ({"small": -(2**53)}, "outside"),
        ({"t": (1, 2)}, "tuple is not JSON"),
        ({"b": b"bytes"}, "bytes is not JSON"),
        ({"s": {1, 2}}, "set is not JSON"),
        ({1: "x"}, "keys must be strings"),
        ({"text": "\ud800"}, "lone surrogate"),
        ({"\udfff": 1}, "lone surrogate"),
        (["not", "an", "object"], "must be a JSON object"),
    ],
)
def test_payloads_without_one_canonical_form_are_refused(session, payload, message):
    head = repository.head_size(session)
    with pytest.raises(LedgerPayloadNotCanonical, match=message):
        append_entry(session, "test.appended", "contract:TEST", "system", payload)
    assert repository.head_size(session) == head


def test_the_largest_safe_integers_are_fine(session):
    limit = 2**53 - 1
    [entry] = rows_of(
        session,
        [append_entry(session, "test.appended", "contract:T", "system", {"a": limit, "b": -limit})],
    )
    assert json.loads(entry.entry_bytes)["payload"] == {"a": limit, "b": -limit}


def test_deeply_nested_payloads_are_refused(session):
    payload: dict = {}
    node = payload
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(LedgerPayloadNotCanonical, match="nested deeper"):
        append_entry(session, "test.appended", "contract:T", "system", payload)


@pytest.mark.parametrize(
    ("kind", "subject", "actor", "field"),
    [
        ("Contract.Signed", "contract:1", "system", "kind"),
        ("signed", "contract:1", "system", "kind"),
        ("contract.signed", "contract", "system", "subject"),
        ("contract.signed", "contract:has space", "system", "subject"),
        ("contract.signed", "contract:" + "x" * 200, "system", "subject"),
        ("contract.signed", "contract:1", "", "actor"),
        ("contract.signed", "contract:1", "user 1", "actor"),
        ("x." + "y" * 70, "contract:1", "system", "kind"),
        # the three are matched as one line first: a space cannot move a boundary
        ("contract.signed contract:1", "contract:2", "system", "kind"),
        ("contract.signed", "contract:1 system", "system", "subject"),
        ("contract.signed", "contract:1", "system\n", "actor"),
        (None, "contract:1", "system", "kind"),
        ("contract.signed", b"contract:1", "system", "subject"),
    ],
)
def test_bad_kinds_subjects_and_actors_are_refused(session, kind, subject, actor, field):
    with pytest.raises(LedgerEntryInvalid, match=f"^{field} "):
        append_entry(session, kind, subject, actor, {})


def test_an_entry_over_the_size_limit_is_refused(session):
    with pytest.raises(LedgerEntryInvalid, match="limit"):
        append_entry(session, "test.appended", "contract:T", "system", {"blob": "x" * 70_000})


def test_non_ascii_payloads_are_stored_as_utf8(session):
    [entry] = rows_of(
        session,
        [
            append_entry(
                session, "test.appended", "contract:T", "system", {"name": "Zoë 😀", "é": 1}
            )
        ],
    )
    assert "Zoë 😀".encode() in entry.entry_bytes
    assert canonical.parse_canonical(entry.entry_bytes)["payload"] == {"name": "Zoë 😀", "é": 1}


def test_a_stale_head_fails_loudly_and_never_forks(session, monkeypatch):
    append_n(session, 3)
    head = repository.head_size(session)

    def stale(size):
        before_last = session.execute(
            select(LedgerEntry.leaf_hash).where(LedgerEntry.seq == size - 2)
        ).scalar_one()
        return size - 1, before_last  # what a reader before the last commit saw

    real_read_head, real_read_queue = store.read_head, store.read_queue

    def stale_head(db):  # SQLite's append, once its cached head was refused
        size, _ = real_read_head(db)
        return stale(size)

    def stale_queue(db, limit, lock_timeout=None, **kwargs):  # PostgreSQL's sequencer
        rows, (size, _) = real_read_queue(db, limit, lock_timeout, **kwargs)
        return rows, stale(size)

    sequencer.forget_frontier(session.connection().engine)
    monkeypatch.setattr(store, "read_head", stale_head)
    monkeypatch.setattr(store, "read_queue", stale_queue)
    with pytest.raises(IntegrityError), session.begin_nested():
        # integrated at once on SQLite, by rows_of's seq_of on PostgreSQL
        rows_of(session, [append_entry(session, "test.appended", "contract:T", "system", {})])
    monkeypatch.undo()
    session.expire_all()
    assert repository.head_size(session) == head
    assert (
        session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.seq == head - 1)
        )
        == 1
    )
    assert integrity.verify_ledger(session).ok


def test_an_append_after_a_rolled_back_one_takes_the_seq_it_left_free(session):
    """The rolled-back append left its engine's cached head ahead of the ledger
    (SQLite appends after that cache; its chain trigger refuses the stale head and
    the append is redone from the head it then reads)."""
    append_n(session, 3)
    head = repository.head_size(session)
    savepoint = session.begin_nested()
    rows_of(session, append_entries(session, items(2, start=3)))
    savepoint.rollback()  # the caller's work failed
    session.expire_all()
    assert repository.head_size(session) == head
    [entry] = rows_of(session, [append_entry(session, "test.appended", "contract:T", "system", {})])
    assert entry.seq == head
    assert entry.prev_hash == repository.get_entry(session, head - 1).leaf_hash
    assert integrity.verify_ledger(session).ok


def test_sqlite_numbers_each_entry_its_seq_plus_one(session):
    if dialect(session) != "sqlite":
        pytest.skip("PostgreSQL numbers queued entries in its queue's order")
    appended = append_entries(session, items(3))
    assert [a.pending_id for a in appended] == [a.seq + 1 for a in appended if a.seq is not None]
    assert [service.seq_of(session, a.pending_id) for a in appended] == [a.seq for a in appended]
    head = repository.head_size(session)
    assert service.seq_of(session, head + 1) is None


FORBIDDEN = [
    r"\b(update|delete)\(",  # sqlalchemy.update / delete, session.delete
    r"[\'\"]\s*(UPDATE|TRUNCATE)\b",  # raw SQL
    r"import\s.*\b(update|delete)\b",
]


def test_the_ledger_modules_have_no_update_and_delete_only_integrated_queued_rows():
    deletes = []
    for module in (service, repository, integrity, canonical, merkle, store, sequencer):
        source = inspect.getsource(module)
        for pattern in FORBIDDEN:
            assert not re.search(pattern, source), (module.__name__, pattern)
        deletes += re.findall(r"[\'\"]\s*DELETE\b[^\'\"]*", source)
    assert deletes  # the sequencer's, in each dialect
    assert all(d.lstrip("'\" ").startswith("DELETE FROM ledger_pending WHERE id") for d in deletes)


class Recorder:
    """The driver connection, noting every statement sent through it."""

    def __init__(self, raw, sent: list[str]) -> None:
        self._raw, self._sent = raw, sent

    def execute(self, sql, *args, **kwargs):
        self._sent.append(sql)
        return self._raw.execute(sql, *args, **kwargs)

    def executemany(self, sql, *args, **kwargs):
        self._sent.append(sql)
        return self._raw.executemany(sql, *args, **kwargs)

    def copy(self, sql, *args, **kwargs):
        self._sent.append(sql)
        return self._raw.copy(sql, *args, **kwargs)

    def cursor(self, *args, **kwargs):
        return Recorder(self._raw.cursor(*args, **kwargs), self._sent)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._raw.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._raw, name)


def test_the_lock_is_taken_before_the_queue_and_the_head_are_read(session, monkeypatch):
    sent: list[str] = []
    real_on = store.on

    def recording(connection):
        db = real_on(connection)
        return store.Db(Recorder(db.raw, sent), db.dialect, db.engine)

    monkeypatch.setattr(store, "on", recording)
    appended = append_entries(session, [NewEntry("test.appended", "contract:T", "system", {})])
    rows_of(session, appended)
    monkeypatch.undo()

    def first(fragment: str) -> int:
        return next(i for i, sql in enumerate(sent) if fragment in sql)

    if dialect(session) != "postgresql":
        # SQLite took its write lock with BEGIN IMMEDIATE, and appends after the
        # cached head that its chain trigger vouches for (test_immutability).
        assert first("INSERT INTO ledger_entries") >= 0
        return
    head = first("FROM ledger_entries ORDER BY seq DESC LIMIT 1")
    assert first("pg_advisory_xact_lock") < first("FROM ledger_pending ORDER BY id") <= head
    assert head < first("INSERT INTO ledger_entries")


def test_postgres_appends_queue_without_the_lock_and_integration_holds_it(session):
    if dialect(session) != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite serializes with BEGIN IMMEDIATE")

    def held() -> int:
        return session.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo"
            ),
            {"hi": service.LOCK_KEY >> 32, "lo": service.LOCK_KEY & 0xFFFFFFFF},
        ).scalar()

    appended = append_entry(session, "test.appended", "contract:T", "system", {})
    assert appended.seq is None
    assert held() == 0
    assert service.seq_of(session, appended.pending_id) is not None
    assert held() == 1  # until this transaction ends


def test_an_append_rolled_back_with_its_savepoint_can_be_redone(session):
    head = repository.head_size(session)
    savepoint = session.begin_nested()
    first = append_entry(session, "test.appended", "contract:T", "system", {"try": 1})
    assert rows_of(session, [first])[0].seq == head
    savepoint.rollback()
    assert repository.head_size(session) == head
    assert service.seq_of(session, first.pending_id) is None
    again = append_entry(session, "test.appended", "contract:T", "system", {"try": 2})
    [row] = rows_of(session, [again])
    assert row.seq == head
    assert repository.get_entry(session, head) is row
    assert json.loads(row.entry_bytes)["payload"] == {"try": 2}
    assert integrity.verify_ledger(session).ok


# -- the canonical form --------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(st.characters(codec="utf-8"), max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5))
def test_the_fast_json_paths_agree_with_rfc8785(payload):
    expected = rfc8785.dumps(payload)
    assert canonical.encode_entry(payload) == expected
    assert canonical.encode_payload(payload) == expected
    assert canonical.parse_canonical(expected) == payload


ascii_keyed_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(st.characters(codec="utf-8"), max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(codec="ascii"), max_size=6), children, max_size=4)
    ),
    max_leaves=16,
)


@settings(max_examples=500, deadline=None)
@given(
    st.dictionaries(st.text(st.characters(codec="ascii"), max_size=8), ascii_keyed_values),
)
def test_the_c_encoder_gives_rfc8785_bytes_for_ascii_keyed_payloads(payload):
    """The fast path's claim: for str/int/bool/None/list/dict with ASCII keys and
    safe integers, sorted compact `json` output with ensure_ascii=False is RFC 8785."""
    assert canonical._plain(payload, 0)
    fast = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert fast.encode("utf-8") == rfc8785.dumps(payload)
    assert canonical.encode_payload(payload) == rfc8785.dumps(payload)


def test_payloads_off_the_fast_path_still_get_rfc8785_bytes():
    class Text(str):
        pass

    for payload in (
        {"é": 1, "z": 2},  # non-ASCII keys sort by UTF-16 units
        {"\U0001f600": 1, "\uffff": 2},
        {"t": Text("x")},
        {"deep": [[[[1]]]]},
    ):
        assert canonical.encode_payload(payload) == rfc8785.dumps(payload)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.from_regex(service._KIND, fullmatch=True).filter(lambda k: len(k) <= 64),
    subject=st.from_regex(service._SUBJECT, fullmatch=True).filter(lambda k: len(k) <= 200),
    actor=st.from_regex(service._ACTOR, fullmatch=True).filter(lambda k: len(k) <= 200),
    payload=st.dictionaries(st.text(max_size=6), json_values, max_size=5),
    seq=st.integers(0, 2**53 - 1),  # RFC 8785 numbers are doubles
    prev=st.binary(min_size=32, max_size=32),
    moment=st.datetimes(timezones=st.just(UTC)),
)
def test_an_assembled_entry_is_the_rfc8785_form_of_its_object(
    kind, subject, actor, payload, seq, prev, moment
):
    stamp = canonical.format_recorded_at(moment)
    head, tail = canonical.entry_parts(kind, subject, actor, canonical.encode_payload(payload))
    item = NewEntry(kind, subject, actor, payload)
    expected = rfc8785.dumps(service.entry_object(seq, item, stamp, prev))
    assert canonical.assemble_entry(head, prev, stamp, seq, tail) == expected
    assert len(expected) <= len(head) + len(tail) + canonical.ENTRY_OVERHEAD


NOT_CANONICAL = [
    b'{"a": 1}',  # whitespace
    b'{"b":1,"a":2}',  # key order
    b'{"a":1,"a":1}',  # duplicate key
    b'{"a":1.5}',
    b'{"a":1e3}',
    b'{"a":NaN}',
    b'{"a":-0}',
    b'{"a":9007199254740992}',  # 2^53
    b'{"a":"\\u0041"}',  # needless escape
    b'{"a":"\\/"}',
    b'{"a":"\\u00E9"}',
    b'{"a":"\\u001F"}',  # upper-case hex
    b'["not an object"]',
    b'{"a":1}\n',
    b'\xef\xbb\xbf{"a":1}',  # BOM
    b'{"a":"\xff"}',  # not UTF-8
    b'{"\xc3\xa9":1,"z":2}',  # non-ASCII keys sort by UTF-16 units: "z" < "é"
    b'{"a":1}{"b":2}',
]


@pytest.mark.parametrize("raw", NOT_CANONICAL)
def test_bytes_not_in_canonical_form_are_refused(raw):
    with pytest.raises(canonical.NotCanonical):
        canonical.parse_canonical(raw)


def test_canonical_bytes_are_accepted():
    for raw in (b'{"a":"\\u001f\\n","b":[true,null,-3]}', '{"z":1,"é":"😀"}'.encode()):
        assert canonical.parse_canonical(raw) == json.loads(raw)


@given(st.datetimes(timezones=st.just(UTC)), st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_recorded_at_is_rfc3339_utc_whatever_the_zone(moment, offset_minutes):
    """The clock's UTC datetimes take a direct formatting path; any other zone is
    converted first. Both give the same text for the same instant."""
    zone = timezone(timedelta(minutes=offset_minutes))
    general = moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"
    assert canonical.format_recorded_at(moment) == general
    if moment.year > 1 and moment.year < 9999:  # the other zone must be representable
        assert canonical.format_recorded_at(moment.astimezone(zone)) == general
