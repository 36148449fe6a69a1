"""Concurrent writers never fork the ledger.

8 writers x 500 appends against the real PostgreSQL (when the test database is
PostgreSQL; a smaller run on SQLite otherwise), each append its own committed
transaction, half of the writers appending in batches. On PostgreSQL the appends
only queue their entries, without the ledger lock, and every commit's
integration races the others' for the lock. The ledger refuses DELETE, so the run
uses a scratch database (PostgreSQL: created next to the test database and
dropped afterwards; SQLite: a temporary file), migrated like any other. An
unreachable PostgreSQL fails this test; it is never skipped.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from mindlinks.db import make_engine, make_session_factory, transaction
from mindlinks.ledger import repository, sequencer, store
from mindlinks.ledger.integrity import verify_ledger
from mindlinks.ledger.models import LedgerEntry, LedgerPending, LedgerSequenced
from mindlinks.ledger.service import NewEntry, append_entries, append_entry, seq_of
from tests.ledger import reference as ref

BATCH = 10


def test_concurrent_writers_build_one_gapless_valid_tree(scratch_engine: Engine):
    postgres = scratch_engine.dialect.name == "postgresql"
    writers, per_writer = (8, 500) if postgres else (4, 100)
    factory = make_session_factory(scratch_engine)
    start = threading.Barrier(writers)
    errors: list[BaseException] = []
    late: list[int] = []  # pending ids without a seq once their integration was done
    appended: list[int] = []

    def write(w: int) -> None:
        try:
            start.wait()
            if w % 2 == 0:  # one transaction per append
                for i in range(per_writer):
                    with transaction(factory) as session:
                        done = [
                            append_entry(
                                session, "test.concurrent", f"writer:{w}", f"user:w{w}", {"i": i}
                            )
                        ]
                    check(done, session.info.get(sequencer.TICKET_KEY))
            else:  # batches, one transaction each
                for b in range(0, per_writer, BATCH):
                    batch = [
                        NewEntry("test.concurrent", f"writer:{w}", f"user:w{w}", {"i": i})
                        for i in range(b, b + BATCH)
                    ]
                    with transaction(factory) as session:
                        done = append_entries(session, batch)
                    check(done, session.info.get(sequencer.TICKET_KEY))
        except BaseException as exc:
            errors.append(exc)

    worker = sequencer.background(scratch_engine)

    def check(done: list, ticket: int | None) -> None:
        # The commit returned before its integration (PostgreSQL); once the
        # engine's sequencer ran a pass covering its ticket, every entry has its
        # seq (SQLite: at once).
        if ticket is not None:
            assert worker.wait(ticket, timeout=60)
        with factory() as session:
            for entry in done:
                appended.append(entry.pending_id)
                if seq_of(session, entry.pending_id) is None:
                    late.append(entry.pending_id)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert late == []

    total = writers * per_writer
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(LedgerPending)) == 0
        numbered = {pid: seq_of(session, pid) for pid in appended}
        assert len(numbered) == len(appended) == total  # every append numbered once
        assert sorted(numbered.values()) == list(range(total))  # type: ignore[type-var]
        if postgres:  # the sequencer's record of it
            recorded = {
                pid: seq
                for pid, seq in session.execute(
                    select(LedgerSequenced.pending_id, LedgerSequenced.seq)
                )
            }
            assert recorded == numbered
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
    """The seq and pending-id primary keys are the backstop: racing integrations
    that skip the lock fail (PostgreSQL; SQLite's BEGIN IMMEDIATE still queues
    them), a queued entry is never integrated twice, and whatever committed is one
    valid tree. The periodic safety net (or the next integration) then takes what
    the failed ones left queued."""
    monkeypatch.setattr(store, "lock", lambda db, timeout=None: None)  # SQLite's path
    # PostgreSQL's integrations take the lock in their first round trip: make it
    # a statement that takes nothing.
    monkeypatch.setattr(store, "_PG_LOCK", "SELECT (%s)::bigint")
    monkeypatch.setattr(
        store, "_PG_LOCK_WITH_TIMEOUT", "SELECT set_config('lock_timeout', %s, true), %s::bigint"
    )
    factory = make_session_factory(scratch_engine)
    writers, per_writer = 4, 60
    start = threading.Barrier(writers)
    committed = [0] * writers
    conflicts = [0] * writers
    url = scratch_engine.url.render_as_string(hide_password=False)

    def write(w: int) -> None:
        # An engine each, as separate processes would have: the threads of one
        # engine combine their integrations, which would hide the race.
        engine = make_engine(url)
        own = make_session_factory(engine)
        start.wait()
        for i in range(per_writer):
            try:
                with transaction(own) as session:
                    append_entry(session, "test.racing", f"writer:{w}", "system", {"i": i})
                committed[w] += 1
            except IntegrityError:
                conflicts[w] += 1
        engine.dispose()

    failures: list[str] = []
    monkeypatch.setattr(
        sequencer.log, "exception", lambda event, **kw: failures.append(event), raising=False
    )
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    monkeypatch.undo()
    with transaction(factory) as session:  # the safety net, with the lock
        sequencer.integrate_pending(session, limit=10_000)
    with factory() as session:
        report = verify_ledger(session)
        assert report.ok, report.reason
        assert session.scalar(select(func.count()).select_from(LedgerPending)) == 0
        assert report.entries_checked == sum(committed)
        if scratch_engine.dialect.name == "postgresql":  # SQLite numbers entries seq + 1
            numbered = list(session.scalars(select(LedgerSequenced.seq)))
            assert sorted(numbered) == list(range(sum(committed)))
    assert sum(committed) + sum(conflicts) == writers * per_writer
    if scratch_engine.dialect.name == "postgresql":
        # Appends queue without any lock: they all commit; the integrations race,
        # and those that lose fail loudly (logged) instead of forking.
        assert sum(conflicts) == 0
        assert set(failures) <= {"ledger_integration_failed"}
