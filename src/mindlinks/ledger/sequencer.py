"""The sequencer: gives queued entries their seq, writes them and their tree nodes.

The design is Certificate Transparency's / Trillian's: appends queue leaves, a
sequencer integrates them. On PostgreSQL `append_entry` writes the entry's content
to `ledger_pending` in the caller's transaction and takes no lock, so concurrent
appends commit (and group-commit) independently. `integrate_pending` then, in one
transaction of its own:

1. takes the transaction-scoped advisory lock (`store.LOCK_KEY`), so integrations
   never run side by side, and only then, in new statements, reads the queue and
   the head: under READ COMMITTED that sees every append and every integration
   committed before the lock was granted (uncommitted appends stay invisible
   until a later run);
2. gives the queued rows, in queue (id) order, the next seqs, builds each entry's
   bytes, leaf hash and `prev_hash`, and the complete subtrees they finish,
   exactly as a direct append always did (`integrate`);
3. inserts the entries, the nodes and `pending id -> seq` rows (`ledger_sequenced`,
   whose primary key refuses a second integration of the same queued row), and
   deletes the queued rows (the database refuses to delete one that was not
   integrated).

A stale head still meets the `seq` primary key: an IntegrityError, never a fork.

When integration runs:
- after the commit of a session that queued entries (`install_hook`, an
  `after_commit` listener), asynchronously: the listener hands a ticket to the
  engine's sequencer thread (`Background`) and returns, so the caller's commit
  (durable: `synchronous_commit` stays on) is the only synchronous write of an
  append, as in Certificate Transparency, where a log integrates queued leaves
  within a maximum merge delay. The thread integrates everything committed
  before its pass began, in one transaction, so concurrent appends share passes
  and batches grow with the load (measured lag: docs/benchmarks.md). Until then
  an appended entry has no seq: `seq_of` answers None, and `wait_integrated`
  waits for it. A failed pass is logged and retried; the periodic job
  `ledger.integrate_pending` (`tasks`, every 10 seconds) takes whatever a crash
  left queued (any process's sequencer takes every committed queued row, not
  only its own). A session bound to a connection whose transaction is managed
  outside it (as the tests' sessions are) integrates right after its commit on
  that connection instead: nobody else can see its rows;
- inside the appending transaction, when it reads the ledger after appending
  (`settle`, called by `repository` and `seq_of`): read-your-writes. That holds
  the lock until the transaction ends, so do it only when the seq is needed now.
  A savepoint's commit (`begin_nested`) is not the data's commit and integrates
  nothing.
Checkpoints are not preceded by an integration: that would hold the lock through
the signing and the time-stamping authority's round trip; entries still queued
go into the next checkpoint.

The head's frontier (the O(log n) complete subtrees an append merges with) is
cached per engine, keyed by (size, head leaf hash) and checked against the head
read under the lock on every integration: the leaf hash commits to the whole
chain, so a match means the same tree; a miss (another process appended, a
rollback) reads it from the database.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import structlog
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from mindlinks.ledger import merkle, store
from mindlinks.ledger.canonical import (
    GENESIS_PREV_HASH,
    assemble_entry,
    entry_parts,
    format_recorded_at,
)
from mindlinks.ledger.models import LOWEST_STORED_LEVEL, LedgerEntry

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = 2000
"""Queued rows one integration takes at most (one transaction, one WAL flush)."""

QUEUED_KEY = "ledger.queued"
"""`session.info` key: the pending ids the session's transaction queued."""


class Queued(NamedTuple):
    """An entry's content, waiting for its seq: `head`/`tail` are its bytes around
    prev_hash, recorded_at and seq (`canonical.entry_parts`). A NamedTuple: one is
    made per appended entry, at a third of a frozen dataclass's cost."""

    pending_id: int
    kind: str
    subject: str
    actor: str
    recorded_at: datetime
    stamp: str
    head: bytes
    tail: bytes


@dataclass(frozen=True, slots=True)
class Integration:
    """What one `integrate_pending` run did: how many queued entries got a seq, the
    first of those seqs, and the highest pending id it took (None when idle)."""

    count: int
    first_seq: int | None
    last_pending_id: int | None


@dataclass(frozen=True, slots=True)
class _Frontier:
    size: int
    head_leaf: bytes | None
    nodes: merkle.Frontier


