"""Exported proofs: an entry, its audit path and the signed checkpoint it is in.

The format is the offline verifier's (`ledger/verifier.py`, `mindlinks-ledger-proof/1`).
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy.orm import Session

from mindlinks.ledger import repository
from mindlinks.ledger.models import LedgerCheckpoint
from mindlinks.ledger.verifier import FORMAT


def proof_bundle(session: Session, seq: int, checkpoint: LedgerCheckpoint) -> dict[str, Any]:
    """The proof that entry `seq` is in the tree `checkpoint` signed."""
    entry = repository.get_entry(session, seq)
    path = repository.inclusion_proof(session, seq, checkpoint.tree_size)
    token = checkpoint.timestamp_token
    return {
        "format": FORMAT,
        "entry": {
            "seq": entry.seq,
            "entry": base64.b64encode(entry.entry_bytes).decode("ascii"),
            "leaf_hash": entry.leaf_hash.hex(),
        },
        "proof": {
            "tree_size": checkpoint.tree_size,
            "audit_path": [h.hex() for h in path],
        },
        "checkpoint": checkpoint.note,
        "timestamp_token": base64.b64encode(token).decode("ascii") if token else None,
    }
