"""Ledger tables: the journal, the Merkle tree's complete subtrees, the checkpoints.

All three are append-only: the service has no update or delete, and migration
0005_ledger adds triggers that make the database refuse UPDATE, DELETE (and
TRUNCATE on PostgreSQL, and INSERT OR REPLACE on SQLite) on them.

- `ledger_entries`: one row per entry; `entry_bytes` are the exact RFC 8785 bytes
  that were hashed (a BLOB/bytea, never JSON/jsonb, which would re-serialize them).
  `kind`, `subject`, `actor` and `recorded_at` repeat fields of those bytes so the
  entries can be listed by index; `verify_ledger` checks that they agree.
  `prev_hash` is the leaf hash of entry seq-1; entry 0 has 32 zero bytes there
  (a value no SHA-256 output is expected to take, so the start of the chain is
  explicit rather than borrowed from the empty-tree hash).
- `ledger_nodes`: the hash of every complete subtree of level ≥ LOWEST_STORED_LEVEL
  (4; level L, index i covers leaves [i·2^L, (i+1)·2^L)), written by the same
  transaction as the entry that completes it: one row per 16 entries. Level 0 (the
  leaf hashes) lives in `ledger_entries.leaf_hash`; levels 1 to 3 are computed from
  those 16 leaf hashes when a proof needs them (`store.read_nodes`), which keeps a
  proof's reads O(log n) (one range of 16 leaves more) and saved most of what the
  nodes cost an append (a row per entry before migration 0010_ledger_nodes_from_4).
- `ledger_checkpoints`: each signed tree head that was issued, kept for ever so a
  consistency proof between any two can be given.
- `ledger_pending` (migration 0006_ledger_pending): entries queued by a caller's
  transaction and not yet given a seq (PostgreSQL only; see `ledger.service`).
  `payload` holds the payload's RFC 8785 bytes exactly as they will appear inside
  the entry. The database refuses UPDATE and TRUNCATE, and the DELETE of a row that
  `ledger_sequenced` does not name.
- `ledger_sequenced`: which queued entry got which seq (`pending_id` is the
  `ledger_pending.id`, or an id given the same way on SQLite, where entries are
  integrated at once). Append-only like the three tables above.

`seq`, `tree_size` and the pending ids are BIGINT on PostgreSQL and INTEGER on SQLite, where an
INTEGER PRIMARY KEY is the rowid itself (no second index to maintain).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mindlinks.db import Base

SeqInteger = BigInteger().with_variant(Integer(), "sqlite")

KIND_MAX = 64
SUBJECT_MAX = 200
ACTOR_MAX = 200


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_subject_seq", "subject", "seq"),
        Index("ix_ledger_entries_kind_seq", "kind", "seq"),
        CheckConstraint("seq >= 0", name="seq_not_negative"),
        CheckConstraint("length(leaf_hash) = 32", name="leaf_hash_size"),
        CheckConstraint("length(prev_hash) = 32", name="prev_hash_size"),
    )

    seq: Mapped[int] = mapped_column(SeqInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(KIND_MAX))
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX))
    actor: Mapped[str] = mapped_column(String(ACTOR_MAX))
    recorded_at: Mapped[datetime]
    entry_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    def __repr__(self) -> str:
        return f"<LedgerEntry seq={self.seq} kind={self.kind} subject={self.subject}>"


LOWEST_STORED_LEVEL = 4
"""`ledger_nodes` holds the complete subtrees of this level and above (see module)."""


class LedgerNode(Base):
    __tablename__ = "ledger_nodes"
    __table_args__ = (
        CheckConstraint("level >= 1 AND level <= 63", name="level_range"),
        CheckConstraint("idx >= 0", name="idx_not_negative"),
        CheckConstraint("length(hash) = 32", name="hash_size"),
        {"sqlite_with_rowid": False},
    )

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerCheckpoint(Base):
    __tablename__ = "ledger_checkpoints"
    __table_args__ = (
        CheckConstraint("tree_size >= 0", name="tree_size_not_negative"),
        CheckConstraint("length(root_hash) = 32", name="root_hash_size"),
    )

    tree_size: Mapped[int] = mapped_column(SeqInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    issued_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text)
    # DER of the RFC 3161 TimeStampToken; the row cannot be updated, so the token
    # is obtained before the checkpoint is inserted (or the checkpoint goes without).
    timestamp_token: Mapped[bytes | None] = mapped_column(LargeBinary)


class LedgerPending(Base):
    __tablename__ = "ledger_pending"

    id: Mapped[int] = mapped_column(SeqInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(KIND_MAX))
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX))
    actor: Mapped[str] = mapped_column(String(ACTOR_MAX))
    recorded_at: Mapped[datetime]
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerSequenced(Base):
    __tablename__ = "ledger_sequenced"
    __table_args__ = (CheckConstraint("seq >= 0", name="seq_not_negative"),)

    pending_id: Mapped[int] = mapped_column(SeqInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(SeqInteger)
