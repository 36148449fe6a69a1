"""The append path's statements, run on the DBAPI connection of a SQLAlchemy one.

Appending is a handful of fixed statements per transaction; through SQLAlchemy
(Core or ORM) each cost more than the database's own work, so they go straight to
the driver (`sqlite3`, `psycopg`) on the connection the session already holds,
inside its transaction, and driver errors come out as SQLAlchemy's
(`IntegrityError`, …). Datetimes are bound with the column type's own processor,
so rows read through SQLAlchemy look exactly like rows it wrote.

PostgreSQL: few statements, each carrying many rows as arrays (`unnest`), a small
integration's writes all in one (writable WITH clauses); from COPY_FROM rows on,
rows go by binary COPY. psycopg's pipeline mode was measured and dropped: in
Python it cost more CPU (and, on loopback, more time) than the round trips it
saved. SQLite, in process, runs `executemany`.

Nothing here updates. The one DELETE of the ledger, of queued rows the sequencer
integrated (`write_integration`'s `delete_queued`), is refused by the database for
a row that has no `ledger_sequenced` row (migration 0006_ledger_pending).

Proof and listing reads stay in `repository`; `read_nodes` lives here because the
append path needs it on a frontier cache miss.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError

from mindlinks.ledger import merkle
from mindlinks.ledger.errors import LedgerStateCorrupt
from mindlinks.ledger.models import LOWEST_STORED_LEVEL, LedgerEntry

Node = merkle.Node

LOCK_KEY = 0x4D4C4C4544474552  # "MLLEDGER": the advisory lock every integration takes

EntryRow = tuple[int, str, str, str, Any, bytes, bytes, bytes]
"""seq, kind, subject, actor, recorded_at (bound), entry_bytes, leaf_hash, prev_hash"""
QueuedRow = tuple[int, str, str, str, Any, bytes]
"""id, kind, subject, actor, recorded_at (as read), payload"""

_HEAD = "SELECT seq, leaf_hash FROM ledger_entries ORDER BY seq DESC LIMIT 1"
_PG_LOCK = "SELECT pg_advisory_xact_lock(%s)"
# Local to the transaction, and set in the statement that may wait.
_PG_LOCK_WITH_TIMEOUT = "SELECT set_config('lock_timeout', %s, true), pg_advisory_xact_lock(%s)"
# The queue and the head in one statement (one snapshot, taken after the lock).
_PG_READ_QUEUE = (
    "SELECT p.id, p.kind, p.subject, p.actor, p.recorded_at, p.payload, h.seq, h.leaf_hash "
    "FROM (SELECT id, kind, subject, actor, recorded_at, payload FROM ledger_pending "
    "ORDER BY id LIMIT %s) AS p "
    "LEFT JOIN (SELECT seq, leaf_hash FROM ledger_entries ORDER BY seq DESC LIMIT 1) AS h "
    "ON true ORDER BY p.id"
)
_SQLITE_READ_QUEUE = (
    "SELECT id, kind, subject, actor, recorded_at, payload FROM ledger_pending ORDER BY id LIMIT ?"
)
_PG_INSERT_QUEUED = (
    "INSERT INTO ledger_pending (kind, subject, actor, recorded_at, payload) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING id"
)
_PG_INSERT_QUEUED_ARRAYS = (
    "INSERT INTO ledger_pending (kind, subject, actor, recorded_at, payload) "
    "SELECT k, s, a, %s, p FROM unnest(%s::text[], %s::text[], %s::text[], %s::bytea[]) "
    "AS u(k, s, a, p) RETURNING id"
)
_PG_NEXT_QUEUE_IDS = "SELECT nextval('ledger_pending_id_seq') FROM generate_series(1, %s)"
_ENTRY_COLUMNS = "seq, kind, subject, actor, recorded_at, entry_bytes, leaf_hash, prev_hash"
_INSERT_ENTRIES = (
    "INSERT INTO ledger_entries (seq, kind, subject, actor, recorded_at, entry_bytes, "
    "leaf_hash, prev_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_NODES = "INSERT INTO ledger_nodes (level, idx, hash) VALUES (?, ?, ?)"
_INSERT_SEQUENCED = "INSERT INTO ledger_sequenced (pending_id, seq) VALUES (?, ?)"
# After a large integration's entries went by COPY: the rest in one statement
# (the database's check on the deleted queued rows sees the WITH clauses' rows).
_PG_FINISH_INTEGRATION = (
    "WITH nodes AS (INSERT INTO ledger_nodes (level, idx, hash) "
    "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])), "
    "numbers AS (INSERT INTO ledger_sequenced (pending_id, seq) "
    "SELECT * FROM unnest(%s::bigint[], %s::bigint[])) "
    "DELETE FROM ledger_pending WHERE id = ANY(%s)"
)
_SQLITE_DELETE_QUEUED = "DELETE FROM ledger_pending WHERE id IN (SELECT value FROM json_each(?))"

# Binary COPY: (statement, column types) per table.
_PG_COPY = {
    "ledger_pending": (
        "COPY ledger_pending (id, kind, subject, actor, recorded_at, payload) "
        "FROM STDIN (FORMAT BINARY)",
        ["int8", "varchar", "varchar", "varchar", "timestamptz", "bytea"],
    ),
    "ledger_entries": (
        f"COPY ledger_entries ({_ENTRY_COLUMNS}) FROM STDIN (FORMAT BINARY)",
        ["int8", "varchar", "varchar", "varchar", "timestamptz", "bytea", "bytea", "bytea"],
    ),
}
COPY_FROM = 8
"""Rows from which PostgreSQL writes go by binary COPY, which costs far less per row
than INSERTs (measured: a third, for 100 entries) but takes two round trips a table."""


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


def _values(width: int, rows: int) -> str:
    return ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * rows)


@lru_cache(maxsize=256)
def _write_statement(entries: int, nodes: int, deletes: int) -> str:
    """A whole small integration in one statement (placeholders only). The
    database's check that each deleted queued row has its ledger_sequenced row
    runs after the statement, and sees the rows its WITH clauses inserted."""
    # Built of placeholders only: every value is a parameter.
    columns = "seq, kind, subject, actor, recorded_at, entry_bytes, leaf_hash, prev_hash"
    first = f"WITH entries AS (INSERT INTO ledger_entries ({columns}) "
    parts = [first + f"VALUES {_values(8, entries)})"]
    if nodes:
        parts.append(
            f"nodes AS (INSERT INTO ledger_nodes (level, idx, hash) VALUES {_values(3, nodes)})"  # noqa: S608
        )
    parts.append(
        f"numbers AS (INSERT INTO ledger_sequenced (pending_id, seq) VALUES {_values(2, entries)})"  # noqa: S608
    )
    if not deletes:
        return ", ".join(parts) + " SELECT 1"
    ids = ", ".join(["%s"] * deletes)
    return ", ".join(parts) + f" DELETE FROM ledger_pending WHERE id IN ({ids})"  # noqa: S608


def queues(dialect: Dialect) -> bool:
    """Whether appends queue (PostgreSQL: many writers, whose commits group) or
    integrate at once (SQLite: one writer at a time, nothing to group)."""
    return dialect.name == "postgresql"


class _Types:
    """The recorded_at column's processors for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        column_type = LedgerEntry.__table__.c.recorded_at.type
        bind: Any = column_type.bind_processor(dialect) or _unchanged
        result = column_type.result_processor(dialect, None)
        if dialect.name == "sqlite":
            # sqlite3 turns a datetime parameter into text with its default adapter,
            # `isoformat(" ")`, once per row; done here, once per append, the
            # stored text is the same.
            def bind_sqlite(value: Any) -> Any:
                bound = bind(value)
                return bound.isoformat(" ") if isinstance(bound, datetime) else bound

            self.bind_time: Any = bind_sqlite
        else:
            self.bind_time = bind
        self.read_time: Any = result or _unchanged


