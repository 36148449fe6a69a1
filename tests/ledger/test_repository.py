"""Reading the ledger: roots, proofs from O(log n) stored nodes, listing, typed errors."""

from __future__ import annotations

import random
import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from mindlinks.ledger import repository, store
from mindlinks.ledger.errors import (
    InvalidConsistencyRange,
    LedgerStateCorrupt,
    SeqOutOfRange,
    TreeSizeOutOfRange,
)
from mindlinks.ledger.models import LOWEST_STORED_LEVEL, LedgerEntry
from mindlinks.ledger.service import append_entries
from tests.ledger import reference as ref
from tests.ledger.db_helpers import append_n, items


def leaves(session) -> list[bytes]:
    return list(session.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.seq)))


@contextmanager
def statements(session, monkeypatch):
    """Record (sql, number of bound parameters) of each statement the session runs,
    through SQLAlchemy or on its driver connection (`store._node_rows`)."""
    seen: list[tuple[str, int]] = []
    connection = session.connection()

    def record(conn, cursor, sql, params, context, executemany):
        seen.append((sql, len(params) if params else 0))

    driver_rows = store._node_rows

    def record_driver(connection, sql):
        seen.append((sql, 0))
        return driver_rows(connection, sql)

    event.listen(connection, "before_cursor_execute", record)
    monkeypatch.setattr(store, "_node_rows", record_driver)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)
        monkeypatch.setattr(store, "_node_rows", driver_rows)


def test_roots_and_proofs_agree_with_the_full_tree(session):
    append_n(session, 75)
    all_leaves = leaves(session)
    n = len(all_leaves)
    rng = random.Random(7)
    for size in {1, 2, 3, n // 2, n - 1, n, *rng.sample(range(1, n + 1), 10)}:
        root = repository.root_at(session, size)
        assert root == ref.root(all_leaves[:size])
        for seq in {0, size - 1, rng.randrange(size)}:
            proof = repository.inclusion_proof(session, seq, size)
            assert proof == ref.path(seq, all_leaves[:size])
            assert ref.verify_inclusion(seq, size, all_leaves[seq], proof, root)
        first = rng.randint(1, size)
        proof = repository.consistency_proof(session, first, size)
        assert proof == ref.consistency(first, all_leaves[:size])
        first_root = ref.root(all_leaves[:first])
        assert ref.verify_consistency(first, size, first_root, root, proof)
    assert repository.root_at(session, 0) == ref.root([])


def test_each_proof_is_one_statement_reading_the_head_and_log_n_nodes(session, monkeypatch):
    append_n(session, 2100)
    n = repository.head_size(session)
    bound = 2 * (n - 1).bit_length() + 2  # nodes a proof may be made of
    rng = random.Random(11)
    for _ in range(25):
        size = rng.randint(2, n)
        seq = rng.randrange(size)
        first = rng.randint(1, size)
        for call in (
            lambda: repository.inclusion_proof(session, seq, size),
            lambda: repository.consistency_proof(session, first, size),
            lambda: repository.root_at(session, size),
        ):
            with statements(session, monkeypatch) as seen:
                call()
            assert len(seen) == 1, seen  # the head and every node in one statement
            sql, _ = seen[0]
            assert "max(seq)" in sql
            lists = re.findall(r"IN \(([0-9, ]*)\)", sql)  # the nodes' indexes, inlined
            assert sum(len(found.split(",")) for found in lists) <= bound, sql
            # and the leaves: those in the proof, and those below its nodes of levels
            # 1 to 3 (computed, not stored), which lie in at most two aligned blocks
            # of 2^LOWEST_STORED_LEVEL leaves (around seq or first, and the tree's end)
            spans = re.findall(r"seq BETWEEN ([0-9]+) AND ([0-9]+)", sql)
            leaves = sum(int(b) - int(a) + 1 for a, b in spans)
            leaves += len(re.findall(r"seq = [0-9]+", sql))
            assert leaves <= 2 << LOWEST_STORED_LEVEL, sql


def test_a_proof_beyond_the_head_is_refused_before_any_node_is_required(session):
    append_n(session, 6)
    head = repository.head_size(session)
    with pytest.raises(TreeSizeOutOfRange):
        repository.inclusion_proof(session, 0, head + 5)
    with pytest.raises(TreeSizeOutOfRange):
        repository.consistency_proof(session, 1, head + 5)
    with pytest.raises(TreeSizeOutOfRange):
        repository.root_at(session, head + 5)


def test_a_missing_node_is_reported_as_corruption(session):
    append_n(session, 4)
    n = repository.head_size(session)
    with pytest.raises(LedgerStateCorrupt, match="missing"):
        repository.fetch_nodes(session, [(1, n)])  # not complete yet, so not stored


def test_errors_for_entries_and_proofs_out_of_range(session):
    append_n(session, 5)
    head = repository.head_size(session)

    with pytest.raises(SeqOutOfRange) as exc:
        repository.get_entry(session, head)
    assert exc.value.status == 404
    assert exc.value.slug == "seq-out-of-range"
    with pytest.raises(SeqOutOfRange):
        repository.get_entry(session, -1)
    with pytest.raises(SeqOutOfRange):
        repository.inclusion_proof(session, head + 3, head)

    for size in (0, head + 1, head - 5):  # zero, beyond the head, not above the seq
        with pytest.raises(TreeSizeOutOfRange) as exc:
            repository.inclusion_proof(session, head - 4, size)
        assert exc.value.status == 422
        assert exc.value.errors[0]["field"] == "tree_size"
    with pytest.raises(TreeSizeOutOfRange):
        repository.root_at(session, head + 1)

    for first, second in ((0, 3), (-2, 3), (4, 3)):
        with pytest.raises(InvalidConsistencyRange) as exc:
            repository.consistency_proof(session, first, second)
        assert exc.value.status == 422
        assert exc.value.slug == "invalid-consistency-range"
        assert exc.value.errors[0]["field"] == "first"
    with pytest.raises(TreeSizeOutOfRange) as exc:
        repository.consistency_proof(session, 1, head + 1)
    assert exc.value.errors[0]["field"] == "second"
    assert repository.consistency_proof(session, head, head) == []


def test_listing_filters_and_pages(session):
    head = repository.head_size(session)
    append_entries(session, items(4, subject="contract:A", kind="contract.signed"))
    append_entries(session, items(3, subject="contract:B", kind="contract.signed"))
    append_entries(session, items(2, subject="contract:A", kind="contract.activated"))

    a = repository.entries(session, subject="contract:A", limit=100)
    assert [e.seq for e in a] == [head, head + 1, head + 2, head + 3, head + 7, head + 8]
    signed_a = repository.entries(session, subject="contract:A", kind="contract.signed", limit=100)
    assert len(signed_a) == 4
    page = repository.entries(session, subject="contract:A", after_seq=head + 1, limit=3)
    assert [e.seq for e in page] == [head + 2, head + 3, head + 7]
    newest = repository.entries(session, kind="contract.signed", newest_first=True, limit=2)
    assert [e.seq for e in newest] == [head + 6, head + 5]
    older = repository.entries(
        session, kind="contract.signed", newest_first=True, before_seq=head + 5, limit=2
    )
    assert [e.seq for e in older] == [head + 4, head + 3]
    assert repository.entries(session, subject="contract:none", limit=10) == []
    assert repository.get_entry(session, head + 4).subject == "contract:B"
    assert repository.head_size(session) == head + 9
