"""Appending entries: the exact bytes, the chain, the tree nodes, refusals, stale heads.

Tests run inside the rolled-back `session` and never assume an empty ledger: they
work relative to the head at their start.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from datetime import UTC, datetime

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from mindlinks.ledger import canonical, integrity, merkle, repository, service
from mindlinks.ledger.errors import LedgerEntryInvalid, LedgerPayloadNotCanonical
from mindlinks.ledger.models import LedgerEntry, LedgerNode
from mindlinks.ledger.service import NewEntry, append_entries, append_entry
from mindlinks.platform.clock import set_clock
from tests.ledger import reference as ref
from tests.ledger.db_helpers import append_n, items

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
    entry = append_entry(session, "contract.signed", "contract:01JABC", "user:01JU", payload)

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


def test_appends_store_every_complete_subtree(session):
    append_n(session, 37)
    for _ in range(5):  # single appends too: they merge with stored frontier nodes
        append_entry(session, "test.appended", "contract:TEST", "system", {})
    append_entries(session, items(100))
    leaves = all_leaves(session)
    expected = {k: v for k, v in ref.complete_subtrees(leaves).items() if k[0] >= 1}
    stored = {
        (lv, ix): h
        for lv, ix, h in session.execute(select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash))
    }
    assert stored == expected
    assert repository.root_at(session, len(leaves)) == ref.root(leaves)


def test_a_batch_and_single_appends_build_the_same_tree(session):
    head = repository.head_size(session)
    entries = append_entries(session, items(20, start=0))
    entries += [
        append_entry(session, "test.appended", "contract:TEST", "system", {"i": i})
        for i in range(11)
    ]
    assert [e.seq for e in entries] == list(range(head, head + 31))
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
    entry = append_entry(
        session, "test.appended", "contract:T", "system", {"a": limit, "b": -limit}
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
    ("kind", "subject", "actor"),
    [
        ("Contract.Signed", "contract:1", "system"),
        ("signed", "contract:1", "system"),
        ("contract.signed", "contract", "system"),
        ("contract.signed", "contract:has space", "system"),
        ("contract.signed", "contract:" + "x" * 200, "system"),
        ("contract.signed", "contract:1", ""),
        ("contract.signed", "contract:1", "user 1"),
        ("x." + "y" * 70, "contract:1", "system"),
    ],
)
def test_bad_kinds_subjects_and_actors_are_refused(session, kind, subject, actor):
    with pytest.raises(LedgerEntryInvalid):
        append_entry(session, kind, subject, actor, {})


def test_an_entry_over_the_size_limit_is_refused(session):
    with pytest.raises(LedgerEntryInvalid, match="limit"):
        append_entry(session, "test.appended", "contract:T", "system", {"blob": "x" * 70_000})


def test_non_ascii_payloads_are_stored_as_utf8(session):
    entry = append_entry(
        session, "test.appended", "contract:T", "system", {"name": "Zoë 😀", "é": 1}
    )
    assert "Zoë 😀".encode() in entry.entry_bytes
    assert canonical.parse_canonical(entry.entry_bytes)["payload"] == {"name": "Zoë 😀", "é": 1}


def test_a_stale_head_fails_loudly_and_never_forks(session, monkeypatch):
    append_n(session, 3)
    head = repository.head_size(session)
    real_read_head = service._read_head

    def stale(connection):
        size, _ = real_read_head(connection)
        before_last = connection.execute(
            select(LedgerEntry.leaf_hash).where(LedgerEntry.seq == size - 2)
        ).scalar_one()
        return size - 1, before_last  # what a writer that read before the last commit saw

    monkeypatch.setattr(service, "_read_head", stale)
    with pytest.raises(IntegrityError), session.begin_nested():
        append_entry(session, "test.appended", "contract:T", "system", {"stale": True})
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


FORBIDDEN = [
    r"\b(update|delete)\(",  # sqlalchemy.update / delete, session.delete
    r"[\'\"]\s*(UPDATE|DELETE|TRUNCATE)\b",  # raw SQL
    r"import\s.*\b(update|delete)\b",
]


def test_the_ledger_modules_have_no_update_or_delete():
    for module in (service, repository, integrity, canonical, merkle):
        source = inspect.getsource(module)
        for pattern in FORBIDDEN:
            assert not re.search(pattern, source), (module.__name__, pattern)


def test_the_advisory_lock_is_taken_before_the_head_is_read(session, monkeypatch):
    calls = []
    monkeypatch.setattr(service, "_lock_appends", lambda s: calls.append("lock"))
    real = service._read_head
    monkeypatch.setattr(service, "_read_head", lambda s: calls.append("head") or real(s))
    append_entries(session, [NewEntry("test.appended", "contract:T", "system", {})])
    assert calls == ["lock", "head"]


def test_postgres_appends_hold_the_transaction_advisory_lock(session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite serializes with BEGIN IMMEDIATE")
    append_entry(session, "test.appended", "contract:T", "system", {})
    held = session.execute(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo"
        ),
        {"hi": service.LOCK_KEY >> 32, "lo": service.LOCK_KEY & 0xFFFFFFFF},
    ).scalar()
    assert held == 1


def test_an_append_rolled_back_with_its_savepoint_can_be_redone(session):
    head = repository.head_size(session)
    savepoint = session.begin_nested()
    append_entry(session, "test.appended", "contract:T", "system", {"try": 1})
    savepoint.rollback()
    assert repository.head_size(session) == head
    again = append_entry(session, "test.appended", "contract:T", "system", {"try": 2})
    assert again.seq == head
    assert repository.get_entry(session, head) is again
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
    assert canonical.parse_canonical(expected) == payload


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