def _unchanged(value: Any) -> Any:
    return value


_TYPES: dict[str, _Types] = {}


def _types(dialect: Dialect) -> _Types:
    found = _TYPES.get(dialect.name)
    if found is None:
        found = _TYPES[dialect.name] = _Types(dialect)
    return found


@dataclass(frozen=True, slots=True)
class Db:
    """A driver connection (inside a transaction), its dialect, and the engine it
    came from (whose frontier cache it shares)."""

    raw: Any
    dialect: Dialect
    engine: Engine

    @property
    def queues(self) -> bool:
        return queues(self.dialect)

    def bind_time(self, value: Any) -> Any:
        """A recorded_at datetime as the column type binds it."""
        return _types(self.dialect).bind_time(value)

    def read_time(self, value: Any) -> Any:
        """A recorded_at value read from the driver, as the column type returns it."""
        return _types(self.dialect).read_time(value)


def on(connection: Connection) -> Db:
    """The driver connection under a SQLAlchemy one, in its transaction."""
    return Db(connection.connection.driver_connection, connection.dialect, connection.engine)


class _translated:
    """Driver errors as SQLAlchemy's, as if the statement had gone through it (a
    class, not a generator context manager: it wraps every append's statements)."""

    __slots__ = ("db", "params", "sql")

    def __init__(self, db: Db, sql: str, params: Any = ()) -> None:
        self.db, self.sql, self.params = db, sql, params

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, traceback: Any) -> None:
        error = self.db.dialect.loaded_dbapi.Error
        if kind is not None and issubclass(kind, error):
            dialect = self.db.dialect
            raise DBAPIError.instance(self.sql, self.params, exc, error, dialect=dialect) from exc


