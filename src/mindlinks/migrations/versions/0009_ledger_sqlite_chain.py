"""ledger: on SQLite the database checks the chain of every inserted entry

Revision ID: 0009_ledger_sqlite_chain
Revises: 0008_contracts
Create Date: 2026-11-29 17:40:00

SQLite appends in the caller's transaction from the head the engine cached after
its last append, without reading it (`ledger.sequencer.integrate_at_once`). The
database vouches for that head instead: `ledger_entries`' BEFORE INSERT trigger,
which already refused an existing key (`INSERT OR REPLACE` deletes without firing
delete triggers), now also refuses an entry whose `prev_hash` is not the leaf hash
of entry seq - 1 (32 zero bytes for entry 0), which also refuses any gap. So a
stale head can neither fork nor gap the chain, whoever inserts.

PostgreSQL is unchanged: its sequencer reads the head under the advisory lock.

SQLite also stops writing `ledger_sequenced` rows: an entry appended on SQLite is
numbered seq + 1 (its "pending id", `ledger.service`). Every number given before
(max + 1 of `ledger_sequenced`) is at most its entry's seq + 1, and the rows that
record them stay, so `ledger.store.seq_of` looks there first.
"""

from __future__ import annotations

from alembic import op

revision = "0009_ledger_sqlite_chain"
down_revision = "0008_contracts"
branch_labels = None
depends_on = None

CHAIN = (
    "CREATE TRIGGER ledger_entries_chain BEFORE INSERT ON ledger_entries BEGIN "
    "SELECT CASE "
    "WHEN EXISTS (SELECT 1 FROM ledger_entries WHERE seq = NEW.seq) "
    "THEN RAISE(ABORT, 'ledger is append-only: the key exists') "
    "WHEN NEW.prev_hash IS NOT (CASE WHEN NEW.seq = 0 THEN zeroblob(32) "
    "ELSE (SELECT leaf_hash FROM ledger_entries WHERE seq = NEW.seq - 1) END) "
    "THEN RAISE(ABORT, 'ledger chain: prev_hash is not the leaf hash of the entry before') "
    "END; END"
)
NO_REPLACE = (
    "CREATE TRIGGER ledger_entries_no_replace BEFORE INSERT ON ledger_entries "
    "WHEN EXISTS (SELECT 1 FROM ledger_entries WHERE seq = NEW.seq) "
    "BEGIN SELECT RAISE(ABORT, 'ledger is append-only: the key exists'); END"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_replace")
    op.execute(CHAIN)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER IF EXISTS ledger_entries_chain")
    op.execute(NO_REPLACE)
