"""The ledger's HTTP API (API.md, "Ledger"): checkpoints, keys, entries, proofs."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Path, Query

from mindlinks.identity.auth import AdminActor, CurrentActor
from mindlinks.ledger import checkpoints, repository
from mindlinks.ledger.access import require_subject_readable
from mindlinks.ledger.checkpoints import keyring_for
from mindlinks.ledger.keys import public_key_document
from mindlinks.ledger.models import LedgerCheckpoint, LedgerEntry
from mindlinks.ledger.schemas import (
    CheckpointOut,
    ConsistencyProofOut,
    EntryOut,
    EntryPage,
    InclusionProofOut,
    PublicKeyList,
    PublicKeyOut,
    VerificationOut,
)
from mindlinks.ledger.service import verify_ledger
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.errors import InvalidInput

router = APIRouter(prefix="/api", tags=["ledger"])
MAX_SEQ = 2**62


def checkpoint_out(row: LedgerCheckpoint) -> CheckpointOut:
    token = row.timestamp_token
    return CheckpointOut(
        tree_size=row.tree_size,
        root_hash=row.root_hash.hex(),
        issued_at=row.issued_at,
        key_id=row.key_id,
        note=row.note,
        timestamp_token=base64.b64encode(token).decode("ascii") if token else None,
    )


def entry_out(row: LedgerEntry) -> EntryOut:
    return EntryOut(
        seq=row.seq,
        kind=row.kind,
        subject=row.subject,
        recorded_at=row.recorded_at,
        leaf_hash=row.leaf_hash.hex(),
        entry=base64.b64encode(row.entry_bytes).decode("ascii"),
    )


@router.get("/ledger/checkpoint", response_model=CheckpointOut)
def latest_checkpoint(session: SessionDep) -> CheckpointOut:
    """The latest signed tree head; 404 before the first one."""
    return checkpoint_out(checkpoints.require_latest_checkpoint(session))


@router.get("/ledger/checkpoints/{tree_size}", response_model=CheckpointOut)
def checkpoint_of_size(
    tree_size: Annotated[int, Path(ge=1, le=MAX_SEQ)], session: SessionDep
) -> CheckpointOut:
    return checkpoint_out(checkpoints.checkpoint_at(session, tree_size))


@router.get("/ledger/public-key", response_model=PublicKeyOut)
def public_key(ctx: ContextDep) -> PublicKeyOut:
    return PublicKeyOut(**public_key_document(keyring_for(ctx).active))


@router.get("/ledger/public-keys", response_model=PublicKeyList)
def public_keys(ctx: ContextDep) -> PublicKeyList:
    """Every ledger key ever used: the active one first, then the retired ones."""
    ring = keyring_for(ctx)
    items = [PublicKeyOut(**public_key_document(ring.active))]
    items += [
        PublicKeyOut(**public_key_document(key), retired_at=key.retired_at) for key in ring.retired
    ]
    return PublicKeyList(items=items)


def _decode_seq_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "==").decode("ascii")
        prefix, _, number = text.partition(":")
        if prefix != "seq" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidInput("cursor", "not a cursor this API issued") from exc


def _encode_seq_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode("ascii")).decode("ascii").rstrip("=")


@router.get("/ledger/entries", response_model=EntryPage)
def list_entries(
    actor: CurrentActor,
    session: SessionDep,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> EntryPage:
    """Entries of a subject, oldest first; admins may list everything."""
    if subject is None:
        if not actor.is_admin:
            raise InvalidInput("subject", "required (only admins may list every entry)")
    else:
        require_subject_readable(session, actor, subject)
    rows = repository.entries(
        session,
        subject=subject,
        kind=kind,
        after_seq=_decode_seq_cursor(cursor),
        limit=limit + 1,
    )
    next_cursor = _encode_seq_cursor(rows[limit - 1].seq) if len(rows) > limit else None
    return EntryPage(items=[entry_out(r) for r in rows[:limit]], next_cursor=next_cursor)


@router.get("/ledger/entries/{seq}/proof", response_model=InclusionProofOut)
def inclusion_proof(
    seq: Annotated[int, Path(ge=0, le=MAX_SEQ)],
    session: SessionDep,
    tree_size: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
) -> InclusionProofOut:
    """Audit path of entry `seq` in the tree of `tree_size` (default: latest checkpoint)."""
    entry = repository.get_entry(session, seq)
    size = tree_size or checkpoints.require_latest_checkpoint(session).tree_size
    path = repository.inclusion_proof(session, seq, size)
    return InclusionProofOut(
        seq=seq, leaf_hash=entry.leaf_hash.hex(), tree_size=size, audit_path=[h.hex() for h in path]
    )


@router.get("/ledger/consistency", response_model=ConsistencyProofOut)
def consistency_proof(
    first: Annotated[int, Query(le=MAX_SEQ)],
    second: Annotated[int, Query(le=MAX_SEQ)],
    session: SessionDep,
) -> ConsistencyProofOut:
    proof = repository.consistency_proof(session, first, second)
    return ConsistencyProofOut(first=first, second=second, proof=[h.hex() for h in proof])


@router.get("/admin/ledger/verify", response_model=VerificationOut)
def verify(actor: AdminActor, ctx: ContextDep) -> VerificationOut:
    """Re-derive the whole ledger from the table: chain, leaves, nodes, checkpoints."""
    # A session of its own: it reads one consistent snapshot, and on SQLite it
    # does not hold the write lock for the whole run.
    with ctx.session_factory() as snapshot:
        report = verify_ledger(snapshot, trusted_keys=checkpoints.trusted_vkeys(ctx))
    return VerificationOut(
        ok=report.ok,
        entries_checked=report.entries_checked,
        first_bad_seq=report.first_bad_seq,
        reason=report.reason,
    )
