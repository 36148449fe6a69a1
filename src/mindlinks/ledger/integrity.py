"""Full verification: re-derive the whole ledger from its tables, report the first bad seq.

For every entry, in seq order: the seq column is the next one (no gap); the bytes
are a JSON object in RFC 8785 form (no floats); the seq and prev_hash inside them
chain to the previous entry, and kind, subject, actor and recorded_at agree with
their columns; SHA-256(0x00 ‖ bytes) equals the stored leaf hash. Then every stored
complete-subtree node is recomputed from the leaves, every stored checkpoint's root
(and the size and root written in its note, and with `trusted_keys` its signature)
is recomputed, and neither nodes nor checkpoints may reach beyond the last entry (a
truncated ledger).

The first bad seq is the smallest seq at which something is wrong: the entry itself,
or for a node the last leaf it covers (the append that wrote it), or for a
checkpoint its last entry (tree_size - 1); past the end it is the head (the first
missing entry).

`entries_checked` counts the entries that passed: on an entry problem it equals
the first bad seq.

How (see `verify_range` and `verify_entries`): the ledger is cut into aligned
ranges of 2^chunk_level entries. Each range is verified on its own: its entries
(read in chunks as plain driver tuples, checked by rebuilding each entry from its
columns and parsing all payloads of a chunk in one call, with the per-entry
reference check as the fallback that names any problem), its tree up to the range
root, the stored nodes of that tree, and its part of every checkpoint inside it.
This process then folds the range roots: the nodes above chunk_level, every
checkpoint root, the chain between ranges (each range starts from the stored leaf
hash of the entry before it, which the range before verified). With workers, it
reads the stored nodes above the ranges and the counts the beyond-the-head checks
need while they run, not after them. Memory stays O(2^chunk_level + n /
2^chunk_level).

Ranges run in worker processes when the ledger is large and this call began the
snapshot itself (workers cannot see another transaction's uncommitted rows); see
`verify_ledger` for when. The ranges are taken in order and the run stops after
the first range with a problem, so the answer does not depend on the workers.

When the session has not begun a transaction, the run reads one snapshot
(REPEATABLE READ on PostgreSQL, shared with the workers; a deferred read
transaction on SQLite, which keeps the write lock free for appends); otherwise it
checks the entries below the head it read first and skips the beyond-the-head
checks if the ledger grew meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from mindlinks.ledger import merkle, verifier
from mindlinks.ledger.models import LOWEST_STORED_LEVEL, LedgerCheckpoint, LedgerNode
from mindlinks.ledger.repository import head_size
from mindlinks.ledger.verify_entries import REQUIRED_FIELDS
from mindlinks.ledger.verify_range import (
    RangeResult,
    open_pool,
    session_source,
    verify_range,
)

log = structlog.get_logger(__name__)

__all__ = ["CHUNK_LEVEL", "REQUIRED_FIELDS", "VerificationReport", "verify_ledger"]

CHUNK_LEVEL = 15
"""Entries per range: 2^15 (31 ranges per 10^6 entries; a range keeps its leaf hashes)."""
FETCH_ROWS = 1 << 13
"""Entries per select inside a range."""
PARALLEL_FROM = 1 << 17
"""Below this many entries, starting worker processes costs more than it saves."""


@dataclass(frozen=True)
class VerificationReport:
    ok: bool
    entries_checked: int
    first_bad_seq: int | None
    reason: str | None
    tree_size: int = 0
    checkpoints_checked: int = 0


@dataclass
class _Run:
    session: Session
    size: int
    chunk_level: int
    trusted_keys: Sequence[verifier.TrustedKey] | None
    checked: int = 0
    checkpoints_checked: int = 0
    stack: list[tuple[int, bytes]] = field(default_factory=list)  # complete subtrees ≥ chunk
    upper: dict[merkle.Node, bytes] = field(default_factory=dict)  # computed levels > chunk
    problems: list[tuple[int, str]] = field(default_factory=list)
    stored_upper: dict[merkle.Node, bytes] | None = None  # read_stored
    node_count: int = 0
    first_beyond: int | None = None

    def __post_init__(self) -> None:
        empty = self.session.scalar(select(LedgerCheckpoint).where(LedgerCheckpoint.tree_size == 0))
        if empty is not None:
            self.check_checkpoint(0, empty.root_hash, empty.note, merkle.EMPTY_ROOT)

    def fresh(self) -> _Run:
        """The same run, started over."""
        return _Run(self.session, self.size, self.chunk_level, self.trusted_keys)

    def bad(self, seq: int, reason: str) -> None:
        self.problems.append((seq, reason))

    def ranges(self) -> list[tuple[int, int]]:
        step = 1 << self.chunk_level
        return [(start, min(start + step, self.size)) for start in range(0, self.size, step)]

    def absorb(self, result: RangeResult) -> None:
        """Take a range's result, in range order."""
        self.problems += result.problems
        self.checked = result.checked
        prefix = [h for _, h in self.stack]
        for size, stored, note, inside in result.checkpoints:
            self.check_checkpoint(size, stored, note, merkle.fold(prefix + inside))
        if result.checked - result.start == 1 << self.chunk_level:
            ((level, root),) = result.roots
            self.push(result.checked, level, root)

    def push(self, end: int, level: int, h: bytes) -> None:
        while self.stack and self.stack[-1][0] == level:
            _, left = self.stack.pop()
            h = merkle.node_hash(left, h)
            level += 1
            self.upper[(level, (end >> level) - 1)] = h
        self.stack.append((level, h))

    def read_stored(self) -> None:
        """Read what the checks after the ranges compare with: the stored nodes above
        the ranges, how many nodes there are, the first checkpoint past the head. With
        worker processes this runs while they work (same snapshot)."""
        n = LedgerNode
        rows = self.session.execute(
            select(n.level, n.idx, n.hash).where(n.level > self.chunk_level)
        )
        self.stored_upper = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
        self.node_count = self.session.scalar(select(func.count()).select_from(LedgerNode)) or 0
        self.first_beyond = self.session.scalar(
            select(func.min(LedgerCheckpoint.tree_size)).where(
                LedgerCheckpoint.tree_size > self.size
            )
        )

    def check_upper(self) -> None:
        if self.stored_upper is None:
            self.read_stored()
        stored = self.stored_upper or {}
        for (level, index), h in self.upper.items():
            if level < LOWEST_STORED_LEVEL:  # not stored (see models)
                continue
            if stored.get((level, index)) != h:
                what = "is missing" if (level, index) not in stored else "has a wrong hash"
                self.bad(((index + 1) << level) - 1, f"tree node ({level}, {index}) {what}")

    def check_checkpoint(self, size: int, stored: bytes, note: str, computed: bytes) -> None:
        self.checkpoints_checked += 1
        last = max(size - 1, 0)
        if stored != computed:
            self.bad(last, f"checkpoint {size}: its root is not the root of the first {size}")
        elif _note_body(note) != (size, computed):
            self.bad(last, f"checkpoint {size}: its note does not state this size and root")
        elif self.trusted_keys is not None:
            try:
                verifier.verify_checkpoint(note, self.trusted_keys)
            except verifier.VerificationFailed as exc:
                self.bad(last, f"checkpoint {size}: its signature does not verify ({exc})")

    def check_beyond_head(self) -> None:
        expected = sum(self.size >> lv for lv in range(LOWEST_STORED_LEVEL, self.size.bit_length()))
        count = self.node_count
        if count != expected:
            self.bad(self.size, f"{count} tree nodes stored, {expected} expected for the entries")
        if self.first_beyond is not None:
            self.bad(
                self.size,
                f"checkpoint {self.first_beyond} is beyond the {self.size} stored entries",
            )


