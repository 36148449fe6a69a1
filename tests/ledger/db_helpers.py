"""Helpers for the ledger's database tests (used inside the rolled-back `session`)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from mindlinks.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerSequenced
from mindlinks.ledger.service import Appended, NewEntry, append_entries, seq_of


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def items(n: int, *, subject: str = "contract:TEST", kind: str = "test.appended", start: int = 0):
    return [
        NewEntry(kind, subject, "user:tester", {"n": start + i, "ids": [f"id{start + i}"]})
        for i in range(n)
    ]


def rows_of(session: Session, appended: list[Appended]) -> list[LedgerEntry]:
    """The `ledger_entries` rows of these appends, in their order (integrating the
    session's queued entries first, on PostgreSQL)."""
    if any(a.seq is None for a in appended):
        seq_of(session, appended[0].pending_id)  # integrates what the session queued
        numbered = {
            pid: seq
            for pid, seq in session.execute(
                select(LedgerSequenced.pending_id, LedgerSequenced.seq).where(
                    LedgerSequenced.pending_id.in_([a.pending_id for a in appended])
                )
            )
        }
        seqs = [numbered[a.pending_id] for a in appended]
    else:
        seqs = [a.seq for a in appended if a.seq is not None]
    found = {
        row.seq: row
        for row in session.scalars(
            select(LedgerEntry).where(LedgerEntry.seq.between(min(seqs), max(seqs)))
        )
    }
    return [found[seq] for seq in seqs]


def append_n(session: Session, n: int, **kwargs: str) -> list[LedgerEntry]:
    """Append n entries in batches of up to 500 and answer their rows."""
    out: list[Appended] = []
    for start in range(0, n, 500):
        out += append_entries(session, items(min(500, n - start), start=start, **kwargs))
    return rows_of(session, out) if out else []


def lift_guard(session: Session, table: str, event: str) -> None:
    """Switch off one append-only trigger for the rest of the test's transaction
    (the rollback at the end of the test puts it back)."""
    if dialect(session) == "postgresql":
        session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_{event}"))
    else:
        session.execute(text(f"DROP TRIGGER {table}_no_{event}"))


def note_for(size: int, root: bytes, origin: str = "mindlinks.test/ledger") -> str:
    """A C2SP checkpoint note (the signature line is a placeholder: not checked here)."""
    b64 = base64.b64encode(root).decode("ascii")
    return f"{origin}\n{size}\n{b64}\n\n\u2014 {origin} AAAAAA==\n"


def add_checkpoint(session: Session, size: int, root: bytes, note_root: bytes | None = None):
    row = LedgerCheckpoint(
        tree_size=size,
        root_hash=root,
        issued_at=datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
        key_id="abcdef01",
        note=note_for(size, root if note_root is None else note_root),
        timestamp_token=None,
    )
    session.add(row)
    session.flush()
    return row
