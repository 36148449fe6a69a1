"""Helpers for the ledger's database tests (used inside the rolled-back `session`)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from mindlinks.ledger.models import LedgerCheckpoint
from mindlinks.ledger.service import NewEntry, append_entries


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def items(n: int, *, subject: str = "contract:TEST", kind: str = "test.appended", start: int = 0):
    return [
        NewEntry(kind, subject, "user:tester", {"n": start + i, "ids": [f"id{start + i}"]})
        for i in range(n)
    ]


def append_n(session: Session, n: int, **kwargs: str) -> list:
    out = []
    for start in range(0, n, 500):
        out += append_entries(session, items(min(500, n - start), start=start, **kwargs))
    return out


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
