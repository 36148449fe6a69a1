"""The queue and the sequencer: appends queue (PostgreSQL) or integrate at once
(SQLite); a commit integrates what it queued; the database guards the queue.

Tests run in the rolled-back `session` (its commits are savepoints) unless they need
two engines, which use a scratch database.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import rfc8785
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from mindlinks.db import make_engine, make_session_factory, transaction
from mindlinks.jobs.service import PERIODIC, enqueue
from mindlinks.ledger import integrity, repository, sequencer, store
from mindlinks.ledger.errors import LedgerEntryInvalid
from mindlinks.ledger.models import LedgerEntry, LedgerNode, LedgerPending, LedgerSequenced
from mindlinks.ledger.service import NewEntry, append_entries, append_entry, seq_of
from mindlinks.ledger.tasks import integrate_pending_job
from tests.factories import run_jobs
from tests.ledger import reference as ref
from tests.ledger.db_helpers import dialect, items, rows_of


def postgres_only(session) -> None:
    if dialect(session) != "postgresql":
        pytest.skip("only PostgreSQL queues appends; SQLite integrates them at once")


def queued(session, pending_id: int) -> bool:
    """Whether the row is still in the queue (raw SQL: no integration on the way)."""
    count = session.execute(
        text("SELECT count(*) FROM ledger_pending WHERE id = :id"), {"id": pending_id}
    ).scalar()
    return count == 1


def last_seq(session) -> int | None:
    return session.execute(text("SELECT max(seq) FROM ledger_entries")).scalar()


# -- what an append writes ------------------------------------------------------------


def test_on_postgres_an_append_queues_its_content_and_nothing_else(session):
    postgres_only(session)
    before = last_seq(session)
    payload = {"contract_id": "01JABC", "amount_minor": 12500, "é": ["ü", None]}
    entry = append_entry(session, "contract.signed", "contract:01JABC", "user:01JU", payload)

    assert entry.seq is None
    assert entry.pending_id > 0
    row = session.get(LedgerPending, entry.pending_id)
    assert (row.kind, row.subject, row.actor) == ("contract.signed", "contract:01JABC", "user:01JU")
    assert row.recorded_at == entry.recorded_at
    assert row.payload == rfc8785.dumps(payload)  # the bytes the entry will embed
    assert last_seq(session) == before  # no entry, no node, no lock (see test_service)


def test_on_sqlite_appends_are_integrated_at_once_and_numbered_after_the_last(session):
    if dialect(session) != "sqlite":
        pytest.skip("SQLite's strategy")
    first = append_entries(session, items(3))
    second = append_entries(session, items(2, start=3))
    numbers = [a.pending_id for a in first + second]
    assert numbers == list(range(numbers[0], numbers[0] + 5))
    seqs = [a.seq for a in first + second]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    assert [seq_of(session, n) for n in numbers] == seqs
    assert session.scalar(select(func.count()).select_from(LedgerPending)) == 0


def test_seq_of_an_unknown_pending_id_is_none(session):
    assert seq_of(session, 2**62) is None


# -- when entries are integrated --------------------------------------------------------


def test_the_commit_that_queued_entries_integrates_them(session):
    postgres_only(session)
    entries = append_entries(session, items(3))
    assert all(queued(session, e.pending_id) for e in entries)
    session.commit()  # a savepoint in this fixture; the hook runs as after a real commit
    assert sequencer.QUEUED_KEY not in session.info
    assert not any(queued(session, e.pending_id) for e in entries)
    seqs = [seq_of(session, e.pending_id) for e in entries]
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    assert integrity.verify_ledger(session).ok


def test_a_savepoint_commit_is_not_the_commit_that_integrates(session):
    postgres_only(session)
    entry = append_entry(session, "test.appended", "contract:T", "system", {})
    with session.begin_nested():  # as `jobs.enqueue` does after an append
        pass
    assert queued(session, entry.pending_id)
    assert seq_of(session, entry.pending_id) is not None  # read-your-writes
    assert not queued(session, entry.pending_id)


def test_a_rolled_back_transaction_forgets_what_it_queued(session):
    postgres_only(session)
    entry = append_entry(session, "test.appended", "contract:T", "system", {})
    session.rollback()
    assert sequencer.QUEUED_KEY not in session.info
    assert not queued(session, entry.pending_id)
    assert seq_of(session, entry.pending_id) is None


def test_reads_in_the_appending_transaction_see_its_entries(session):
    entries = append_entries(session, items(2, subject="contract:READ-OWN"))
    listed = repository.entries(session, subject="contract:READ-OWN", limit=10)
    assert [e.seq for e in listed] == [e.seq for e in rows_of(session, entries)]
    assert [json.loads(e.entry_bytes)["payload"]["n"] for e in listed] == [0, 1]


def test_a_failed_integration_after_commit_is_logged_and_left_to_the_safety_net(
    session, app_context, monkeypatch
):
    postgres_only(session)
    failures: list[str] = []

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(sequencer, "_integrate_queue", broken)
    monkeypatch.setattr(sequencer.log, "exception", lambda event, **kw: failures.append(event))
    entry = append_entry(session, "test.appended", "contract:T", "system", {})
    session.commit()  # the caller's commit stands
    monkeypatch.undo()
    assert failures == ["ledger_integration_failed"]
    assert queued(session, entry.pending_id)

    enqueue(session, "ledger.integrate_pending", key="safety-net-test")
    run_jobs(session, app_context, names=("ledger.integrate_pending",))
    assert not queued(session, entry.pending_id)
    assert seq_of(session, entry.pending_id) is not None
    assert integrity.verify_ledger(session).ok


def test_the_safety_net_runs_every_ten_seconds(settings):
    assert PERIODIC["ledger.integrate_pending"].every_seconds(settings) == 10
    assert integrate_pending_job is not None


def test_after_a_real_commit_the_sequencer_gives_the_entries_their_seq(scratch_engine: Engine):
    factory = make_session_factory(scratch_engine)
    with transaction(factory) as session:
        entries = append_entries(session, items(5))
        entries.append(append_entry(session, "test.appended", "contract:T", "system", {}))
    assert sequencer.wait_integrated(scratch_engine, timeout=30)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(LedgerPending)) == 0
        assert [seq_of(session, e.pending_id) for e in entries] == list(range(6))
        assert integrity.verify_ledger(session).ok


def test_a_commit_does_not_wait_for_its_integration(scratch_engine: Engine):
    """The caller's commit is the append's only synchronous work: it returns even
    while another transaction (here of this very thread) holds the ledger lock, and
    the engine's sequencer integrates the entry once the lock is free."""
    if scratch_engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL queues appends")
    factory = make_session_factory(scratch_engine)
    with factory() as holder:
        sequencer.integrate_pending(holder)  # holds the lock until it ends
        with transaction(factory) as session:
            entry = append_entry(session, "test.appended", "contract:T", "system", {})
        ticket = session.info[sequencer.TICKET_KEY]
        worker = sequencer.background(scratch_engine)
        assert not worker.wait(ticket, timeout=0.3)  # queued behind the lock
        with factory() as reader:
            assert seq_of(reader, entry.pending_id) is None
        holder.commit()
    assert worker.wait(ticket, timeout=30)
    with factory() as session:
        assert seq_of(session, entry.pending_id) == 0


