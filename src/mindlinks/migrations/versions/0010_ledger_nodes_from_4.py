"""ledger: store the tree's complete subtrees from level 4 up

Revision ID: 0010_ledger_nodes_from_4
Revises: 0009_ledger_sqlite_chain
Create Date: 2026-11-29 19:50:00

`ledger_nodes` held every complete subtree of level 1 and above: about one row per
entry, written by the append that completes it, which cost an append about as
much as its entry row's indexes (docs/benchmarks.md, Ledger). From now on it holds
levels 4 and above (`models.LOWEST_STORED_LEVEL`): one row per 16 entries. A proof
or a frontier that needs a node of level 1 to 3 computes it from the 2 to 8 leaf
hashes below it, which `ledger_entries` holds anyway (`store.read_nodes`).

The rows of levels 1 to 3 are removed here. They are derived data, computed from
the leaf hashes of `ledger_entries` (which stay, as do the higher nodes and every
checkpoint that binds them); once nothing reads them, keeping them would only make
`ledger verify` count rows it cannot account for. The database's refusal of
DELETE on `ledger_nodes` (migration 0005_ledger) is lifted for this one statement,
inside the migration's transaction, and restored by it. Downgrading writes them
again, computed from the leaf hashes.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

from mindlinks.ledger import merkle

revision = "0010_ledger_nodes_from_4"
down_revision = "0009_ledger_sqlite_chain"
branch_labels = None
depends_on = None

LOWEST_STORED = 4  # models.LOWEST_STORED_LEVEL when this migration was written
_SQLITE_NO_DELETE = (
    "CREATE TRIGGER ledger_nodes_no_delete BEFORE DELETE ON ledger_nodes "
    "BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE refused'); END"
)
_PRUNE = f"DELETE FROM ledger_nodes WHERE level < {LOWEST_STORED}"  # noqa: S608
_BLOCK = 1 << 12  # leaves read at a time when the lower levels are written again


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_nodes DISABLE TRIGGER ledger_nodes_no_delete")
        op.execute(_PRUNE)
        op.execute("ALTER TABLE ledger_nodes ENABLE TRIGGER ledger_nodes_no_delete")
    else:
        op.execute("DROP TRIGGER ledger_nodes_no_delete")
        op.execute(_PRUNE)
        op.execute(_SQLITE_NO_DELETE)


def _lower_nodes(connection: sa.Connection) -> Iterator[list[dict[str, object]]]:
    """The nodes of levels 1 to 3 of every complete subtree, block by block."""
    start = 0
    while True:
        leaves = [
            bytes(h)
            for (h,) in connection.execute(
                sa.text(
                    "SELECT leaf_hash FROM ledger_entries WHERE seq >= :start AND seq < :stop "
                    "ORDER BY seq"
                ),
                {"start": start, "stop": start + _BLOCK},
            )
        ]
        rows: list[dict[str, object]] = []
        for level in range(1, LOWEST_STORED):
            width = 1 << level
            for offset in range(0, len(leaves) - width + 1, width):
                rows.append(
                    {
                        "level": level,
                        "idx": (start + offset) >> level,
                        "hash": merkle.subtree_hash(leaves[offset : offset + width]),
                    }
                )
        if rows:
            yield rows
        if len(leaves) < _BLOCK:
            return
        start += _BLOCK


def downgrade() -> None:
    connection = op.get_bind()
    insert = sa.text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (:level, :idx, :hash)")
    for rows in _lower_nodes(connection):
        connection.execute(insert, rows)
