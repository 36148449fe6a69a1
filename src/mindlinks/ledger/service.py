"""The ledger's one write path: append entries inside the caller's transaction.

An entry is the RFC 8785 (JCS) serialization of

    {"seq", "kind", "subject", "actor", "recorded_at", "payload", "prev_hash"}

where `seq` is the 0-based leaf index, `recorded_at` an RFC 3339 UTC time with
microseconds and `Z` (a claim: `seq` alone orders entries), and `prev_hash` the
lowercase hex leaf hash of entry seq-1 (64 zeros for entry 0). Those bytes are
stored exactly as hashed; leaf = SHA-256(0x00 ‖ bytes) (RFC 9162).

Appends never fork. On PostgreSQL the append first takes a transaction-scoped
advisory lock (`pg_advisory_xact_lock(LOCK_KEY)`), then reads the head in a new
statement, so under READ COMMITTED it sees every append committed before it got the
lock; the lock is held until the caller's transaction ends, so append late in it.
On SQLite every app transaction is `BEGIN IMMEDIATE` (see `mindlinks.db`), so
writers are already serialized. Whatever happens anyway (a REPEATABLE READ caller,
a writer that bypasses this module) meets the `seq` primary key: a stale head turns
into an IntegrityError, never into a second entry with the same seq.

The same call writes the hash of every complete subtree the new leaves finish
(`ledger_nodes`), reading only the O(log n) frontier nodes it merges with. Rows go
in with Core INSERTs on the session's connection (an ORM flush of each entry cost
more than the rest of the append); the returned `LedgerEntry` objects are attached
to the session as persistent rows.

Fields: `kind` is dotted lower case (`contract.signed`), `subject` is
`<type>:<id>` and `actor` a printable ASCII token (`user:<id>`, `system`), both
without spaces; the payload is a JSON object (see `canonical.check_payload`).

There is no update or delete here or anywhere in the module; the database refuses
them too (migration 0005_ledger). `verify_ledger` (module `integrity`) is
re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, make_transient_to_detached

from mindlinks.ledger import merkle
from mindlinks.ledger.canonical import (
    GENESIS_PREV_HASH,
    check_payload,
    encode_entry,
    format_recorded_at,
)
from mindlinks.ledger.errors import LedgerEntryInvalid, LedgerPayloadNotCanonical
from mindlinks.ledger.integrity import VerificationReport, verify_ledger
from mindlinks.ledger.models import ACTOR_MAX, KIND_MAX, SUBJECT_MAX, LedgerEntry, LedgerNode
from mindlinks.ledger.repository import read_nodes
from mindlinks.platform.clock import now

LOCK_KEY = 0x4D4C4C4544474552  # "MLLEDGER": the advisory lock every append takes

_KIND = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_SUBJECT = re.compile(r"[a-z][a-z0-9_]*:[\x21-\x7e]+")
_ACTOR = re.compile(r"[\x21-\x7e]+")

__all__ = [
    "LOCK_KEY",
    "NewEntry",
    "VerificationReport",
    "append_entries",
    "append_entry",
    "verify_ledger",
]


@dataclass(frozen=True)
class NewEntry:
    """One entry to append: `kind` like `contract.signed`, `subject` like
    `contract:<id>`, `actor` like `user:<id>` or `system`, and a small JSON payload
    of ids, hashes, amounts and decisions (never personal data)."""

    kind: str
    subject: str
    actor: str
    payload: Mapping[str, Any]


def _check_field(name: str, value: Any, pattern: re.Pattern[str], limit: int) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value) or len(value) > limit:
        raise LedgerEntryInvalid(
            f"{name} {value!r} must match {pattern.pattern} and have at most {limit} characters"
        )
    return value


def _validated(item: NewEntry) -> NewEntry:
    _check_field("kind", item.kind, _KIND, KIND_MAX)
    _check_field("subject", item.subject, _SUBJECT, SUBJECT_MAX)
    _check_field("actor", item.actor, _ACTOR, ACTOR_MAX)
    if not isinstance(item.payload, Mapping):
        raise LedgerPayloadNotCanonical("payload must be a JSON object (a dict)")
    check_payload(dict(item.payload))
    return item


def entry_object(seq: int, item: NewEntry, recorded_at: str, prev_hash: bytes) -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": item.kind,
        "subject": item.subject,
        "actor": item.actor,
        "recorded_at": recorded_at,
        "payload": dict(item.payload),
        "prev_hash": prev_hash.hex(),
    }


_ENTRIES = cast(Table, LedgerEntry.__table__)
_NODES = cast(Table, LedgerNode.__table__)
_LOCK = select(func.pg_advisory_xact_lock(LOCK_KEY))
_HEAD = select(_ENTRIES.c.seq, _ENTRIES.c.leaf_hash).order_by(_ENTRIES.c.seq.desc()).limit(1)
_INSERT_ENTRIES = insert(_ENTRIES)
_INSERT_NODES = insert(_NODES)


def _lock_appends(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK)


def _read_head(connection: Connection) -> tuple[int, bytes]:
    """(size, leaf hash of the last entry): read AFTER the lock, in its own statement."""
    row = connection.execute(_HEAD).first()
    if row is None:
        return 0, GENESIS_PREV_HASH
    return row[0] + 1, row[1]


@dataclass(frozen=True, slots=True)
class AppendedEntry:
    """An entry as written: the columns of its `ledger_entries` row."""

    seq: int
    kind: str
    subject: str
    actor: str
    recorded_at: datetime
    entry_bytes: bytes
    leaf_hash: bytes
    prev_hash: bytes


def append_entry(
    session: Session, kind: str, subject: str, actor: str, payload: Mapping[str, Any]
) -> LedgerEntry:
    """Append one entry in the caller's transaction (written, not committed).

    The returned row is attached to the session as a persistent object."""
    written = append_entries(session, [NewEntry(kind, subject, actor, payload)])[0]
    row = LedgerEntry(
        seq=written.seq,
        kind=written.kind,
        subject=written.subject,
        actor=written.actor,
        recorded_at=written.recorded_at,
        entry_bytes=written.entry_bytes,
        leaf_hash=written.leaf_hash,
        prev_hash=written.prev_hash,
    )
    make_transient_to_detached(row)
    # An instance with this seq left in the identity map by a rolled-back
    # savepoint describes a row that no longer exists: this one replaces it.
    stale = session.identity_map.get(session.identity_key(LedgerEntry, row.seq))
    if stale is not None:
        session.expunge(stale)
    session.add(row)
    return row


def append_entries(session: Session, items: Sequence[NewEntry]) -> list[AppendedEntry]:
    """Append entries in order: one lock, one head read, one INSERT of the entries
    and one of the tree nodes they complete (Core statements, not an ORM flush).

    Batches answer plain values rather than ORM objects: building and attaching
    an instance costs about as much as encoding and hashing the entry."""
    checked = [_validated(item) for item in items]
    if not checked:
        return []
    connection = session.connection()
    _lock_appends(connection)
    size, prev = _read_head(connection)
    recorded = now()
    recorded_at = format_recorded_at(recorded)

    values: list[dict[str, Any]] = []
    for offset, item in enumerate(checked):
        seq = size + offset
        data = encode_entry(entry_object(seq, item, recorded_at, prev))
        leaf = merkle.leaf_hash(data)
        values.append(
            {
                "seq": seq,
                "kind": item.kind,
                "subject": item.subject,
                "actor": item.actor,
                "recorded_at": recorded,
                "entry_bytes": data,
                "leaf_hash": leaf,
                "prev_hash": prev,
            }
        )
        prev = leaf

    needed = merkle.frontier_needed(size, len(values))
    frontier = read_nodes(connection, [n for n in needed if n[0] > 0])
    if size and (0, size - 1) in needed:
        frontier[(0, size - 1)] = values[0]["prev_hash"]
    created = merkle.extend(size, frontier, [v["leaf_hash"] for v in values])

    connection.execute(_INSERT_ENTRIES, values)
    if created:
        connection.execute(
            _INSERT_NODES, [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in created]
        )
    for v in values:
        # A row with this seq left in the identity map by a rolled-back savepoint
        # describes a row that no longer exists.
        stale = session.identity_map.get(session.identity_key(LedgerEntry, v["seq"]))
        if stale is not None:
            session.expunge(stale)
    return [AppendedEntry(**v) for v in values]