_FRONTIERS: weakref.WeakKeyDictionary[Engine, _Frontier] = weakref.WeakKeyDictionary()


def forget_frontier(engine: Engine) -> None:
    """Drop the engine's cached head and frontier (the next append reads them)."""
    _FRONTIERS.pop(engine, None)


def _frontier(db: store.Db, size: int, head_leaf: bytes | None) -> merkle.Frontier:
    cached = _FRONTIERS.get(db.engine)
    if cached is not None and cached.size == size and cached.head_leaf == head_leaf:
        return cached.nodes
    found = store.read_nodes(db, merkle.range_nodes(0, size))
    return merkle.frontier_of(size, lambda level, index: found[(level, index)])


def integrate(
    db: store.Db,
    queued: Sequence[Queued],
    size: int,
    head_leaf: bytes | None,
    delete_queued: Sequence[int] = (),
    *,
    commit: bool = False,
    numbered: bool = True,
) -> int:
    """Write `queued` as the entries `size`, `size + 1`, …, with their tree nodes and
    (`numbered`) their `ledger_sequenced` rows (and delete their queued rows,
    `delete_queued`; and `commit`, in a transaction of the sequencer's own);
    answers the first seq.
    The caller holds the lock (or SQLite's write lock) and read (`size`,
    `head_leaf`) after taking it."""
    bind_time = db.bind_time
    sha256 = hashlib.sha256
    prev = GENESIS_PREV_HASH if head_leaf is None else head_leaf
    entry_rows: list[store.EntryRow] = []
    leaves: list[bytes] = []
    moment: datetime | None = None
    bound: Any = None
    for seq, item in enumerate(queued, size):
        data = assemble_entry(item.head, prev, item.stamp, seq, item.tail)
        leaf = sha256(b"\x00" + data).digest()
        if item.recorded_at is not moment:  # a batch shares one claim
            moment, bound = item.recorded_at, bind_time(item.recorded_at)
        entry_rows.append((seq, item.kind, item.subject, item.actor, bound, data, leaf, prev))
        leaves.append(leaf)
        prev = leaf
    created, grown = merkle.extend_frontier(
        size, _frontier(db, size, head_leaf), leaves, LOWEST_STORED_LEVEL
    )
    numbers = [(q.pending_id, seq) for seq, q in enumerate(queued, size)] if numbered else []
    store.write_integration(db, entry_rows, created, numbers, delete_queued, commit=commit)
    # Cached before the commit: if this transaction rolls back, the cache is ahead
    # of the ledger, and the next integration finds out (PostgreSQL: the head it
    # reads under the lock does not match; SQLite: the chain trigger refuses).
    _FRONTIERS[db.engine] = _Frontier(size + len(queued), prev, grown)
    return size


def integrate_at_once(db: store.Db, queued: Sequence[Queued]) -> int:
    """SQLite: write `queued` after the head, in the caller's transaction (which
    holds the write lock), and answer the first seq. No `ledger_sequenced` rows:
    an entry's number is its seq + 1 (see service).

    The head is the engine's cached one when there is one, not read: the database
    checks it instead. Its chain trigger (migration 0009_ledger_sqlite_chain)
    refuses an entry whose seq exists or whose prev_hash is not the leaf hash of
    the entry before it, so a stale cache (another process appended, or an
    append rolled back) costs one refused statement, which SQLite undoes alone
    (the transaction goes on), then the head is read and the append is redone."""
    cached = _FRONTIERS.get(db.engine)
    if cached is not None:
        try:
            return integrate(db, queued, cached.size, cached.head_leaf, numbered=False)
        except IntegrityError as error:
            if not store.is_stale_head(error):
                raise
            forget_frontier(db.engine)
    size, head_leaf = store.read_head(db)
    return integrate(db, queued, size, head_leaf, numbered=False)


def queued_from_row(db: store.Db, row: store.QueuedRow) -> Queued:
    pending_id, kind, subject, actor, recorded_at, payload = row
    recorded = db.read_time(recorded_at)
    head, tail = entry_parts(kind, subject, actor, bytes(payload))
    return Queued(
        int(pending_id), kind, subject, actor, recorded, format_recorded_at(recorded), head, tail
    )


