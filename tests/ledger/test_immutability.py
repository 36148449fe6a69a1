"""The database refuses rewrites; a rewrite behind its back is found by verify_ledger.

Each refused statement runs in a savepoint (a failed statement aborts the whole
transaction on PostgreSQL). Tests that switch a trigger off do it inside the
test's transaction, which is rolled back afterwards.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from mindlinks.db import make_session_factory, transaction
from mindlinks.ledger import merkle, repository, sequencer
from mindlinks.ledger.integrity import verify_ledger
from mindlinks.ledger.models import LOWEST_STORED_LEVEL, LedgerEntry, LedgerNode
from mindlinks.ledger.service import append_entries
from tests.ledger import reference as ref
from tests.ledger.db_helpers import add_checkpoint, append_n, dialect, items, lift_guard

REWRITES = {
    "ledger_entries": [
        "UPDATE ledger_entries SET kind = 'x.y' WHERE seq = :seq",
        "DELETE FROM ledger_entries WHERE seq = :seq",
        "DELETE FROM ledger_entries",
    ],
    "ledger_nodes": [
        "UPDATE ledger_nodes SET hash = hash WHERE level = 4",
        "DELETE FROM ledger_nodes WHERE level = 4",
    ],
    "ledger_checkpoints": [
        "UPDATE ledger_checkpoints SET key_id = 'deadbeef' WHERE tree_size = :size",
        "DELETE FROM ledger_checkpoints WHERE tree_size = :size",
    ],
}


@pytest.fixture
def ledger(session):
    append_n(session, 16)  # a stored node: levels from LOWEST_STORED_LEVEL (4)
    head = repository.head_size(session)
    add_checkpoint(session, head, repository.root_at(session, head))
    return {"seq": head - 1, "size": head}


def refused(session, sql: str, params: dict | None = None) -> DBAPIError:
    with pytest.raises(DBAPIError) as exc, session.begin_nested():
        session.execute(text(sql), params or {})
    assert "append-only" in str(exc.value)
    return exc.value


@pytest.mark.parametrize(("table", "sql"), [(t, s) for t, sqls in REWRITES.items() for s in sqls])
def test_update_and_delete_are_refused(session, ledger, table, sql):
    before = session.scalar(select(func.count()).select_from(text(table)))
    error = refused(session, sql, {k: v for k, v in ledger.items() if f":{k}" in sql})
    assert isinstance(error, IntegrityError)  # SQLSTATE 23001 / SQLITE_CONSTRAINT
    assert session.scalar(select(func.count()).select_from(text(table))) == before
    assert verify_ledger(session).ok


@pytest.mark.parametrize("table", list(REWRITES))
def test_truncate_is_refused_on_postgres(session, ledger, table):
    if dialect(session) != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (its DELETE without WHERE is refused above)")
    refused(session, f"TRUNCATE {table}")
    refused(session, f"TRUNCATE {table} CASCADE")


def test_upserts_are_refused(session, ledger):
    refused(
        session,
        "INSERT INTO ledger_checkpoints (tree_size, root_hash, issued_at, key_id, note) "
        "SELECT tree_size, root_hash, issued_at, 'ffffffff', note FROM ledger_checkpoints "
        "WHERE tree_size = :size ON CONFLICT (tree_size) DO UPDATE SET key_id = 'ffffffff'",
        {"size": ledger["size"]},
    )


def test_insert_or_replace_is_refused_on_sqlite(session, ledger):
    if dialect(session) != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's")
    refused(
        session,
        "INSERT OR REPLACE INTO ledger_entries "
        "SELECT seq, 'x.y', subject, actor, recorded_at, entry_bytes, leaf_hash, prev_hash "
        "FROM ledger_entries WHERE seq = :seq",
        {"seq": ledger["seq"]},
    )
    refused(
        session,
        "REPLACE INTO ledger_nodes SELECT level, idx, hash FROM ledger_nodes WHERE level = 4",
    )
    assert repository.get_entry(session, ledger["seq"]).kind == "test.appended"


CHAINED_INSERT = (
    "INSERT INTO ledger_entries "
    "SELECT :seq, kind, subject, actor, recorded_at, entry_bytes, leaf_hash, :prev "
    "FROM ledger_entries WHERE seq = 0"
)


def chain_refused(session, params: dict) -> None:
    with pytest.raises(IntegrityError, match="ledger chain: prev_hash"), session.begin_nested():
        session.execute(text(CHAINED_INSERT), params)


def test_sqlite_refuses_an_entry_that_does_not_chain_to_the_one_before(session, ledger):
    """SQLite appends after a cached head; the database vouches for it
    (0009_ledger_sqlite_chain)."""
    if dialect(session) != "sqlite":
        pytest.skip("PostgreSQL's sequencer reads the head under its lock")
    size = ledger["size"]
    last = repository.get_entry(session, size - 1).leaf_hash
    before_last = repository.get_entry(session, size - 2).leaf_hash
    chain_refused(session, {"seq": size, "prev": before_last})  # a stale head
    chain_refused(session, {"seq": size + 1, "prev": last})  # a gap
    chain_refused(session, {"seq": 0 + size + 5, "prev": bytes(32)})  # a second genesis
    with pytest.raises(IntegrityError, match="the key exists"), session.begin_nested():
        session.execute(text(CHAINED_INSERT), {"seq": size - 1, "prev": before_last})
    assert repository.head_size(session) == size
    # The right prev_hash at the right seq is the one insert it lets through.
    session.execute(text(CHAINED_INSERT), {"seq": size, "prev": last})
    assert repository.head_size(session) == size + 1


# -- rewrites behind the database's back are found ---------------------------------


def flip_payload_byte(session, seq: int) -> None:
    entry = repository.get_entry(session, seq)
    data = bytearray(entry.entry_bytes)
    at = data.index(b'"n":') + 4  # a digit of the payload's counter
    data[at] = ord("7") if data[at] != ord("7") else ord("8")
    session.execute(
        text("UPDATE ledger_entries SET entry_bytes = :b WHERE seq = :seq"),
        {"b": bytes(data), "seq": seq},
    )
    session.expire_all()


def test_one_changed_payload_byte_is_reported_at_its_seq(session):
    append_n(session, 40)
    head = repository.head_size(session)
    assert verify_ledger(session).ok
    target = head - 23
    lift_guard(session, "ledger_entries", "update")
    flip_payload_byte(session, target)

    report = verify_ledger(session)
    assert not report.ok
    assert report.first_bad_seq == target
    assert report.entries_checked == target
    assert "leaf hash" in report.reason


def test_a_rewrite_that_also_fixes_the_leaf_hash_breaks_the_chain(session):
    append_n(session, 10)
    head = repository.head_size(session)
    target = head - 4
    lift_guard(session, "ledger_entries", "update")
    flip_payload_byte(session, target)
    new_leaf = merkle.leaf_hash(repository.get_entry(session, target).entry_bytes)
    session.execute(
        text("UPDATE ledger_entries SET leaf_hash = :h WHERE seq = :seq"),
        {"h": new_leaf, "seq": target},
    )
    report = verify_ledger(session)
    # The node over (target, target ^ 1), written by the append of target | 1, and the
    # chain of entry target + 1 no longer match: the first of them is reported.
    assert report.first_bad_seq == target | 1
    assert "tree node (1," in report.reason or "prev_hash" in report.reason


def test_a_deleted_entry_is_reported_as_a_gap(session):
    append_n(session, 12)
    head = repository.head_size(session)
    lift_guard(session, "ledger_entries", "delete")
    session.execute(text("DELETE FROM ledger_entries WHERE seq = :s"), {"s": head - 5})
    report = verify_ledger(session)
    assert (report.ok, report.first_bad_seq) == (False, head - 5)
    assert "missing" in report.reason


def test_a_truncated_tail_is_found_by_the_checkpoint_and_the_nodes(session):
    append_n(session, 12)
    head = repository.head_size(session)
    add_checkpoint(session, head, repository.root_at(session, head))
    lift_guard(session, "ledger_entries", "delete")
    session.execute(text("DELETE FROM ledger_entries WHERE seq >= :s"), {"s": head - 3})
    report = verify_ledger(session)
    assert (report.ok, report.first_bad_seq) == (False, head - 3)


def test_a_changed_column_is_reported(session):
    append_n(session, 5)
    head = repository.head_size(session)
    lift_guard(session, "ledger_entries", "update")
    session.execute(
        text("UPDATE ledger_entries SET subject = 'contract:OTHER' WHERE seq = :s"), {"s": head - 2}
    )
    report = verify_ledger(session)
    assert report.first_bad_seq == head - 2
    assert "columns" in report.reason


def test_a_changed_node_is_reported_at_the_last_leaf_it_covers(session):
    append_n(session, 64)
    head = repository.head_size(session)
    level, index = 4, (head - 40) >> 4
    lift_guard(session, "ledger_nodes", "update")
    session.execute(
        text("UPDATE ledger_nodes SET hash = :h WHERE level = :l AND idx = :i"),
        {"h": bytes(32), "l": level, "i": index},
    )
    report = verify_ledger(session)
    assert report.first_bad_seq == ((index + 1) << level) - 1
    assert f"tree node ({level}, {index}) has a wrong hash" in report.reason


def test_a_checkpoint_with_another_root_is_reported(session):
    append_n(session, 9)
    head = repository.head_size(session)
    good = repository.root_at(session, head - 2)
    add_checkpoint(session, head - 2, good)
    add_checkpoint(session, head, bytes(32))
    report = verify_ledger(session)
    assert report.first_bad_seq == head - 1
    assert f"checkpoint {head}" in report.reason
    assert report.checkpoints_checked >= 2


def test_a_checkpoint_note_that_states_another_root_is_reported(session):
    append_n(session, 3)
    head = repository.head_size(session)
    add_checkpoint(session, head, repository.root_at(session, head), note_root=bytes(32))
    report = verify_ledger(session)
    assert report.first_bad_seq == head - 1
    assert "note" in report.reason


def test_nodes_stay_consistent_with_entries_row_counts(session):
    append_n(session, 33)
    n = repository.head_size(session)
    nodes = session.scalar(select(func.count()).select_from(LedgerNode))
    assert nodes == sum(n >> level for level in range(LOWEST_STORED_LEVEL, n.bit_length()))
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == n


# -- verification across chunks (small chunks exercise the upper levels and the stack)


@pytest.mark.parametrize("chunk_level", [1, 2, 3, 5])
def test_verification_over_many_chunks_checks_every_node_and_checkpoint(session, chunk_level):
    append_n(session, 150)
    n = repository.head_size(session)
    sizes = sorted({1, 2, 7, 8, 9, 64, n - 67, n - 1, n} - {0})
    for size in sizes:
        add_checkpoint(session, size, repository.root_at(session, size))
    seen = []
    report = verify_ledger(
        session, lambda done, total: seen.append((done, total)), chunk_level=chunk_level
    )
    assert (report.ok, report.reason, report.entries_checked) == (True, None, n)
    assert report.checkpoints_checked >= len(sizes)
    assert seen[-1] == (n, n)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


@pytest.mark.parametrize("chunk_level", [2, 4])
def test_a_changed_upper_node_is_found_with_small_chunks(session, chunk_level):
    append_n(session, 130)
    n = repository.head_size(session)
    level = chunk_level + 2  # above the chunk: checked from the running stack
    index = (n >> level) - 1
    lift_guard(session, "ledger_nodes", "update")
    session.execute(
        text("UPDATE ledger_nodes SET hash = :h WHERE level = :l AND idx = :i"),
        {"h": bytes(32), "l": level, "i": index},
    )
    report = verify_ledger(session, chunk_level=chunk_level)
    assert report.first_bad_seq == ((index + 1) << level) - 1
    assert f"tree node ({level}, {index})" in report.reason


def test_a_wrong_checkpoint_spanning_chunks_is_found(session):
    append_n(session, 100)
    n = repository.head_size(session)
    add_checkpoint(session, n - 30, repository.root_at(session, n - 31))
    report = verify_ledger(session, chunk_level=3)
    assert report.first_bad_seq == n - 31
    assert f"checkpoint {n - 30}" in report.reason


def test_an_extra_node_beyond_the_head_is_found(session):
    append_n(session, 6)
    n = repository.head_size(session)
    session.execute(
        text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
        {"l": 1, "i": (n >> 1) + 5, "h": bytes(32)},
    )
    report = verify_ledger(session)
    assert (report.ok, report.first_bad_seq) == (False, n)
    assert "tree nodes stored" in report.reason


def trigger_names(engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            sql = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        return {row[0] for row in conn.execute(text(sql)) if row[0].startswith("ledger_")}


def test_the_migration_downgrades_and_upgrades_cleanly(scratch_engine):
    from sqlalchemy import inspect

    from mindlinks.migrations.runner import downgrade, upgrade

    per_table = 3  # no_update, no_delete and no_truncate / no_replace
    queue_tables = {"ledger_pending", "ledger_sequenced"}  # 0006_ledger_pending
    assert len(trigger_names(scratch_engine)) == 5 * per_table
    downgrade(scratch_engine, "0005_ledger")
    assert not queue_tables & set(inspect(scratch_engine).get_table_names())
    assert len(trigger_names(scratch_engine)) == 3 * per_table
    downgrade(scratch_engine, "0004_merge")
    assert not {"ledger_entries", "ledger_nodes", "ledger_checkpoints"} & set(
        inspect(scratch_engine).get_table_names()
    )
    assert trigger_names(scratch_engine) == set()
    upgrade(scratch_engine)
    assert len(trigger_names(scratch_engine)) == 5 * per_table


def test_nodes_below_level_4_are_pruned_by_0010_and_written_again_by_its_downgrade(
    scratch_engine,
):
    from mindlinks.migrations.runner import downgrade, upgrade

    factory = make_session_factory(scratch_engine)
    with transaction(factory) as session:
        append_entries(session, items(45))
    assert sequencer.wait_integrated(scratch_engine, timeout=30)

    def stored() -> dict[tuple[int, int], bytes]:
        with scratch_engine.connect() as conn:
            rows = conn.execute(select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash))
            return {(level, index): bytes(h) for level, index, h in rows}

    with scratch_engine.connect() as conn:
        leaves = list(conn.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.seq)))
    every = {k: v for k, v in ref.complete_subtrees(leaves).items() if k[0] >= 1}
    from_4 = {k: v for k, v in every.items() if k[0] >= LOWEST_STORED_LEVEL}
    assert stored() == from_4

    downgrade(scratch_engine, "0009_ledger_sqlite_chain")
    assert stored() == every  # what 0009's code had written
    upgrade(scratch_engine)
    assert stored() == from_4
    with factory() as session:
        refused(session, "DELETE FROM ledger_nodes WHERE level = 4")  # the guard is back
        assert verify_ledger(session).ok
