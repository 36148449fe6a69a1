"""One aligned range of the ledger re-derived from the database: the unit of work of
`verify_ledger`, run in the calling process or in worker processes.

A range starts at a multiple of 2^level and holds at most 2^level entries, so
every complete subtree inside it is one of the tree's own (`merkle` addressing).
`verify_range` reads the entries in chunks (`verify_entries.check_chunk`), stops
at the first bad one, builds the tree of the entries that passed level by level,
compares every stored node of it (levels from `models.LOWEST_STORED_LEVEL` on; one
range select per level, compared as one concatenation) and gives the parent what
only it can finish: the range's
complete-subtree roots and, for each checkpoint inside the range, the range's part
of its root (the parent folds the roots of the ranges before it in front).

The reads go straight to the driver (`psycopg` with binary results, `sqlite3`), as
plain tuples: through SQLAlchemy each row cost about as much as hashing it. On
PostgreSQL the fast check reads kind, subject and actor as the bytes that came (it
compares bytes, and decoding then encoding them again cost ~0.3 µs an entry);
where it declines, the reference reads the chunk again as str.

Worker processes (`open_pool`) are forked, each with a connection of its own: on
PostgreSQL inside the parent's snapshot (`pg_export_snapshot`, imported with
`SET TRANSACTION SNAPSHOT`), so all of them read one consistent state; on SQLite
in a read transaction of its own on the same file (rows below the head the parent
read never change: the tables are append-only). Fork, not spawn: a spawned worker
would import the app for seconds before doing anything. The parent only forks from
its main thread (see `integrity`), where no other thread of ours is busy with a
lock the child could need. A child never uses nor closes the connections it
inherits (it ends with `os._exit`); on SQLite its new connection shares SQLite's
per-process lock bookkeeping with them, so a read lock the parent's open read
transaction really holds is counted rather than taken again, and the parent keeps
holding it until every range is done.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import multiprocessing.util
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from mindlinks.ledger import merkle
from mindlinks.ledger.canonical import GENESIS_PREV_HASH
from mindlinks.ledger.models import LOWEST_STORED_LEVEL
from mindlinks.ledger.verify_entries import (
    Problem,
    Row,
    Stamp,
    as_bytes,
    columns_of,
    exact_chunk,
    fast_chunk,
    stamp_pg_micros,
    stamp_sqlite_text,
)

_ENTRY_ROWS = (
    "SELECT seq, kind, subject, actor, recorded_at, entry_bytes, leaf_hash, prev_hash"
    " FROM ledger_entries WHERE seq >= ? AND seq < ? ORDER BY seq"
)
_LEAF = "SELECT leaf_hash FROM ledger_entries WHERE seq = ?"
# PostgreSQL concatenates a level's hashes itself (a row per hash costs more).
_NODE_HASHES = {
    "postgresql": "SELECT string_agg(hash, ''::bytea ORDER BY idx) FROM ledger_nodes"
    " WHERE level = ? AND idx >= ? AND idx < ?",
    # One value instead of a row per node: half the cost. SQLite 3.40 has no ORDER BY
    # inside group_concat; it follows the ordered subquery, and where it did not, the
    # level is read again row by row in order before anything is reported.
    "sqlite": "SELECT CAST(group_concat(hash, '') AS BLOB) FROM (SELECT hash FROM ledger_nodes"
    " WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx)",
}
_NODE_ROWS = (
    "SELECT idx, hash FROM ledger_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx"
)
_CHECKPOINTS = (
    "SELECT tree_size, root_hash, note FROM ledger_checkpoints"
    " WHERE tree_size > ? AND tree_size <= ? ORDER BY tree_size"
)


def _bytes(value: Any) -> bytes:
    return as_bytes(value) or b""


class Source:
    """The four reads of a range, on one DBAPI connection (`sqlite3` or `psycopg`)."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self.connection = connection
        self.dialect = dialect
        self.stamp: Stamp = stamp_pg_micros if dialect == "postgresql" else stamp_sqlite_text
        self.loaders: list[tuple[str, Any]] = []
        self.raw_loaders: list[tuple[str, Any]] = []
        if dialect == "postgresql":
            from psycopg.types.numeric import Int8BinaryLoader
            from psycopg.types.string import ByteaBinaryLoader

            # timestamptz read as its int8 (microseconds since 2000): see stamp_pg_micros
            self.loaders = [("timestamptz", Int8BinaryLoader)]
            # For the fast check, text as the bytes that came (the check wants UTF-8
            # and would encode every str again); the reference reads str.
            self.raw_loaders = [
                *self.loaders,
                ("text", ByteaBinaryLoader),
                ("varchar", ByteaBinaryLoader),
            ]

    def rows(self, sql: str, params: tuple[int, ...], *, raw_text: bool = False) -> list[Any]:
        if self.dialect == "postgresql":
            cursor = self.connection.cursor(binary=True)
            for name, loader in self.raw_loaders if raw_text else self.loaders:
                cursor.adapters.register_loader(name, loader)
            sql = sql.replace("?", "%s")
        else:
            cursor = self.connection.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def entry_rows(self, start: int, stop: int) -> list[Row]:
        """The rows as the reference reads them (text as str)."""
        return self.rows(_ENTRY_ROWS, (start, stop))

    def check_chunk(self, start: int, stop: int, prev: bytes) -> tuple[list[bytes], Problem | None]:
        """`verify_entries.check_chunk` on entries [start, stop): the fast check on
        rows read for it, the reference on rows read as it reads them (the same rows
        on SQLite, a second read on PostgreSQL, only where the fast check declines)."""
        count = stop - start
        if self.dialect == "postgresql":
            rows = self.rows(_ENTRY_ROWS, (start, stop), raw_text=True)
            leaves = fast_chunk(
                columns_of(rows, encode_names=False), start, count, prev, self.stamp
            )
            if leaves is not None:
                return leaves, None
            rows = self.entry_rows(start, stop)
        else:
            rows = self.entry_rows(start, stop)
            leaves = fast_chunk(columns_of(rows, encode_names=True), start, count, prev, self.stamp)
            if leaves is not None:
                return leaves, None
        return exact_chunk(rows, start, count, prev, self.stamp)

    def leaf_hash(self, seq: int) -> bytes | None:
        found = self.rows(_LEAF, (seq,))
        return _bytes(found[0][0]) if found else None

    def node_hashes(self, level: int, low: int, high: int) -> bytes:
        """The level's stored hashes from index low to high, concatenated."""
        found = self.rows(_NODE_HASHES[self.dialect], (level, low, high))
        return b"".join(_bytes(h) for (h,) in found if h is not None)

    def nodes(self, level: int, low: int, high: int) -> list[tuple[int, Any]]:
        """The level's stored (index, hash) rows from index low to high, in order."""
        return self.rows(_NODE_ROWS, (level, low, high))

    def checkpoints(self, low: int, high: int) -> list[tuple[int, bytes, str]]:
        return [
            (int(size), _bytes(root), str(note))
            for size, root, note in self.rows(_CHECKPOINTS, (low, high))
        ]


