"""The ledger's one write path: append entries inside the caller's transaction.

An entry is the RFC 8785 (JCS) serialization of

    {"seq", "kind", "subject", "actor", "recorded_at", "payload", "prev_hash"}

where `seq` is the 0-based leaf index, `recorded_at` an RFC 3339 UTC time with
microseconds and `Z` (a claim, made when the caller appends: `seq` alone orders
entries), and `prev_hash` the lowercase hex leaf hash of entry seq-1 (64 zeros for
entry 0). Those bytes are stored exactly as hashed; leaf = SHA-256(0x00 ‖ bytes)
(RFC 9162).

`append_entry` / `append_entries` validate and encode the content (kind, subject,
actor, payload, recorded_at) and write it in the caller's transaction, so it
commits or rolls back with the caller's state change. What happens next is the
engine's strategy, never a flag:

- PostgreSQL: the content goes to the queue (`ledger_pending`) and nothing is
  locked, so concurrent appends commit, and group-commit, side by side. The
  caller's commit is the append's only synchronous write: the engine's sequencer
  thread then gives the committed entries their seq, in batches, within
  milliseconds (`sequencer.Background`; Certificate Transparency's merge delay).
  An appended entry has no seq yet: `seq_of(session, pending_id)` finds it later
  (None until then; `sequencer.wait_integrated` waits for it); in the appending
  transaction itself it integrates the session's queued entries first, holding
  the ledger lock until that transaction ends.
- SQLite: every app transaction already holds the one write lock (`BEGIN
  IMMEDIATE`, see `mindlinks.db`), so there is nothing to group: the entries are
  integrated at once, in the caller's transaction, by the same code the sequencer
  runs (`sequencer.integrate_at_once`, after the head the engine cached, which the
  database's chain trigger vouches for). An entry's number (its "pending id") is
  its seq + 1. They have their seq on return.

On PostgreSQL `ledger_sequenced` maps every integrated entry's pending id to its
seq; either way the tree's complete subtrees (`ledger_nodes`) are written with the
entries.

Fields: `kind` is dotted lower case (`contract.signed`), `subject` is
`<type>:<id>` and `actor` a printable ASCII token (`user:<id>`, `system`), both
without spaces; the payload is a JSON object (see `canonical.check_payload`).

There is no update or delete here or anywhere in the module but the sequencer's
deletion of the queued rows it integrated; the database refuses the rest
(migrations 0005_ledger, 0006_ledger_pending). `verify_ledger` (module
`integrity`) is re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from mindlinks.ledger import sequencer, store
from mindlinks.ledger.canonical import (
    check_entry_size,
    encode_payload,
    entry_parts,
    format_recorded_at,
)
from mindlinks.ledger.errors import LedgerEntryInvalid, LedgerPayloadNotCanonical
from mindlinks.ledger.integrity import VerificationReport, verify_ledger
from mindlinks.ledger.models import ACTOR_MAX, KIND_MAX, SUBJECT_MAX
from mindlinks.ledger.sequencer import Integration, Queued, integrate_pending
from mindlinks.ledger.store import LOCK_KEY
from mindlinks.platform.clock import now

_KIND = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_SUBJECT = re.compile(r"[a-z][a-z0-9_]*:[\x21-\x7e]+")
_ACTOR = re.compile(r"[\x21-\x7e]+")
_FIELDS = re.compile(f"{_KIND.pattern} {_SUBJECT.pattern} {_ACTOR.pattern}")

__all__ = [
    "LOCK_KEY",
    "Appended",
    "Integration",
    "NewEntry",
    "VerificationReport",
    "append_entries",
    "append_entry",
    "integrate_pending",
    "seq_of",
    "verify_ledger",
]

# Every process that appends integrates after its commits.
sequencer.install_hook()


class NewEntry(NamedTuple):
    """One entry to append: `kind` like `contract.signed`, `subject` like
    `contract:<id>`, `actor` like `user:<id>` or `system`, and a small JSON payload
    of ids, hashes, amounts and decisions (never personal data)."""

    kind: str
    subject: str
    actor: str
    payload: Mapping[str, Any]


class Appended(NamedTuple):
    """An appended entry: its content, its pending id (`ledger_sequenced`), and its
    seq when it is already known (SQLite: always; PostgreSQL: None, see `seq_of`).

    This, `NewEntry` and `sequencer.Queued` are NamedTuples, immutable like a frozen
    dataclass: one of each is made per entry, and a frozen dataclass cost three times
    as much to make (0.9 µs against 0.3)."""

    pending_id: int
    seq: int | None
    kind: str
    subject: str
    actor: str
    recorded_at: datetime
    payload: Mapping[str, Any]


def _check_field(name: str, value: Any, pattern: re.Pattern[str], limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit or not pattern.fullmatch(value):
        raise LedgerEntryInvalid(
            f"{name} {value!r} must match {pattern.pattern} and have at most {limit} characters"
        )
    return value


def _encoded(item: NewEntry) -> tuple[bytes, bytes, bytes]:
    """(payload bytes, entry head, entry tail), or the error that refuses the item."""
    kind, subject, actor = item.kind, item.subject, item.actor
    # The three fields in one match (none holds a space); a miss checks them one by
    # one, to name the field.
    if not (
        type(kind) is str
        and type(subject) is str
        and type(actor) is str
        and len(kind) <= KIND_MAX
        and len(subject) <= SUBJECT_MAX
        and len(actor) <= ACTOR_MAX
        and _FIELDS.fullmatch(f"{kind} {subject} {actor}")
    ):
        _check_field("kind", kind, _KIND, KIND_MAX)
        _check_field("subject", subject, _SUBJECT, SUBJECT_MAX)
        _check_field("actor", actor, _ACTOR, ACTOR_MAX)
    if type(item.payload) is not dict and not isinstance(item.payload, Mapping):
        raise LedgerPayloadNotCanonical("payload must be a JSON object (a dict)")
    payload = encode_payload(item.payload)
    head, tail = entry_parts(item.kind, item.subject, item.actor, payload)
    check_entry_size(head, tail)
    return payload, head, tail


def entry_object(seq: int, item: NewEntry, recorded_at: str, prev_hash: bytes) -> dict[str, Any]:
    """The JSON object an entry's bytes serialize (for tests and benchmarks)."""
    return {
        "seq": seq,
        "kind": item.kind,
        "subject": item.subject,
        "actor": item.actor,
        "recorded_at": recorded_at,
        "payload": dict(item.payload),
        "prev_hash": prev_hash.hex(),
    }


