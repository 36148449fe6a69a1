"""Signed tree heads: C2SP checkpoints over the ledger, kept forever.

A checkpoint is issued when the tree has grown since the last one; each is kept,
so a consistency proof between any two can be served. The entries it signs for are
made durable first (on SQLite, whose commits do not fsync, `sqlite_wal.sync_committed`):
a published checkpoint must never cover entries a power loss could take back. When a time-stamping
authority is configured, the signed note is timestamped (RFC 3161) before the
row is written: the table is append-only, so the token cannot be added later.
"""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks import sqlite_wal
from mindlinks.config import Settings
from mindlinks.ledger import note, repository
from mindlinks.ledger.errors import CheckpointNotFound
from mindlinks.ledger.keys import LedgerKeyError, LedgerKeyRing, load_ledger_keys
from mindlinks.ledger.models import LedgerCheckpoint
from mindlinks.ledger.timestamp import request_timestamp
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext

log = structlog.get_logger(__name__)


def keyring_for(ctx: AppContext) -> LedgerKeyRing:
    """The process's ledger key ring, loaded once."""
    ring = ctx.extras.get("ledger.keys")
    if not isinstance(ring, LedgerKeyRing):
        ring = load_ledger_keys(ctx.settings)
        ctx.extras["ledger.keys"] = ring
    return ring


def trusted_vkeys(ctx: AppContext) -> list[str] | None:
    """Every public ledger key (active and retired) the checkpoints must be signed
    by, or None where no key is set up (then signatures are not checked)."""
    try:
        return keyring_for(ctx).vkeys
    except LedgerKeyError:
        return None


def latest_checkpoint(session: Session) -> LedgerCheckpoint | None:
    return session.scalar(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()).limit(1)
    )


def require_latest_checkpoint(session: Session) -> LedgerCheckpoint:
    found = latest_checkpoint(session)
    if found is None:
        raise CheckpointNotFound("No checkpoint has been issued yet.")
    return found


def checkpoint_at(session: Session, tree_size: int) -> LedgerCheckpoint:
    found = session.get(LedgerCheckpoint, tree_size)
    if found is None:
        raise CheckpointNotFound(f"No checkpoint was issued for tree size {tree_size}.")
    return found


def issue_checkpoint(
    session: Session, settings: Settings, keys: LedgerKeyRing
) -> LedgerCheckpoint | None:
    """Sign the current head if the tree grew; None when there is nothing new."""
    size = repository.head_size(session)
    latest = latest_checkpoint(session)
    if size == 0 or (latest is not None and latest.tree_size >= size):
        return None
    root = repository.root_at(session, size)
    # The entries signed for must outlive a power loss: SQLite's commits under
    # synchronous=NORMAL do not fsync (PostgreSQL's do, synchronous_commit on).
    sqlite_wal.sync_committed(session.connection().engine)
    issued = now()
    body = note.format_checkpoint(settings.ledger_origin, size, root, [note.issued_at_line(issued)])
    signed = note.sign_note(body, keys.active.key_name, keys.active.private_key)
    token = None
    if settings.tsa_url:
        token = request_timestamp(
            settings.tsa_url, signed.encode("utf-8"), timeout=settings.tsa_timeout_seconds
        )
    checkpoint = LedgerCheckpoint(
        tree_size=size,
        root_hash=root,
        issued_at=issued,
        key_id=keys.active.key_id,
        note=signed,
        timestamp_token=token,
    )
    try:
        with session.begin_nested():
            session.add(checkpoint)
    except IntegrityError:
        # Another worker signed the same size first; one checkpoint per size.
        return session.get(LedgerCheckpoint, size)
    log.info("ledger_checkpoint_issued", tree_size=size, key_id=checkpoint.key_id)
    return checkpoint