def test_a_failed_background_pass_is_logged_and_retried(scratch_engine: Engine, monkeypatch):
    if scratch_engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL queues appends")
    failures: list[str] = []
    monkeypatch.setattr(sequencer.log, "exception", lambda event, **kw: failures.append(event))
    monkeypatch.setattr(sequencer, "RETRY_SECONDS", 0.05)
    real = sequencer._integrate_queue
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(sequencer, "_integrate_queue", flaky)
    factory = make_session_factory(scratch_engine)
    with transaction(factory) as session:
        entry = append_entry(session, "test.appended", "contract:T", "system", {})
    assert sequencer.wait_integrated(scratch_engine, timeout=30)
    assert failures == ["ledger_integration_failed"]
    assert sequencer.background(scratch_engine).failures == 1
    with factory() as session:
        assert seq_of(session, entry.pending_id) == 0


def test_the_sequencer_thread_ends_with_its_engine(scratch_engine: Engine):
    if scratch_engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL queues appends")
    engine = make_engine(scratch_engine.url.render_as_string(hide_password=False))
    with transaction(make_session_factory(engine)) as session:
        append_entry(session, "test.appended", "contract:T", "system", {})
    worker = sequencer.background(engine)
    assert worker.wait(timeout=30)
    thread = worker._thread
    assert thread is not None and thread.is_alive()
    engine.dispose()
    thread.join(timeout=5)
    assert not thread.is_alive()