def session_source(session: Session) -> Source | None:
    """A Source on the session's own connection (inside its transaction), or None
    for a driver other than sqlite3 and psycopg."""
    connection = session.connection()
    dialect = connection.dialect
    if (dialect.name, dialect.driver) not in (("postgresql", "psycopg"), ("sqlite", "pysqlite")):
        return None
    return Source(connection.connection.driver_connection, dialect.name)


@dataclass(frozen=True)
class RangeResult:
    start: int
    checked: int
    """start + the number of entries that passed."""
    problems: list[Problem] = field(default_factory=list)
    roots: list[tuple[int, bytes]] = field(default_factory=list)
    """(level, hash) of the complete subtrees making up [start, checked), largest first."""
    checkpoints: list[tuple[int, bytes, str, list[bytes]]] = field(default_factory=list)
    """(tree_size, stored root, note, the hashes of this range's part of the root)."""


def tree_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """levels[L][i] = hash of the complete subtree of leaves[i·2^L : (i+1)·2^L]."""
    # Copying a hash already fed 0x01 is cheaper than setting up a new one.
    fresh = hashlib.sha256(b"\x01").copy
    levels = [leaves]
    below = leaves
    while len(below) >= 2:
        above: list[bytes] = []
        keep = above.append
        pairs = iter(below)
        for left, right in zip(pairs, pairs, strict=False):
            h = fresh()
            h.update(left)
            h.update(right)
            keep(h.digest())
        levels.append(above)
        below = above
    return levels


def _node_problem(
    source: Source, level: int, base: int, computed: Sequence[bytes]
) -> Problem | None:
    """The first wrong node of a level whose concatenation differed, or None if the
    level read row by row in index order is right after all (see `_NODE_HASHES`)."""
    found = source.nodes(level, base, base + len(computed))
    stored = {int(i): _bytes(h) for i, h in found}
    for offset, h in enumerate(computed):
        index = base + offset
        if stored.get(index) != h:
            what = "is missing" if index not in stored else "has a wrong hash"
            return ((index + 1) << level) - 1, f"tree node ({level}, {index}) {what}"
    if b"".join(_bytes(h) for _, h in found if h is not None) == b"".join(computed):
        return None
    last = base + len(computed) - 1  # pragma: no cover - a duplicate index, say
    return ((last + 1) << level) - 1, f"tree nodes of level {level} up to {last} differ"