def _note_body(note: str) -> tuple[int, bytes] | None:
    """The tree size and root hash that a C2SP checkpoint note states."""
    lines = note.split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        return None
    try:
        return int(lines[1]), base64.b64decode(lines[2], validate=True)
    except (binascii.Error, ValueError):
        return None


def _begin_snapshot(session: Session) -> bool:
    """Read one consistent state when the session has not started a transaction yet:
    REPEATABLE READ on PostgreSQL, a deferred (read) transaction on SQLite, which
    does not take the write lock for the whole run. True if the snapshot is this
    call's own: no transaction of the caller's (the session's, or one already open
    on the connection it is bound to) holds rows other connections cannot see."""
    if session.in_transaction():
        return False
    bind = session.get_bind()
    joined = isinstance(bind, Connection) and bind.in_transaction()
    dialect = bind.dialect.name
    if dialect == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    elif dialect == "sqlite":
        session.connection(execution_options={"sqlite_begin": "DEFERRED"})
    else:
        session.connection()
    return not joined


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _worker_count(workers: int | None, size: int, ranges: int, own_snapshot: bool) -> int:
    """How many worker processes; 0 runs every range in this process.

    Unless told, workers are used for large ledgers, from the main thread only
    (forking a process whose other threads may hold locks, such as a web server's,
    is not safe), on a machine with more than one core."""
    if not own_snapshot or ranges < 2:
        return 0
    if workers is None:
        if size < PARALLEL_FROM or threading.current_thread() is not threading.main_thread():
            return 0
        workers = _cores()
    return min(workers, ranges) if workers > 1 else 0


