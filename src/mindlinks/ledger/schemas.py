from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class CheckpointOut(BaseModel):
    tree_size: int
    root_hash: str = Field(description="lowercase hex SHA-256 Merkle root")
    issued_at: datetime
    key_id: str = Field(description="4-byte C2SP key hash, hex")
    note: str = Field(description="the C2SP signed note (tlog-checkpoint)")
    timestamp_token: str | None = Field(
        default=None, description="base64 DER RFC 3161 token over the note, when configured"
    )


class PublicKeyOut(BaseModel):
    key_id: str
    algorithm: Literal["Ed25519"] = "Ed25519"
    key_name: str
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    vkey: str
    retired_at: str | None = None


class PublicKeyList(BaseModel):
    items: list[PublicKeyOut]
    next_cursor: str | None = None


class EntryOut(BaseModel):
    seq: int
    kind: str
    subject: str
    recorded_at: datetime
    leaf_hash: str
    entry: str = Field(description="base64 of the exact RFC 8785 bytes that were hashed")


class EntryPage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None


class InclusionProofOut(BaseModel):
    seq: int
    leaf_hash: str
    tree_size: int
    audit_path: list[str]


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    proof: list[str]


class VerificationOut(BaseModel):
    ok: bool
    entries_checked: int
    first_bad_seq: int | None
    reason: str | None = None
