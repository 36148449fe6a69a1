"""Reads of the ledger: head, roots, proofs, entries.

A root, an inclusion proof or a consistency proof needs O(log n) complete-subtree
hashes (`merkle.*_plan`); `fetch_nodes` reads them in ONE statement (leaf hashes
from `ledger_entries`, higher levels from `ledger_nodes`, joined by UNION ALL), and
a proof reads the head in that same statement: one round trip, on the session's
driver connection (no ORM objects, no autoflush: the append path writes through
the connection too).

Every read first integrates what the session itself queued (`sequencer.settle`),
so a transaction that appended reads its own entries; for anyone else that is a
dictionary lookup.

Bad requests raise the typed problems of `ledger.errors` (404 for a seq beyond the
ledger, 422 with the field for a tree size or consistency range out of range).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mindlinks.ledger import merkle
from mindlinks.ledger.errors import (
    InvalidConsistencyRange,
    SeqOutOfRange,
    TreeSizeOutOfRange,
)
from mindlinks.ledger.models import LedgerEntry
from mindlinks.ledger.sequencer import settle
from mindlinks.ledger.store import read_head_and_nodes, read_nodes, require_nodes

__all__ = [
    "consistency_proof",
    "entries",
    "fetch_nodes",
    "get_entry",
    "head_size",
    "inclusion_proof",
    "read_nodes",
    "root_at",
]

Node = merkle.Node


_HEAD = select(func.max(LedgerEntry.__table__.c.seq))


def head_size(session: Session) -> int:
    """The number of entries (the seq the next integrated entry gets)."""
    settle(session)
    last = session.connection().execute(_HEAD).scalar()
    return 0 if last is None else int(last) + 1


def fetch_nodes(session: Session, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The hashes of these complete subtrees, in one statement (`store.read_nodes`)."""
    return read_nodes(session.connection(), nodes)


def _fetcher(found: dict[Node, bytes]) -> merkle.Fetch:
    return lambda level, index: found[(level, index)]


def root_at(session: Session, size: int) -> bytes:
    """The Merkle tree hash of the first `size` entries (0 gives the empty-tree hash);
    the head and the nodes in one statement, as for proofs."""
    plan = merkle.root_plan(size) if size > 0 else []
    head, found = _proof_nodes(session, plan)
    if not 0 <= size <= head:
        raise TreeSizeOutOfRange("tree_size", size, 0, head)
    if size == 0:
        return merkle.EMPTY_ROOT
    require_nodes(plan, found)
    return merkle.root(size, _fetcher(found))


def _proof_nodes(session: Session, plan: list[Node]) -> tuple[int, dict[Node, bytes]]:
    settle(session)
    return read_head_and_nodes(session.connection(), plan)


def inclusion_proof(session: Session, seq: int, tree_size: int) -> list[bytes]:
    """The audit path of entry `seq` in the tree of `tree_size` entries (RFC 9162 PATH).

    One statement reads the head and the path's nodes together; the sizes are
    checked against that head before any node is required."""
    plan = merkle.inclusion_plan(seq, tree_size) if 0 <= seq < tree_size else []
    head, found = _proof_nodes(session, plan)
    if not 0 <= seq < head:
        raise SeqOutOfRange(seq, head)
    if not seq < tree_size <= head:
        raise TreeSizeOutOfRange("tree_size", tree_size, seq + 1, head)
    require_nodes(plan, found)
    return merkle.inclusion_proof(seq, tree_size, _fetcher(found))


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    """The proof that the tree of `second` entries extends the one of `first`
    (RFC 9162 PROOF; empty when they are equal). One statement, as for inclusion."""
    if first < 1 or first > second:
        raise InvalidConsistencyRange(first, second)
    plan = merkle.consistency_plan(first, second)
    head, found = _proof_nodes(session, plan)
    if second > head:
        raise TreeSizeOutOfRange("second", second, max(first, 1), head)
    require_nodes(plan, found)
    return merkle.consistency_proof(first, second, _fetcher(found))


def get_entry(session: Session, seq: int) -> LedgerEntry:
    settle(session)
    entry = session.get(LedgerEntry, seq) if seq >= 0 else None
    if entry is None:
        raise SeqOutOfRange(seq, head_size(session))
    return entry


def entries(
    session: Session,
    *,
    subject: str | None = None,
    kind: str | None = None,
    after_seq: int | None = None,
    before_seq: int | None = None,
    newest_first: bool = False,
    limit: int,
) -> list[LedgerEntry]:
    """A page of entries in seq order (or newest first), filtered by subject and kind.

    Page forward with `after_seq` = the last seq seen (oldest first) or backward with
    `before_seq` (newest first)."""
    settle(session)
    stmt = select(LedgerEntry)
    if subject is not None:
        stmt = stmt.where(LedgerEntry.subject == subject)
    if kind is not None:
        stmt = stmt.where(LedgerEntry.kind == kind)
    if after_seq is not None:
        stmt = stmt.where(LedgerEntry.seq > after_seq)
    if before_seq is not None:
        stmt = stmt.where(LedgerEntry.seq < before_seq)
    order = LedgerEntry.seq.desc() if newest_first else LedgerEntry.seq.asc()
    return list(session.scalars(stmt.order_by(order).limit(max(0, limit))))
