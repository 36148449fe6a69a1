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
- right after the commit of a session that queued entries (`install_hook`, an
  `after_commit` listener), in a short transaction of its own on the same bind,
  waiting for the lock rather than giving up: when the request that appended
  returns, its entries have their seq. The threads of one process that commit
  at the same time combine (`_Combiner`): one of them runs the pass that covers
  them all while the others wait for it, instead of each queuing for the lock to
  find its entries already integrated. A failure there (or a wait for the lock
  longer than AFTER_COMMIT_LOCK_TIMEOUT) is logged, not raised: the caller's
  commit stands, and the periodic job `ledger.integrate_pending` (`tasks`,
  every 10 seconds) picks up whatever a failure or a crash left queued;
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

import hashlib
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction

from mindlinks.ledger import merkle, store
from mindlinks.ledger.canonical import (
    GENESIS_PREV_HASH,
    assemble_entry,
    entry_parts,
    format_recorded_at,
)
from mindlinks.ledger.models import LedgerEntry

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = 2000
"""Queued rows one integration takes at most (one transaction, one WAL flush)."""

AFTER_COMMIT_LOCK_TIMEOUT = "10s"
"""How long the after-commit integration waits for the lock. Integrations hold it
for milliseconds; a longer wait means a transaction is sitting on it (one that
read its own appends and has not ended, perhaps in this very thread, which would
never end while we wait): the rows are left to the safety net."""

QUEUED_KEY = "ledger.queued"
"""`session.info` key: the pending ids the session's transaction queued."""


@dataclass(frozen=True, slots=True)
class Queued:
    """An entry's content, waiting for its seq: `head`/`tail` are its bytes around
    prev_hash, recorded_at and seq (`canonical.entry_parts`)."""

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
) -> int:
    """Write `queued` as the entries `size`, `size + 1`, …, with their tree nodes and
    their `ledger_sequenced` rows (and delete their queued rows, `delete_queued`;
    and `commit`, in a transaction of the sequencer's own); answers the first seq.
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
    created, grown = merkle.extend_frontier(size, _frontier(db, size, head_leaf), leaves)
    numbers = [(q.pending_id, seq) for seq, q in enumerate(queued, size)]
    # Cached before the commit: if this transaction rolls back, the head read by
    # the next integration will not match, and the cache is ignored.
    _FRONTIERS[db.engine] = _Frontier(size + len(queued), prev, grown)
    store.write_integration(db, entry_rows, created, numbers, delete_queued, commit=commit)
    return size


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
    rows, (size, head_leaf, _) = store.read_queue(db, limit, lock_timeout, begin=own_transaction)
    if not rows:
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


def _pass(bind: Engine | Connection, limit: int, lock_timeout: str | None) -> Integration:
    """One integration in a transaction of its own on `bind`: on PostgreSQL, on a
    connection of the engine's pool driven directly (its BEGIN travels with the
    lock and the read, see `store.read_queue`); on a connection already inside a
    transaction (a session bound to an externally managed transaction, as tests
    do), in a savepoint."""
    if isinstance(bind, Engine) and store.queues(bind.dialect):
        pooled = bind.raw_connection()
        raw: Any = pooled.driver_connection
        try:
            raw.autocommit = True  # the pass says BEGIN and COMMIT itself
            return _integrate_queue(
                store.Db(raw, bind.dialect, bind), limit, lock_timeout, own_transaction=True
            )
        finally:
            try:
                if raw.info.transaction_status != TransactionStatus.IDLE:
                    raw.execute("ROLLBACK")  # it failed half-way
                raw.autocommit = False
            except Exception:
                pooled.invalidate()  # unusable: never back into the pool
            pooled.close()
    if isinstance(bind, Engine):
        with bind.begin() as connection:
            return _integrate_queue(store.on(connection), limit, lock_timeout)
    with bind.begin_nested() if bind.in_transaction() else bind.begin():
        return _integrate_queue(store.on(bind), limit, lock_timeout)


def integrate_committed(
    bind: Engine | Connection,
    own: Sequence[int] = (),
    limit: int = DEFAULT_LIMIT,
    lock_timeout: str | None = None,
) -> list[tuple[int, int]]:
    """Integrate committed queued entries in transactions of their own on `bind`,
    until the queue is drained or, given the pending ids of `own` entries, drained
    past them. Answers the (first seq, count) of each integration it ran."""
    through = max(own) if own else None
    ran: list[tuple[int, int]] = []
    while True:
        result = _pass(bind, limit, lock_timeout)
        if result.first_seq is not None:
            ran.append((result.first_seq, result.count))
        if _drained(result, limit, through):
            return ran


def note_queued(session: Session, pending_ids: Sequence[int]) -> None:
    session.info.setdefault(QUEUED_KEY, []).extend(pending_ids)


class _Combiner:
    """The after-commit integrations of one engine's threads, combined.

    Every committing thread takes a ticket. One thread at a time leads: it runs
    one `integrate_committed` pass, which drains the queue as its lock-protected
    read saw it, and so covers every ticket taken before the pass began (those
    threads had committed before taking theirs). The others wait for a pass that
    covers their ticket, then return; a waiter left uncovered leads the next pass.
    Without this, each committing thread would queue for the database lock just
    to find its entries already integrated, and the writers, stuck in that line,
    would stop feeding the queue. Processes still meet at the database lock."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._tickets = 0
        self._covered = 0
        self._leading = False

    def integrate(self, engine: Engine, own: Sequence[int]) -> list[tuple[int, int]]:
        with self._state:
            self._tickets += 1
            ticket = self._tickets
            while self._leading:
                self._state.wait()
                if self._covered >= ticket:
                    return []
            if self._covered >= ticket:
                return []
            self._leading = True
            target = self._tickets
        ran: list[tuple[int, int]] = []
        try:
            while True:
                ran += integrate_committed(engine, lock_timeout=AFTER_COMMIT_LOCK_TIMEOUT)
                with self._state:
                    self._covered = max(self._covered, target)
                    self._state.notify_all()
                    # Lead one more pass for the threads that committed during
                    # this one, rather than hand over (a thread switch) right away.
                    if self._tickets == target or len(ran) >= MAX_PASSES_LED:
                        return ran
                    target = self._tickets
        finally:
            with self._state:
                self._leading = False
                self._state.notify_all()


MAX_PASSES_LED = 4
"""Passes one thread leads before it returns to its caller (bounds its latency)."""

_COMBINERS: weakref.WeakKeyDictionary[Engine, _Combiner] = weakref.WeakKeyDictionary()
_combiners_lock = threading.Lock()


def _combiner(engine: Engine) -> _Combiner:
    found = _COMBINERS.get(engine)
    if found is None:
        with _combiners_lock:
            found = _COMBINERS.setdefault(engine, _Combiner())
    return found


def _integrate_after_commit(session: Session) -> None:
    # A savepoint's commit is not the data's: the enclosing transaction may still
    # roll back, and nobody else can see the rows yet.
    if QUEUED_KEY not in session.info or session.in_nested_transaction():
        return
    own = session.info.pop(QUEUED_KEY)
    bind = session.get_bind()
    try:
        if isinstance(bind, Engine):
            ran = _combiner(bind).integrate(bind, own)
        else:
            ran = integrate_committed(bind, own, lock_timeout=AFTER_COMMIT_LOCK_TIMEOUT)
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