def _integrate_queue(
    db: store.Db, limit: int, lock_timeout: str | None, *, own_transaction: bool = False
) -> Integration:
    """Integrate up to `limit` queued entries; with `own_transaction` (a driver
    connection of the sequencer's own, in autocommit mode), begin and commit."""
    rows, (size, head_leaf) = store.read_queue(db, limit, lock_timeout, begin=own_transaction)
    if not rows:
        if own_transaction:
            db.raw.execute("ROLLBACK")  # nothing written; frees the lock
        return Integration(0, None, None)
    queued = [queued_from_row(db, row) for row in rows]
    ids = [q.pending_id for q in queued]
    first = integrate(db, queued, size, head_leaf, delete_queued=ids, commit=own_transaction)
    return Integration(len(queued), first, ids[-1])


def integrate_pending(
    session: Session, limit: int = DEFAULT_LIMIT, *, lock_timeout: str | None = None
) -> Integration:
    """Give up to `limit` committed queued entries (and the session's own queued
    ones) their seq, in queue order, in the session's transaction.

    Takes the ledger lock first (held until the transaction ends; waiting at most
    `lock_timeout` when given), then reads the queue and the head. Queued rows
    another transaction holds are skipped (it is a hook about to integrate them,
    see `store.lock_own_queued`). Nothing is ever queued on SQLite (see
    `service`), where this finds an empty queue."""
    result = _integrate_queue(store.on(session.connection()), limit, lock_timeout)
    if result.first_seq is not None:
        forget_stale(session, result.first_seq, result.count)
    return result


def forget_stale(session: Session, first_seq: int, count: int) -> None:
    """Drop from the identity map any `LedgerEntry` with these seqs: one left there
    by a rolled-back savepoint describes a row that no longer exists."""
    identity_map = session.identity_map
    if not len(identity_map):
        return
    for seq in range(first_seq, first_seq + count):
        stale = identity_map.get(session.identity_key(LedgerEntry, seq))
        if stale is not None:
            session.expunge(stale)


def _drained(result: Integration, limit: int, through: int | None) -> bool:
    if result.count < limit:
        return True
    return (
        through is not None
        and result.last_pending_id is not None
        and (result.last_pending_id >= through)
    )


def settle(session: Session, limit: int = DEFAULT_LIMIT) -> None:
    """Read-your-writes: integrate, in the session's own transaction, the entries it
    queued (and whatever committed entries are queued before them)."""
    own = session.info.pop(QUEUED_KEY, None)
    if not own:
        return
    through = max(own)
    while not _drained(integrate_pending(session, limit), limit, through):
        pass


def _driven_pass(pooled: Any, engine: Engine, limit: int, lock_timeout: str | None) -> Integration:
    """One integration on a pooled PostgreSQL connection in autocommit mode, which
    the pass drives itself: its BEGIN travels with the lock and the read (see
    `store.read_queue`), its COMMIT with the writes. A failure rolls back, and a
    connection that cannot even do that is invalidated (never reused)."""
    raw: Any = pooled.driver_connection
    try:
        return _integrate_queue(
            store.Db(raw, engine.dialect, engine), limit, lock_timeout, own_transaction=True
        )
    except BaseException:
        try:
            if raw.info.transaction_status != TransactionStatus.IDLE:
                raw.execute("ROLLBACK")  # it failed half-way
        except Exception:
            pooled.invalidate()
        raise


def _checkout(engine: Engine) -> Any:
    pooled: Any = engine.raw_connection()
    pooled.driver_connection.autocommit = True  # the pass says BEGIN and COMMIT itself
    return pooled


def _checkin(pooled: Any) -> None:
    try:
        if pooled.dbapi_connection is not None:
            pooled.driver_connection.autocommit = False
    except Exception:
        pooled.invalidate()
    pooled.close()


def _pass(bind: Engine | Connection, limit: int, lock_timeout: str | None) -> Integration:
    """One integration in a transaction of its own on `bind`: on PostgreSQL, on a
    connection of the engine's pool driven directly (`_driven_pass`); on a
    connection already inside a transaction (a session bound to an externally
    managed transaction, as tests do), in a savepoint."""
    if isinstance(bind, Engine) and store.queues(bind.dialect):
        pooled = _checkout(bind)
        try:
            return _driven_pass(pooled, bind, limit, lock_timeout)
        finally:
            _checkin(pooled)
    if isinstance(bind, Engine):
        with bind.begin() as connection:
            return _integrate_queue(store.on(connection), limit, lock_timeout)
    with bind.begin_nested() if bind.in_transaction() else bind.begin():
        return _integrate_queue(store.on(bind), limit, lock_timeout)