def _absorb_all(
    run: _Run, results: Iterable[RangeResult], progress: Callable[[int, int], None] | None
) -> None:
    for result in results:
        run.absorb(result)
        if progress is not None:
            progress(run.checked, run.size)
        if run.problems:
            return


def _verify_ranges(
    run: _Run, session: Session, workers: int, progress: Callable[[int, int], None] | None
) -> _Run:
    ranges = run.ranges()
    fetch_rows = min(1 << run.chunk_level, FETCH_ROWS)
    pool = open_pool(session, workers, fetch_rows) if workers else None
    if pool is not None:
        try:
            results = pool.map(ranges)  # every range is queued: the workers start
            run.read_stored()  # instead of after them, on the critical path
            _absorb_all(run, results, progress)
            return run
        except Exception as exc:  # a worker could not connect, or died
            log.warning("ledger_verify_workers_failed", error=repr(exc))
            run = run.fresh()
        finally:
            pool.close()
    source = session_source(session)
    if source is None:
        driver = session.get_bind().dialect.driver
        raise RuntimeError(f"verify_ledger reads through sqlite3 or psycopg, not {driver}")
    _absorb_all(
        run, (verify_range(source, start, end, fetch_rows) for start, end in ranges), progress
    )
    return run


def verify_ledger(
    session: Session,
    progress: Callable[[int, int], None] | None = None,
    *,
    chunk_level: int = CHUNK_LEVEL,
    workers: int | None = None,
    trusted_keys: Sequence[str | verifier.TrustedKey] | None = None,
) -> VerificationReport:
    """Re-derive the whole ledger; `progress(entries_checked, total)` after each range
    of 2^chunk_level entries (smaller ranges only serve the tests).

    `workers`: processes to verify ranges in parallel (1: none); by default one per
    core for a ledger of at least PARALLEL_FROM entries when called from the main
    thread. Workers need a session that has not begun a transaction; if they fail
    (cannot connect, die), this process verifies everything itself.
    `trusted_keys`: vkeys (or parsed keys) every checkpoint must be signed by; without
    them the signatures are not checked (the size and root in the note are)."""
    if not 1 <= chunk_level <= 20:
        raise ValueError("chunk_level must be from 1 to 20")
    keys = verifier.load_trusted_keys(list(trusted_keys)) if trusted_keys is not None else None
    own_snapshot = _begin_snapshot(session)
    size = head_size(session)
    run = _Run(session, size, chunk_level, keys)
    count = _worker_count(workers, size, len(run.ranges()), own_snapshot)
    run = _verify_ranges(run, session, count, progress)
    if run.stored_upper is None:
        run.read_stored()
    run.check_upper()
    if not run.problems and head_size(session) == run.size:
        run.check_beyond_head()
    if run.problems:
        seq, reason = min(run.problems)
        return VerificationReport(
            False, run.checked, seq, reason, run.size, run.checkpoints_checked
        )
    return VerificationReport(True, run.checked, None, None, run.size, run.checkpoints_checked)
