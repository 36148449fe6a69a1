"""ledger: journal entries, Merkle tree nodes, checkpoints; append-only triggers

Revision ID: 0005_ledger
Revises: 0004_merge
Create Date: 2026-11-29 12:00:00

The three ledger tables refuse every change but INSERT, at the database level:
- PostgreSQL: `ledger_refuse_change()` raises SQLSTATE 23001 (restrict_violation),
  from row triggers BEFORE UPDATE and BEFORE DELETE and a statement trigger BEFORE
  TRUNCATE on each table. An `INSERT ... ON CONFLICT DO UPDATE` fires the UPDATE one.
- SQLite: BEFORE UPDATE and BEFORE DELETE triggers `RAISE(ABORT, ...)`, plus a
  BEFORE INSERT trigger refusing a key that already exists, because `INSERT OR
  REPLACE` deletes the old row without firing delete triggers (unless
  recursive_triggers is on).
Trigger names: `<table>_no_update`, `<table>_no_delete`, `<table>_no_truncate`
(PostgreSQL), `<table>_no_replace` (SQLite). A later batch migration on SQLite that
recreates one of these tables must recreate its triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mindlinks.db

revision = "0005_ledger"
down_revision = "0004_merge"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# table -> the WHERE clause matching a row with NEW's key (SQLite no-replace trigger)
TABLES = {
    "ledger_entries": "seq = NEW.seq",
    "ledger_nodes": "level = NEW.level AND idx = NEW.idx",
    "ledger_checkpoints": "tree_size = NEW.tree_size",
}

PG_FUNCTION = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", mindlinks.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("entry_bytes", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_ledger_entries_seq_not_negative")),
        sa.CheckConstraint("length(leaf_hash) = 32", name=op.f("ck_ledger_entries_leaf_hash_size")),
        sa.CheckConstraint("length(prev_hash) = 32", name=op.f("ck_ledger_entries_prev_hash_size")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_kind_seq", ["kind", "seq"], unique=False)
        batch_op.create_index("ix_ledger_entries_subject_seq", ["subject", "seq"], unique=False)

    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.CheckConstraint("level >= 1 AND level <= 63", name=op.f("ck_ledger_nodes_level_range")),
        sa.CheckConstraint("idx >= 0", name=op.f("ck_ledger_nodes_idx_not_negative")),
        sa.CheckConstraint("length(hash) = 32", name=op.f("ck_ledger_nodes_hash_size")),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_ledger_nodes")),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "ledger_checkpoints",
        sa.Column("tree_size", SEQ, autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("issued_at", mindlinks.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("timestamp_token", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint(
            "tree_size >= 0", name=op.f("ck_ledger_checkpoints_tree_size_not_negative")
        ),
        sa.CheckConstraint(
            "length(root_hash) = 32", name=op.f("ck_ledger_checkpoints_root_hash_size")
        ),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_ledger_checkpoints")),
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
                )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
            )
    else:
        for table, same_key in TABLES.items():
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'ledger is append-only: {event} refused'); END"
                )
            op.execute(
                f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "  # noqa: S608
                f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {same_key}) "
                "BEGIN SELECT RAISE(ABORT, 'ledger is append-only: the key exists'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for event in ("update", "delete", "truncate"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
    else:
        for table in TABLES:
            for event in ("update", "delete", "replace"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_nodes")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_subject_seq")
        batch_op.drop_index("ix_ledger_entries_kind_seq")
    op.drop_table("ledger_entries")
