"""Concurrent writers never fork the ledger.

8 writers x 500 appends against the real PostgreSQL (when the test database is
PostgreSQL; a smaller run on SQLite otherwise), each append its own committed
transaction, half of the writers appending in batches. The ledger refuses DELETE,
so the run uses a scratch database (PostgreSQL: created next to the test database
and dropped afterwards; SQLite: a temporary file), migrated like any other. An
unreachable PostgreSQL fails this test; it is never skipped.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from mindlinks.db import make_session_factory, transaction
from mindlinks.ledger import repository, service
from mindlinks.ledger.integrity import verify_ledger
from mindlinks.ledger.models import LedgerEntry
from mindlinks.ledger.service import NewEntry, append_entries, append_entry
from tests.ledger import reference as ref

BATCH = 10


def test_concurrent_writers_build_one_gapless_valid_tree(scratch_engine: Engine):
    postgres = scratch_engine.dialect.name == "postgresql"
    writers, per_writer = (8, 500) if postgres else (4, 100)
    factory = make_session_factory(scratch_engine)
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            start.wait()
            if w % 2 == 0:  # one transaction per append
                for i in range(per_writer):
                    with transaction(factory) as session:
                        append_entry(
                            session, "test.concurrent", f"writer:{w}", f"user:w{w}", {"i": i}
                        )
            else:  # batches, one transaction each
                for b in range(0, per_writer, BATCH):
                    batch = [
                        NewEntry("test.concurrent", f"writer:{w}", f"user:w{w}", {"i": i})
                        for i in range(b, b + BATCH)
                    ]
                    with transaction(factory) as session:
                        append_entries(session, batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    total = writers * per_writer
    with factory() as session:
        report = verify_ledger(session)
        assert (report.ok, report.reason) == (True, None)
        assert report.entries_checked == total
        assert repository.head_size(session) == total

        rows = session.execute(
            select(LedgerEntry.seq, LedgerEntry.subject, LedgerEntry.entry_bytes).order_by(
                LedgerEntry.seq
            )
        ).all()
        assert [r.seq for r in rows] == list(range(total))  # gapless, no duplicate
        seen: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            seen[row.subject].append(json.loads(row.entry_bytes)["payload"]["i"])
        # every append landed exactly once, in each writer's own order
        assert seen == {f"writer:{w}": list(range(per_writer)) for w in range(writers)}

        leaves = list(session.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.seq)))
        assert repository.root_at(session, total) == ref.root(leaves)
        half = total // 2
        proof = repository.consistency_proof(session, half, total)
        assert ref.verify_consistency(half, total, ref.root(leaves[:half]), ref.root(leaves), proof)


def test_without_the_lock_a_stale_head_is_an_error_never_a_fork(scratch_engine, monkeypatch):
    """The seq primary key is the backstop: racing writers that skip the lock get
    IntegrityErrors (PostgreSQL; SQLite's BEGIN IMMEDIATE still queues them), and
    whatever committed is one valid tree."""
    monkeypatch.setattr(service, "_lock_appends", lambda session: None)
    factory = make_session_factory(scratch_engine)
    writers, per_writer = 4, 60
    start = threading.Barrier(writers)
    committed = [0] * writers
    conflicts = [0] * writers

    def write(w: int) -> None:
        start.wait()
        for i in range(per_writer):
            try:
                with transaction(factory) as session:
                    append_entry(session, "test.racing", f"writer:{w}", "system", {"i": i})
                committed[w] += 1
            except IntegrityError:
                conflicts[w] += 1

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with factory() as session:
        report = verify_ledger(session)
        assert report.ok, report.reason
        assert report.entries_checked == sum(committed)
    assert sum(committed) + sum(conflicts) == writers * per_writer