def _drain(run: Callable[[], Integration], own: Sequence[int], limit: int) -> list[tuple[int, int]]:
    through = max(own) if own else None
    ran: list[tuple[int, int]] = []
    while True:
        result = run()
        if result.first_seq is not None:
            ran.append((result.first_seq, result.count))
        if _drained(result, limit, through):
            return ran


def integrate_committed(
    bind: Engine | Connection,
    own: Sequence[int] = (),
    limit: int = DEFAULT_LIMIT,
    lock_timeout: str | None = None,
) -> list[tuple[int, int]]:
    """Integrate committed queued entries in transactions of their own on `bind`,
    until the queue is drained or, given the pending ids of `own` entries, drained
    past them. Answers the (first seq, count) of each integration it ran."""
    return _drain(lambda: _pass(bind, limit, lock_timeout), own, limit)


def note_queued(session: Session, pending_ids: Sequence[int]) -> None:
    session.info.setdefault(QUEUED_KEY, []).extend(pending_ids)


class Background:
    """One engine's sequencer thread (PostgreSQL): integrates, in passes of its own,
    whatever committed appends queued, so that the appending transactions' commits
    are their only synchronous work.

    A committing session takes a ticket (`request`) and returns at once. The thread
    runs a pass (integrations until the queue is drained) that covers every ticket
    taken before it began: those commits are visible to its read, taken after the
    lock. Appends that commit while a pass runs form the next
    pass's batch, so batches grow with the load and the lag stays about two passes.
    `wait(ticket)` blocks until a pass covered the ticket. A failed pass (the
    database away, the lock held beyond LOCK_TIMEOUT by a transaction that read its
    own appends) is logged and retried after RETRY_SECONDS; the periodic job
    `ledger.integrate_pending` also takes what a crash left queued.

    The thread holds the engine only during a pass (a weak reference otherwise) and
    ends when the engine is disposed or collected. It keeps one pooled connection
    between passes (a checkout per pass cost more than the pass's own work), and
    takes a fresh one after a failure."""

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)
        self._state = threading.Condition()
        self._requested = 0
        self._covered = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pooled: Any = None  # the thread's connection, kept between passes
        self.passes = 0
        self.integrated = 0
        self.failures = 0
        self.history: collections.deque[tuple[int, float, float, int]] | None = None
        """When set to a deque: (highest ticket covered, `time.perf_counter()` at the
        start and at the end, entries integrated) for each pass (the benchmark's
        integration lag and sequencer throughput)."""

    def request(self) -> int:
        """A ticket for what has committed until now; starts the thread if needed."""
        with self._state:
            self._requested += 1
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._run, name="ledger-sequencer", daemon=True
                )
                self._thread.start()
            self._state.notify_all()
            return self._requested

    def wait(self, ticket: int | None = None, timeout: float | None = None) -> bool:
        """Block until a pass covered `ticket` (default: a new ticket, i.e. every
        append committed before this call); False on timeout."""
        if ticket is None:
            ticket = self.request()
        with self._state:
            return self._state.wait_for(lambda: self._covered >= ticket, timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Let the thread finish its current work and end."""
        with self._state:
            self._stopping = True
            thread = self._thread
            self._state.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _next_target(self) -> int | None:
        with self._state:
            self._state.wait_for(
                lambda: self._requested > self._covered or self._stopping, IDLE_CHECK_SECONDS
            )
            if self._requested > self._covered:
                return self._requested
            return None if self._stopping else 0

    def _integrate(self, engine: Engine) -> list[tuple[int, int]]:
        if self._pooled is None:
            self._pooled = _checkout(engine)
        pooled = self._pooled
        try:
            return _drain(
                lambda: _driven_pass(pooled, engine, DEFAULT_LIMIT, LOCK_TIMEOUT),
                (),
                DEFAULT_LIMIT,
            )
        except BaseException:
            self._release()  # a fresh connection for the next pass
            raise

    def _release(self) -> None:
        pooled, self._pooled = self._pooled, None
        if pooled is not None:
            _checkin(pooled)

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._release()

    def _serve(self) -> None:
        while True:
            target = self._next_target()
            if target is None:
                return
            engine = self._engine()
            if engine is None:
                return
            if not target:  # idle: nothing to do, unless the engine is gone
                del engine
                continue
            began = time.perf_counter()
            try:
                ran = self._integrate(engine)
            except Exception:
                self.failures += 1
                log.exception("ledger_integration_failed", ticket=target)
                del engine
                with self._state:
                    if self._state.wait_for(lambda: self._stopping, RETRY_SECONDS):
                        return  # stopping: the periodic job takes what is left
                continue
            del engine
            count = sum(n for _, n in ran)
            with self._state:
                self.passes += 1
                self.integrated += count
                if self.history is not None:
                    self.history.append((target, began, time.perf_counter(), count))
                self._covered = max(self._covered, target)
                self._state.notify_all()


LOCK_TIMEOUT = "10s"
"""How long a background pass waits for the ledger lock before it gives up and
retries. Integrations hold it for milliseconds; a longer wait means a transaction
is sitting on it (one that read its own appends, see `settle`)."""
RETRY_SECONDS = 1.0
"""The pause after a failed pass."""
IDLE_CHECK_SECONDS = 5.0
"""How often an idle sequencer thread checks that its engine still exists."""

_BACKGROUND: weakref.WeakKeyDictionary[Engine, Background] = weakref.WeakKeyDictionary()
_background_lock = threading.Lock()


def background(engine: Engine) -> Background:
    """The engine's sequencer (its thread starts with the first request)."""
    found = _BACKGROUND.get(engine)
    if found is None:
        with _background_lock:
            found = _BACKGROUND.get(engine)
            if found is None:
                found = _BACKGROUND[engine] = Background(engine)
                event.listen(engine, "engine_disposed", _stop_on_dispose)
    return found


def wait_integrated(bind: Engine | Connection, timeout: float | None = 30.0) -> bool:
    """Wait until every entry committed through `bind` before this call has its seq
    (the engine's sequencer ran a pass after it); on a connection (an externally
    managed transaction), integrate right there instead. False on timeout."""
    if isinstance(bind, Engine):
        if not store.queues(bind.dialect):
            return True
        return background(bind).wait(timeout=timeout)
    integrate_committed(bind, lock_timeout=LOCK_TIMEOUT)
    return True


def _stop_on_dispose(engine: Engine) -> None:
    found = _BACKGROUND.pop(engine, None)
    if found is not None:
        found.stop(timeout=15.0)  # a pass may wait LOCK_TIMEOUT for the lock


def _drain_at_exit() -> None:
    # Entries committed just before the process ends get their seq now rather than
    # from the next process's sequencer or the periodic job.
    for found in list(_BACKGROUND.values()):
        thread = found._thread
        if thread is not None and thread.is_alive():
            found.wait(found._requested, timeout=5.0)  # no new ticket: no new thread
        found.stop(timeout=1.0)


def _forget_in_child() -> None:
    # A forked child has none of the parent's threads.
    _BACKGROUND.clear()


atexit.register(_drain_at_exit)
os.register_at_fork(after_in_child=_forget_in_child)

TICKET_KEY = "ledger.ticket"
"""`session.info` key: the sequencer ticket of the session's last committed appends
(`Background.wait` takes it)."""


def _integrate_after_commit(session: Session) -> None:
    # A savepoint's commit is not the data's: the enclosing transaction may still
    # roll back, and nobody else can see the rows yet.
    if QUEUED_KEY not in session.info or session.in_nested_transaction():
        return
    own = session.info.pop(QUEUED_KEY)
    bind = session.get_bind()
    if isinstance(bind, Engine):
        session.info[TICKET_KEY] = background(bind).request()
        return
    # A session on a connection whose transaction someone else manages: the rows
    # are visible on that connection only, so integrate there, now.
    try:
        ran = integrate_committed(bind, own, lock_timeout=LOCK_TIMEOUT)
    except Exception:
        # The caller's commit stands; the periodic job integrates what is left.
        log.exception("ledger_integration_failed", pending_ids=own[:10])
        return
    for first, count in ran:
        forget_stale(session, first, count)


def _forget_after_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(QUEUED_KEY, None)


_installed = threading.Lock()


def install_hook() -> None:
    """Integrate after every commit that queued entries (idempotent)."""
    with _installed:
        if not event.contains(Session, "after_commit", _integrate_after_commit):
            event.listen(Session, "after_commit", _integrate_after_commit)
            event.listen(Session, "after_transaction_end", _forget_after_rollback)