def append_entry(
    session: Session, kind: str, subject: str, actor: str, payload: Mapping[str, Any]
) -> Appended:
    """Append one entry in the caller's transaction (written, not committed)."""
    return append_entries(session, [NewEntry(kind, subject, actor, payload)])[0]


def append_entries(session: Session, items: Sequence[NewEntry]) -> list[Appended]:
    """Append entries in order, in the caller's transaction: queued on PostgreSQL
    (integrated by the sequencer after the commit), integrated at once on SQLite
    (see the module).

    Every item is validated and encoded before anything is written, so a bad one
    refuses the whole batch."""
    encoded = [_encoded(item) for item in items]
    if not encoded:
        return []
    db = store.on(session.connection())
    recorded = now()
    if db.queues:
        rows = [
            (item.kind, item.subject, item.actor, payload)
            for item, (payload, _, _) in zip(items, encoded, strict=True)
        ]
        ids = store.insert_queued(db, recorded, rows)
        sequencer.note_queued(session, ids)
        return [
            Appended(pid, None, item.kind, item.subject, item.actor, recorded, item.payload)
            for pid, item in zip(ids, items, strict=True)
        ]
    stamp = format_recorded_at(recorded)
    queued = [
        Queued(0, item.kind, item.subject, item.actor, recorded, stamp, head, tail)
        for item, (_, head, tail) in zip(items, encoded, strict=True)
    ]
    first = sequencer.integrate_at_once(db, queued)
    sequencer.forget_stale(session, first, len(queued))
    return [
        Appended(seq + 1, seq, item.kind, item.subject, item.actor, recorded, item.payload)
        for seq, item in enumerate(items, first)
    ]


def seq_of(session: Session, pending_id: int) -> int | None:
    """The seq the entry queued as `pending_id` got, or None if it has none (yet:
    on PostgreSQL the sequencer integrates committed entries a few milliseconds
    after their commit).

    In the transaction that appended it, the session's queued entries are
    integrated first (read-your-writes: the ledger lock is then held until that
    transaction ends)."""
    sequencer.settle(session)
    return store.seq_of(store.on(session.connection()), pending_id)