def fetch_one(db: Db, sql: str, params: Sequence[Any] = ()) -> Any:
    with _translated(db, sql, params):
        return db.raw.execute(sql, params).fetchone()


def _execute_many(db: Db, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    if len(rows) == 1:
        db.raw.execute(sql, rows[0])
    else:
        db.raw.executemany(sql, rows)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as `width` column lists (the arrays of an unnest)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _copy(db: Db, table: str, rows: Iterable[Sequence[Any]]) -> None:
    sql, types = _PG_COPY[table]
    with db.raw.cursor() as cursor, cursor.copy(sql) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


# -- the appending transaction ------------------------------------------------------


def insert_queued(
    db: Db, recorded_at: Any, rows: Sequence[tuple[str, str, str, bytes]]
) -> list[int]:
    """Queue (kind, subject, actor, payload) rows claimed at `recorded_at`
    (PostgreSQL); their ids, in the rows' order."""
    raw = db.raw
    moment = db.bind_time(recorded_at)
    with _translated(db, _PG_INSERT_QUEUED, rows):
        if len(rows) == 1:
            kind, subject, actor, payload = rows[0]
            found = raw.execute(_PG_INSERT_QUEUED, (kind, subject, actor, moment, payload))
            return [int(found.fetchone()[0])]
        if len(rows) < COPY_FROM:
            found = raw.execute(_PG_INSERT_QUEUED_ARRAYS, (moment, *_columns(rows, 4)))
        else:
            found = raw.execute(_PG_NEXT_QUEUE_IDS, (len(rows),))
        # Ids come from the queue's sequence in the rows' order (unnest's, or
        # generate_series'); sorting them does not rely on RETURNING's order.
        ids = sorted(int(r[0]) for r in found)
        if len(rows) >= COPY_FROM:
            _copy(
                db,
                "ledger_pending",
                ((i, k, s, a, moment, p) for i, (k, s, a, p) in zip(ids, rows, strict=True)),
            )
        return ids


_PG_SEQ_OF = "SELECT seq FROM ledger_sequenced WHERE pending_id = %s"
# SQLite numbers an entry seq + 1 (see service). Databases that had entries before
# that rule kept a `ledger_sequenced` row for each entry numbered otherwise; their
# numbers are all below the rule's (see migration 0009_ledger_sqlite_chain).
_SQLITE_SEQ_OF = (
    "SELECT coalesce((SELECT seq FROM ledger_sequenced WHERE pending_id = ?1), "
    "(SELECT seq FROM ledger_entries WHERE seq = ?1 - 1))"
)


def seq_of(db: Db, pending_id: int) -> int | None:
    found = fetch_one(db, _PG_SEQ_OF if db.queues else _SQLITE_SEQ_OF, (pending_id,))
    return None if found is None or found[0] is None else int(found[0])


# -- the integrating transaction ------------------------------------------------------


def lock(db: Db, timeout: str | None = None) -> None:
    """Serialize integrations (PostgreSQL; SQLite's BEGIN IMMEDIATE already did).

    Transaction-scoped: held until the integrating transaction ends. With a
    `timeout` (a PostgreSQL interval like "10s") the wait ends in an
    OperationalError (lock_not_available) instead of going on for ever."""
    if not db.queues:
        return
    if timeout is None:
        fetch_one(db, _PG_LOCK, (LOCK_KEY,))
    else:
        fetch_one(db, _PG_LOCK_WITH_TIMEOUT, (timeout, LOCK_KEY))


def read_head(db: Db) -> tuple[int, bytes | None]:
    """(size, leaf hash of the last entry or None): read AFTER the lock, in a
    statement of its own, so that under READ COMMITTED it sees every integration
    committed before the lock was granted."""
    row = fetch_one(db, _HEAD)
    if row is None:
        return 0, None
    return int(row[0]) + 1, bytes(row[1])


def is_stale_head(error: BaseException) -> bool:
    """Whether an insert of entries was refused because the head it was computed on
    is not the ledger's head (SQLite's chain trigger, migration 0009): its seq
    exists, or its prev_hash is not the leaf hash of the entry before it."""
    message = str(getattr(error, "orig", error))
    return message.startswith(("ledger is append-only: the key exists", "ledger chain:"))


def read_queue(
    db: Db, limit: int, lock_timeout: str | None = None, *, begin: bool = False
) -> tuple[list[QueuedRow], tuple[int, bytes | None]]:
    """Take the lock, then read up to `limit` queued rows and the head. The lock and
    the read are separate statements: under READ COMMITTED the read's snapshot is
    taken after the lock was granted, so it holds every commit made before.

    With `begin` (PostgreSQL, a driver connection in autocommit mode that the
    sequencer drives itself), BEGIN, the lock and the read go in one round trip:
    one simple-protocol message of several statements, each with its own
    snapshot, run in turn."""
    if not db.queues:
        with _translated(db, _SQLITE_READ_QUEUE, (limit,)):
            queued = db.raw.execute(_SQLITE_READ_QUEUE, (limit,)).fetchall()
        return [tuple(r) for r in queued], read_head(db)
    if begin:
        timeout = "" if lock_timeout is None else _set_timeout(lock_timeout)
        script = (
            f"BEGIN; {timeout}"
            + _PG_LOCK.replace("%s", str(LOCK_KEY))
            + "; "
            + _PG_READ_QUEUE.replace("%s", str(int(limit)))
        )
        with _translated(db, script):
            cursor = db.raw.execute(script)
            while cursor.nextset():
                pass  # to the last statement's rows
            found = cursor.fetchall()
    else:
        lock(db, lock_timeout)
        with _translated(db, _PG_READ_QUEUE, (limit,)):
            found = db.raw.execute(_PG_READ_QUEUE, (limit,)).fetchall()
    if not found:
        return [], (0, None)
    last_seq, last_leaf = found[0][6], found[0][7]
    rows: list[QueuedRow] = [tuple(r[:6]) for r in found]
    if last_seq is None:
        return rows, (0, None)
    return rows, (int(last_seq) + 1, bytes(last_leaf))


def _set_timeout(interval: str) -> str:
    if not re.fullmatch(r"\d+(ms|s|min)", interval):
        raise ValueError(f"not a lock timeout: {interval!r}")
    return f"SET LOCAL lock_timeout = '{interval}'; "


def commit_transaction(db: Db) -> None:
    """Commit the sequencer's own transaction (see `read_queue`'s `begin`)."""
    if db.raw.autocommit:
        db.raw.execute("COMMIT")
    else:
        db.raw.commit()


def write_integration(
    db: Db,
    entries: Sequence[EntryRow],
    nodes: Sequence[tuple[int, int, bytes]],
    numbers: Sequence[tuple[int, int]],
    delete_queued: Sequence[int] = (),
    *,
    commit: bool = False,
) -> None:
    """Insert the entries, the tree nodes and the `pending id -> seq` rows, then
    delete the queued rows they came from (the sequencer's, see module doc), and
    with `commit` (a transaction of the sequencer's own) commit, on PostgreSQL in
    the same round trip as the last statements.

    A queued row is never integrated twice: `ledger_sequenced`'s primary key
    refuses its second number, and the database refuses to delete a queued row
    that has none."""
    raw = db.raw
    with _translated(db, _INSERT_ENTRIES, entries):
        if not db.queues:
            _execute_many(db, _INSERT_ENTRIES, entries)
            if nodes:
                _execute_many(db, _INSERT_NODES, nodes)
            if numbers:
                _execute_many(db, _INSERT_SEQUENCED, numbers)
            if delete_queued:
                raw.execute(_SQLITE_DELETE_QUEUED, (json.dumps(list(delete_queued)),))
            if commit:
                commit_transaction(db)
            return
        if len(entries) < COPY_FROM:
            raw.execute(
                _write_statement(len(entries), len(nodes), len(delete_queued)),
                tuple(chain(chain(*entries), chain(*nodes), chain(*numbers), delete_queued)),
            )
        else:
            _copy(db, "ledger_entries", entries)
            raw.execute(
                _PG_FINISH_INTEGRATION,
                (*_columns(nodes, 3), *_columns(numbers, 2), list(delete_queued)),
            )
        if commit:
            commit_transaction(db)


# -- reads ----------------------------------------------------------------------------


def _ints(values: Iterable[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def _leaf_ranges(wanted: set[Node]) -> list[tuple[int, int]]:
    """The seq ranges [first, last] of the leaves `wanted` needs from `ledger_entries`:
    its leaves, and those below its unstored nodes (levels 1 to 3), merged."""
    spans = sorted(
        (index << level, ((index + 1) << level) - 1)
        for level, index in wanted
        if level < LOWEST_STORED_LEVEL
    )
    merged: list[tuple[int, int]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _nodes_sql(wanted: set[Node], with_head: bool) -> str:
    by_level: dict[int, list[int]] = {}
    for level, index in sorted(wanted):
        if level >= LOWEST_STORED_LEVEL:
            by_level.setdefault(level, []).append(index)
    # The head first: (-1, last seq or NULL, NULL).
    parts = ["SELECT -1, max(seq), NULL FROM ledger_entries"] if with_head else []
    ranges = _leaf_ranges(wanted)
    if ranges:
        terms = " OR ".join(
            f"seq = {first}" if first == last else f"seq BETWEEN {first} AND {last}"
            for first, last in ranges
        )
        parts.append(f"SELECT 0, seq, leaf_hash FROM ledger_entries WHERE {terms}")  # noqa: S608
    if by_level:
        terms = " OR ".join(
            f"(level = {int(level)} AND idx IN ({_ints(indexes)}))"
            for level, indexes in by_level.items()
        )
        parts.append(f"SELECT level, idx, hash FROM ledger_nodes WHERE {terms}")  # noqa: S608
    return " UNION ALL ".join(parts)


def _node_rows(connection: Connection | Db, sql: str) -> list[Any]:
    db = connection if isinstance(connection, Db) else on(connection)
    with _translated(db, sql):
        return list(db.raw.execute(sql).fetchall())


def _computed(wanted: set[Node], found: dict[Node, bytes]) -> dict[Node, bytes]:
    """`found` with the wanted nodes of levels 1 to 3 computed from its leaf hashes
    (those whose leaves are all there: the others are beyond the head, and absent,
    as a stored node beyond the head would be)."""
    for level, index in wanted:
        if 0 < level < LOWEST_STORED_LEVEL:
            leaves: list[bytes] = []
            for seq in range(index << level, (index + 1) << level):
                leaf = found.get((0, seq))
                if leaf is None:
                    break
                leaves.append(leaf)
            else:
                found[(level, index)] = merkle.subtree_hash(leaves)
    return found


def read_nodes(connection: Connection | Db, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The hashes of these complete subtrees, in one statement.

    Leaf hashes come from `ledger_entries`, with those below the wanted nodes of
    levels 1 to 3, which are computed from them (see `models`); the others come from
    `ledger_nodes` with one `level = L AND idx IN (...)` term per level, so both
    databases search the primary keys (SQLite would scan the table for a row-value IN
    list). The statement is plain SQL with the integers inlined (they are ours,
    never input), run on the driver connection: building it with the expression
    language, or running it through SQLAlchemy, cost more than running it. Raises
    LedgerStateCorrupt if a node is missing (the tables were changed behind the
    ledger's back)."""
    wanted = set(nodes)
    if not wanted:
        return {}
    found = {
        (int(level), int(index)): bytes(h)
        for level, index, h in _node_rows(connection, _nodes_sql(wanted, False))
    }
    require_nodes(wanted, _computed(wanted, found))
    return found


def read_head_and_nodes(
    connection: Connection | Db, nodes: Iterable[Node]
) -> tuple[int, dict[Node, bytes]]:
    """The head size and whichever of these complete subtrees are stored or computed
    (see `read_nodes`), in one statement (a proof's one round trip). Nodes beyond the
    head are simply absent: the caller checks its sizes against the head, then
    `require_nodes`."""
    head = 0
    found: dict[Node, bytes] = {}
    wanted = set(nodes)
    for level, index, h in _node_rows(connection, _nodes_sql(wanted, True)):
        if level == -1:
            head = 0 if index is None else int(index) + 1
        else:
            found[(int(level), int(index))] = bytes(h)
    return head, _computed(wanted, found)


def require_nodes(wanted: Iterable[Node], found: dict[Node, bytes]) -> None:
    missing = set(wanted) - found.keys()
    if missing:
        raise LedgerStateCorrupt(f"ledger tree nodes are missing: {sorted(missing)[:5]}")
