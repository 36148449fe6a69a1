"""Full verification: re-derive the whole ledger from its tables, report the first bad seq.

For every entry, in seq order: the seq column is the next one (no gap); the bytes
are a JSON object in RFC 8785 form (no floats); the seq and prev_hash inside them
chain to the previous entry, and kind, subject, actor and recorded_at agree with
their columns; SHA-256(0x00 ‖ bytes) equals the stored leaf hash. Then every stored
complete-subtree node is recomputed from the leaves, every stored checkpoint's root
(and the size and root written in its note) is recomputed, and neither nodes nor
checkpoints may reach beyond the last entry (a truncated ledger).

The first bad seq is the smallest seq at which something is wrong: the entry itself,
or for a node the last leaf it covers (the append that wrote it), or for a
checkpoint its last entry (tree_size - 1); past the end it is the head (the first
missing entry).

`entries_checked` counts the entries that passed: on an entry problem it equals
the first bad seq.

Speed: entries stream in chunks of 2^12, one primary-key range select of the raw
columns each (Core, no ORM objects); the bytes are parsed and re-serialized by the
C `json` module (see `canonical.parse_canonical`); each chunk's nodes of levels
1..12 are recomputed and compared in bulk, with one query; higher levels and the
checkpoint roots come from a running stack of chunk roots. Memory stays
O(chunk + n / 2^12). Re-parsing the JSON is most of the cost (it takes about 15
times as long as hashing the same bytes).

When the session has not begun a transaction, the run reads one snapshot
(REPEATABLE READ on PostgreSQL, a deferred read transaction on SQLite, which keeps
the write lock free for appends); otherwise it checks the entries below the head it
read first and skips the beyond-the-head checks if the ledger grew meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from mindlinks.ledger import merkle
from mindlinks.ledger.canonical import (
    GENESIS_PREV_HASH,
    NotCanonical,
    parse_canonical,
)
from mindlinks.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerNode
from mindlinks.ledger.repository import head_size

CHUNK_LEVEL = 12
_E = cast(Table, LedgerEntry.__table__)
_CHUNK = (
    select(_E.c.seq, _E.c.kind, _E.c.subject, _E.c.actor, _E.c.recorded_at)
    .add_columns(_E.c.entry_bytes, _E.c.leaf_hash, _E.c.prev_hash)
    .where(_E.c.seq >= bindparam("start"), _E.c.seq < bindparam("stop"))
    .order_by(_E.c.seq)
)


def _rfc3339(moment: datetime) -> str:
    """`format_recorded_at` for the UTC datetimes the column gives back."""
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


REQUIRED_FIELDS = frozenset(
    {"seq", "kind", "subject", "actor", "recorded_at", "payload", "prev_hash"}
)
_sha256 = hashlib.sha256


@dataclass(frozen=True)
class VerificationReport:
    ok: bool
    entries_checked: int
    first_bad_seq: int | None
    reason: str | None
    tree_size: int = 0
    checkpoints_checked: int = 0


@dataclass
class _Run:
    session: Session
    size: int
    chunk_level: int
    prev_leaf: bytes = GENESIS_PREV_HASH
    checked: int = 0
    checkpoints_checked: int = 0
    stack: list[tuple[int, bytes]] = field(default_factory=list)  # complete subtrees ≥ chunk
    upper: dict[merkle.Node, bytes] = field(default_factory=dict)  # computed levels > chunk
    problems: list[tuple[int, str]] = field(default_factory=list)

    def bad(self, seq: int, reason: str) -> None:
        self.problems.append((seq, reason))

    # -- entries --------------------------------------------------------------------

    def entries(self, start: int) -> list[bytes]:
        rows = (
            self.session.connection()
            .execute(
                _CHUNK,
                {"start": start, "stop": min(start + (1 << self.chunk_level), self.size)},
            )
            .all()
        )
        leaves: list[bytes] = []
        expected, prev = start, self.prev_leaf
        prev_hex = prev.hex()
        for seq, kind, subject, actor, recorded_at, raw, stored_leaf, stored_prev in rows:
            if seq != expected:
                self.bad(expected, f"entry {expected} is missing (the next stored is {seq})")
                break
            try:
                value = parse_canonical(raw)
            except NotCanonical as exc:
                self.bad(seq, f"entry {seq}: {exc}")
                break
            leaf = _sha256(b"\x00" + raw).digest()
            if leaf != stored_leaf:
                self.bad(seq, f"entry {seq}: its bytes do not hash to the stored leaf hash")
                break
            if stored_prev != prev:
                self.bad(seq, f"entry {seq}: prev_hash column is not entry {seq - 1}'s leaf hash")
                break
            s = value.get("seq")
            if not (
                type(s) is int
                and s == seq
                and value.get("prev_hash") == prev_hex
                and value.get("kind") == kind
                and value.get("subject") == subject
                and value.get("actor") == actor
                and value.get("recorded_at") == _rfc3339(recorded_at)
                and isinstance(value.get("payload"), dict)
                and value.keys() >= REQUIRED_FIELDS
            ):
                self.bad(seq, f"entry {seq}: " + _field_problem(value, seq, prev_hex))
                break
            leaves.append(leaf)
            prev, prev_hex, expected = leaf, leaf.hex(), expected + 1
        else:
            if len(rows) < min(1 << self.chunk_level, self.size - start):
                self.bad(expected, f"entry {expected} is missing")
        self.prev_leaf = prev
        self.checked = start + len(leaves)
        return leaves

    # -- nodes ----------------------------------------------------------------------

    def nodes(self, start: int, leaves: list[bytes]) -> list[list[bytes]]:
        levels = [leaves]
        while len(levels) <= self.chunk_level and len(levels[-1]) >= 2:
            below = levels[-1]
            levels.append(
                [
                    _sha256(b"\x01" + below[i] + below[i + 1]).digest()
                    for i in range(0, len(below) - 1, 2)
                ]
            )
        if len(levels) == 1:
            return levels
        n = LedgerNode
        ranges = [
            and_(n.level == lv, n.idx >= start >> lv, n.idx < (start >> lv) + len(levels[lv]))
            for lv in range(1, len(levels))
        ]
        stored: dict[int, list[bytes]] = {lv: [] for lv in range(1, len(levels))}
        for level, h in self.session.connection().execute(
            select(n.level, n.hash).where(or_(*ranges)).order_by(n.level, n.idx)
        ):
            stored[level].append(bytes(h))
        for lv in range(1, len(levels)):
            if stored[lv] != levels[lv]:
                self._node_mismatch(lv, start >> lv, levels[lv])
        return levels

    def _node_mismatch(self, level: int, base: int, computed: list[bytes]) -> None:
        n = LedgerNode
        rows = self.session.execute(
            select(n.idx, n.hash).where(
                n.level == level, n.idx >= base, n.idx < base + len(computed)
            )
        )
        stored = {int(i): bytes(h) for i, h in rows}
        for offset, h in enumerate(computed):
            index = base + offset
            if stored.get(index) != h:
                what = "is missing" if index not in stored else "has a wrong hash"
                self.bad(((index + 1) << level) - 1, f"tree node ({level}, {index}) {what}")
                return

    def push_chunk_root(self, end: int, chunk_root: bytes) -> None:
        level, h = self.chunk_level, chunk_root
        while self.stack and self.stack[-1][0] == level:
            _, left = self.stack.pop()
            h = merkle.node_hash(left, h)
            level += 1
            self.upper[(level, (end >> level) - 1)] = h
        self.stack.append((level, h))

    def check_upper(self) -> None:
        n = LedgerNode
        rows = self.session.execute(
            select(n.level, n.idx, n.hash).where(n.level > self.chunk_level)
        )
        stored = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
        for (level, index), h in self.upper.items():
            if stored.get((level, index)) != h:
                what = "is missing" if (level, index) not in stored else "has a wrong hash"
                self.bad(((index + 1) << level) - 1, f"tree node ({level}, {index}) {what}")

    # -- checkpoints ----------------------------------------------------------------

    def checkpoints(self, start: int, levels: list[list[bytes]]) -> None:
        c = LedgerCheckpoint
        end = start + len(levels[0])
        rows = self.session.execute(
            select(c.tree_size, c.root_hash, c.note)
            .where(c.tree_size > start, c.tree_size <= end)
            .order_by(c.tree_size)
        )
        prefix = [h for _, h in self.stack]
        for size, root_hash, note in rows:
            inside = [levels[lv][i - (start >> lv)] for lv, i in merkle.range_nodes(start, size)]
            self.check_checkpoint(int(size), bytes(root_hash), note, merkle.fold(prefix + inside))

    def check_checkpoint(self, size: int, stored: bytes, note: str, computed: bytes) -> None:
        self.checkpoints_checked += 1
        last = max(size - 1, 0)
        if stored != computed:
            self.bad(last, f"checkpoint {size}: its root is not the root of the first {size}")
        elif _note_body(note) != (size, computed):
            self.bad(last, f"checkpoint {size}: its note does not state this size and root")

    # -- beyond the head ------------------------------------------------------------

    def check_beyond_head(self) -> None:
        expected = sum(self.size >> lv for lv in range(1, self.size.bit_length()))
        count = self.session.scalar(select(func.count()).select_from(LedgerNode)) or 0
        if count != expected:
            self.bad(self.size, f"{count} tree nodes stored, {expected} expected for the entries")
        beyond = self.session.scalar(
            select(func.min(LedgerCheckpoint.tree_size)).where(
                LedgerCheckpoint.tree_size > self.size
            )
        )
        if beyond is not None:
            self.bad(self.size, f"checkpoint {beyond} is beyond the {self.size} stored entries")


def _note_body(note: str) -> tuple[int, bytes] | None:
    """The tree size and root hash that a C2SP checkpoint note states."""
    lines = note.split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        return None
    try:
        return int(lines[1]), base64.b64decode(lines[2], validate=True)
    except (binascii.Error, ValueError):
        return None


def _field_problem(value: dict[str, Any], seq: int, prev_hex: str) -> str:
    missing = sorted(REQUIRED_FIELDS - value.keys())
    if missing:
        return f"the entry object lacks {', '.join(missing)}"
    if type(value["seq"]) is not int or value["seq"] != seq:
        return f"its bytes say seq {value['seq']!r}"
    if value.get("prev_hash") != prev_hex:
        return "its prev_hash is not the previous entry's leaf hash"
    if not isinstance(value["payload"], dict):
        return "its payload is not a JSON object"
    return "its kind, subject, actor or recorded_at differ from the columns"


def _begin_snapshot(session: Session) -> None:
    """Read one consistent state when the session has not started a transaction yet:
    REPEATABLE READ on PostgreSQL, a deferred (read) transaction on SQLite, which
    does not take the write lock for the whole run."""
    if session.in_transaction():
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    elif dialect == "sqlite":
        session.connection(execution_options={"sqlite_begin": "DEFERRED"})


def verify_ledger(
    session: Session,
    progress: Callable[[int, int], None] | None = None,
    *,
    chunk_level: int = CHUNK_LEVEL,
) -> VerificationReport:
    """Re-derive the whole ledger; `progress(entries_checked, total)` after each chunk
    of 2^chunk_level entries (smaller chunks only serve the tests)."""
    if not 1 <= chunk_level <= 20:
        raise ValueError("chunk_level must be from 1 to 20")
    _begin_snapshot(session)
    run = _Run(session, head_size(session), chunk_level)
    empty = session.scalar(select(LedgerCheckpoint).where(LedgerCheckpoint.tree_size == 0))
    if empty is not None:
        run.check_checkpoint(0, empty.root_hash, empty.note, merkle.EMPTY_ROOT)
    chunk = 1 << chunk_level
    start = 0
    while start < run.size and not run.problems:
        leaves = run.entries(start)
        if not leaves:
            break
        levels = run.nodes(start, leaves)
        run.checkpoints(start, levels)
        if len(leaves) == chunk:
            run.push_chunk_root(start + chunk, levels[chunk_level][0])
        start += len(leaves)
        if progress is not None:
            progress(run.checked, run.size)
    run.check_upper()
    if not run.problems and head_size(session) == run.size:
        run.check_beyond_head()
    if run.problems:
        seq, reason = min(run.problems)
        return VerificationReport(
            False, run.checked, seq, reason, run.size, run.checkpoints_checked
        )
    return VerificationReport(True, run.checked, None, None, run.size, run.checkpoints_checked)