# -- the sequencer's guarantees -------------------------------------------------------


def test_a_queued_entry_is_never_integrated_twice(session):
    if dialect(session) != "postgresql":
        pytest.skip("SQLite queues nothing: its entries are integrated as they are appended")
    [entry] = rows_of(session, [append_entry(session, "test.appended", "contract:T", "system", {})])
    pending_id = session.scalar(
        select(LedgerSequenced.pending_id).where(LedgerSequenced.seq == entry.seq)
    )
    size, head_leaf = store.read_head(store.on(session.connection()))
    again = sequencer.Queued(
        pending_id, "test.appended", "contract:T", "system", entry.recorded_at, "x", b"{", b"}"
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        sequencer.integrate(store.on(session.connection()), [again], size, head_leaf)
    assert repository.head_size(session) == size


def test_a_frontier_cached_by_another_engine_is_not_trusted(scratch_engine: Engine):
    """Two processes append to one ledger: each one's cached frontier goes stale
    when the other appends, and the head read under the lock shows it."""
    other = make_engine(scratch_engine.url.render_as_string(hide_password=False))
    try:
        mine, theirs = make_session_factory(scratch_engine), make_session_factory(other)
        turns = ((mine, scratch_engine, 3, 0), (theirs, other, 16, 3))
        for factory, engine, n, start in (
            *turns,
            (mine, scratch_engine, 14, 19),
            (theirs, other, 1, 33),
        ):
            with transaction(factory) as session:
                append_entries(session, items(n, start=start))
            assert sequencer.wait_integrated(engine, timeout=30)  # each in its turn
        with mine() as session:
            leaves = list(session.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.seq)))
            assert len(leaves) == 34
            stored = {
                (lv, ix): h
                for lv, ix, h in session.execute(
                    select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash)
                )
            }
            expected = {k: v for k, v in ref.complete_subtrees(leaves).items() if k[0] >= 4}
            assert stored == expected
            assert integrity.verify_ledger(session).ok
    finally:
        other.dispose()


def test_integration_takes_committed_entries_in_queue_order(scratch_engine: Engine):
    if scratch_engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL queues appends")
    factory = make_session_factory(scratch_engine)
    # Queue without the after-commit integration, as a crash right after commit would.
    with factory() as session:
        entries = append_entries(session, items(5))
        session.info.pop(sequencer.QUEUED_KEY)
        session.commit()
    with factory() as session:
        assert [seq_of(session, e.pending_id) for e in entries] == [None] * 5
    with transaction(factory) as session:
        result = sequencer.integrate_pending(session, limit=3)
    assert (result.count, result.first_seq, result.last_pending_id) == (
        3,
        0,
        entries[2].pending_id,
    )
    sequencer.integrate_committed(scratch_engine)
    with factory() as session:
        assert [seq_of(session, e.pending_id) for e in entries] == [0, 1, 2, 3, 4]
        payloads = [
            json.loads(b)["payload"]["n"]
            for b in session.scalars(select(LedgerEntry.entry_bytes).order_by(LedgerEntry.seq))
        ]
        assert payloads == [0, 1, 2, 3, 4]


# -- the database guards the queue ------------------------------------------------------


