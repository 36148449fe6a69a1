"""ledger: the queue of entries waiting for a seq, and which queued entry got which seq

Revision ID: 0006_ledger_pending
Revises: 0005_ledger
Create Date: 2026-11-30 09:00:00

On PostgreSQL an append writes its entry's content to `ledger_pending` in the
caller's transaction without taking the ledger lock; the sequencer
(`ledger.sequencer.integrate_pending`) later gives it a seq, writes the entry and
its tree nodes, records `pending id -> seq` in `ledger_sequenced`, and deletes the
queued row, all in one transaction (see `ledger.service`).

The database holds both tables to that:
- `ledger_pending` refuses UPDATE and TRUNCATE, and refuses the DELETE of a row
  that `ledger_sequenced` does not name: a queued entry leaves the queue only by
  being integrated (plus, on SQLite, a key that already exists, as `INSERT OR
  REPLACE` would delete the old row without firing delete triggers);
- `ledger_sequenced` is append-only like the other ledger tables (UPDATE, DELETE,
  TRUNCATE refused; `INSERT OR REPLACE` refused on SQLite).
Trigger names follow 0005_ledger: `<table>_no_<event>`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mindlinks.db

revision = "0006_ledger_pending"
down_revision = "0005_ledger"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# A statement trigger over the deleted rows (a transition table): one check per
# DELETE, not one per row, for the sequencer's batches.
PG_REFUSE_LOSS = """
CREATE FUNCTION ledger_pending_refuse_loss() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lost bigint;
BEGIN
    SELECT g.id INTO lost FROM gone g
        WHERE NOT EXISTS (SELECT 1 FROM ledger_sequenced s WHERE s.pending_id = g.id)
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger_pending row % was never integrated: DELETE refused', lost
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "ledger_pending",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", mindlinks.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_pending")),
    )
    op.create_table(
        "ledger_sequenced",
        sa.Column("pending_id", SEQ, autoincrement=False, nullable=False),
        sa.Column("seq", SEQ, nullable=False),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_ledger_sequenced_seq_not_negative")),
        sa.PrimaryKeyConstraint("pending_id", name=op.f("pk_ledger_sequenced")),
    )

    if op.get_bind().dialect.name == "postgresql":
        # ledger_refuse_change() comes from 0005_ledger.
        op.execute(PG_REFUSE_LOSS)
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ledger_sequenced_no_{event.lower()} BEFORE {event} "
                "ON ledger_sequenced FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
            )
        op.execute(
            "CREATE TRIGGER ledger_pending_no_update BEFORE UPDATE ON ledger_pending "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER ledger_pending_no_delete AFTER DELETE ON ledger_pending "
            "REFERENCING OLD TABLE AS gone "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_pending_refuse_loss()"
        )
        for table in ("ledger_pending", "ledger_sequenced"):
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
            )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ledger_sequenced_no_{event.lower()} BEFORE {event} "
                "ON ledger_sequenced "
                f"BEGIN SELECT RAISE(ABORT, 'ledger is append-only: {event} refused'); END"
            )
        op.execute(
            "CREATE TRIGGER ledger_pending_no_update BEFORE UPDATE ON ledger_pending "
            "BEGIN SELECT RAISE(ABORT, 'ledger_pending refuses UPDATE'); END"
        )
        op.execute(
            "CREATE TRIGGER ledger_pending_no_delete BEFORE DELETE ON ledger_pending "
            "WHEN NOT EXISTS (SELECT 1 FROM ledger_sequenced WHERE pending_id = OLD.id) "
            "BEGIN SELECT RAISE(ABORT, 'ledger_pending row was never integrated: DELETE refused');"
            " END"
        )
        for table, same_key in (
            ("ledger_pending", "id = NEW.id"),
            ("ledger_sequenced", "pending_id = NEW.pending_id"),
        ):
            op.execute(
                f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "  # noqa: S608
                f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {same_key}) "
                "BEGIN SELECT RAISE(ABORT, 'ledger is append-only: the key exists'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("ledger_pending", "ledger_sequenced"):
            for event in ("update", "delete", "truncate"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_pending_refuse_loss()")
    else:
        for table in ("ledger_pending", "ledger_sequenced"):
            for event in ("update", "delete", "replace"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
    op.drop_table("ledger_sequenced")
    op.drop_table("ledger_pending")