def verify_range(source: Source, start: int, end: int, fetch_rows: int) -> RangeResult:
    """Verify entries [start, end) and the complete subtrees and checkpoints inside."""
    before = GENESIS_PREV_HASH if start == 0 else source.leaf_hash(start - 1)
    if before is None:  # the range before reports it too, with everything before it
        return RangeResult(start, start, [(start - 1, f"entry {start - 1} is missing")])
    prev = before
    leaves: list[bytes] = []
    problems: list[Problem] = []
    position = start
    while position < end:
        stop = min(position + fetch_rows, end)
        passed, problem = source.check_chunk(position, stop, prev)
        leaves += passed
        if problem is not None:
            problems.append(problem)
            break
        prev, position = passed[-1], stop
    checked = start + len(leaves)

    levels = tree_levels(leaves)
    for level in range(LOWEST_STORED_LEVEL, len(levels)):
        computed = levels[level]
        base = start >> level
        if source.node_hashes(level, base, base + len(computed)) != b"".join(computed):
            problem = _node_problem(source, level, base, computed)
            if problem is not None:
                problems.append(problem)

    def part(end_: int) -> list[tuple[int, bytes]]:
        return [
            (level, levels[level][index - (start >> level)])
            for level, index in merkle.range_nodes(start, end_)
        ]

    checkpoints = [
        (size, root, note, [h for _, h in part(size)])
        for size, root, note in source.checkpoints(start, checked)
    ]
    return RangeResult(
        start, checked, problems, part(checked) if checked > start else [], checkpoints
    )


# -- worker processes -------------------------------------------------------------------

_worker: tuple[Source, int] | None = None


def _connect(dialect: str, target: str, snapshot: str | None) -> Any:
    if dialect == "postgresql":
        import psycopg  # already imported by the parent (see open_pool)
        from psycopg import IsolationLevel, sql

        connection: Any = psycopg.connect(target)
        connection.isolation_level = IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        if snapshot is not None:
            connection.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        return connection
    connection = sqlite3.connect(target, isolation_level=None)
    connection.execute("PRAGMA busy_timeout=30000")
    connection.execute("BEGIN DEFERRED")
    return connection


def _init_worker(dialect: str, target: str, snapshot: str | None, fetch_rows: int) -> None:
    global _worker
    # The worker's objects are short-lived and acyclic; collecting them costs ~15 %.
    gc.disable()
    connection = _connect(dialect, target, snapshot)
    # Runs when the worker process ends normally (multiprocessing's exit hooks).
    multiprocessing.util.Finalize(None, connection.close, exitpriority=10)
    _worker = (Source(connection, dialect), fetch_rows)


def _run(start: int, end: int) -> RangeResult:
    assert _worker is not None, "not a verification worker"
    source, fetch_rows = _worker
    return verify_range(source, start, end, fetch_rows)


class Pool:
    """Worker processes reading the state the parent's session reads."""

    def __init__(self, executor: ProcessPoolExecutor) -> None:
        self.executor = executor

    def map(self, ranges: Sequence[tuple[int, int]]) -> Any:
        starts, ends = zip(*ranges, strict=True) if ranges else ((), ())
        return self.executor.map(_run, starts, ends)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def open_pool(session: Session, workers: int, fetch_rows: int) -> Pool | None:
    """Workers for a session whose transaction `verify_ledger` began itself (they
    cannot see what an outer transaction wrote), or None where that cannot be had:
    another driver, an in-memory database, no fork on this platform."""
    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return None
    connection = session.connection()
    dialect = connection.dialect
    url = connection.engine.url
    snapshot: str | None = None
    if (dialect.name, dialect.driver) == ("postgresql", "psycopg"):
        # imported before the fork, for the workers
        import psycopg.sql
        import psycopg.types.numeric  # noqa: F401

        snapshot = str(connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
        target = url.set(drivername="postgresql").render_as_string(hide_password=False)
    elif (dialect.name, dialect.driver) == ("sqlite", "pysqlite"):
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        target = database
    else:
        return None
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(dialect.name, target, snapshot, fetch_rows),
    )
    return Pool(executor)