@pytest.fixture
def queued_row(session) -> int:
    """A queued row written directly (SQLite never queues one itself)."""
    row = LedgerPending(
        kind="test.appended",
        subject="contract:T",
        actor="system",
        recorded_at=datetime(2026, 11, 30, tzinfo=UTC),
        payload=b"{}",
    )
    session.add(row)
    session.flush()
    return row.id


def refused(session, sql: str, params: dict | None = None) -> DBAPIError:
    with pytest.raises(DBAPIError) as exc, session.begin_nested():
        session.execute(text(sql), params or {})
    return exc.value


def test_a_queued_row_cannot_be_changed(session, queued_row):
    error = refused(
        session, "UPDATE ledger_pending SET actor = 'x' WHERE id = :id", {"id": queued_row}
    )
    assert isinstance(error, IntegrityError)
    assert session.get(LedgerPending, queued_row).actor == "system"


def test_a_queued_row_leaves_the_queue_only_by_being_integrated(session, queued_row):
    error = refused(session, "DELETE FROM ledger_pending WHERE id = :id", {"id": queued_row})
    assert isinstance(error, IntegrityError)
    assert "never integrated" in str(error)
    assert queued(session, queued_row)
    if dialect(session) == "postgresql":
        refused(session, "TRUNCATE ledger_pending")
        assert queued(session, queued_row)
        result = sequencer.integrate_pending(session)
        assert result.count >= 1
        assert not queued(session, queued_row)
        assert seq_of(session, queued_row) is not None


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_sequenced SET seq = seq + 1",
        "DELETE FROM ledger_sequenced",
        "TRUNCATE ledger_sequenced",
        "INSERT OR REPLACE INTO ledger_sequenced (pending_id, seq) "
        "SELECT pending_id, seq FROM ledger_sequenced",
    ],
)
def test_which_entry_got_which_seq_cannot_be_rewritten(session, sql):
    if "TRUNCATE" in sql and dialect(session) != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    if "OR REPLACE" in sql and dialect(session) != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's")
    rows_of(session, append_entries(session, items(2)))
    if dialect(session) == "sqlite":  # numbers given before 0009_ledger_sqlite_chain
        session.execute(text("INSERT INTO ledger_sequenced (pending_id, seq) VALUES (1, 0)"))
    before = session.scalar(select(func.count()).select_from(LedgerSequenced))
    error = refused(session, sql)
    assert isinstance(error, IntegrityError)
    assert "append-only" in str(error)
    assert session.scalar(select(func.count()).select_from(LedgerSequenced)) == before


def test_a_payload_too_big_for_an_entry_is_refused_before_it_is_queued(session):
    pending = session.scalar(select(func.count()).select_from(LedgerPending))
    with pytest.raises(LedgerEntryInvalid, match="limit"):
        append_entries(
            session,
            [
                NewEntry("test.appended", "contract:T", "system", {"i": 1}),
                NewEntry("test.appended", "contract:T", "system", {"blob": "x" * 66_000}),
            ],
        )
    assert session.scalar(select(func.count()).select_from(LedgerPending)) == pending


def test_entries_committed_just_before_the_process_exits_get_their_seq(scratch_engine: Engine):
    """The sequencer thread is a daemon; at exit the process waits (briefly) for it
    to integrate what was committed, instead of leaving it to the periodic job."""
    if scratch_engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL queues appends")
    url = scratch_engine.url.render_as_string(hide_password=False)
    script = (
        "import sys\n"
        "from mindlinks.db import make_engine, make_session_factory, transaction\n"
        "from mindlinks.ledger.service import append_entry\n"
        "factory = make_session_factory(make_engine(sys.argv[1]))\n"
        "with transaction(factory) as session:\n"
        "    entry = append_entry(session, 'test.appended', 'contract:T', 'system', {})\n"
        "print(entry.pending_id, entry.seq)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    pending_id, seq = done.stdout.split()
    assert seq == "None"  # the process ended before its seq was known to it
    with make_session_factory(scratch_engine)() as session:
        assert seq_of(session, int(pending_id)) == 0
        assert session.scalar(select(func.count()).select_from(LedgerPending)) == 0
