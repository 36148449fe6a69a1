"""Identity-verification sessions, their documents, and the webhook events seen.

PII never sits in a column in clear: the document number is sealed (AES-GCM under
the blob key ring, bound to the session id) and the images live in the encrypted
blob store; rows keep hashes, sizes and statuses only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mindlinks.db import Base
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id

# An open session is one that can still reach a decision; a contractor has at most
# one (partial unique index below), so two concurrent starts cannot both open one.
OPEN_STATUSES = ("created", "submitted", "review")
_OPEN_SQL = "status IN ('created', 'submitted', 'review')"


class KycSession(Base):
    __tablename__ = "kyc_sessions"
    __table_args__ = (
        UniqueConstraint("provider", "provider_reference"),
        Index(
            "uq_kyc_sessions_open_user",
            "user_id",
            unique=True,
            sqlite_where=text(_OPEN_SQL),
            postgresql_where=text(_OPEN_SQL),
        ),
        Index("ix_kyc_sessions_user_id", "user_id", "id"),
        Index("ix_kyc_sessions_status", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    # The provider's verification id (Veriff verification.id, Onfido run id).
    provider_reference: Mapped[str] = mapped_column(String(200))
    verification_url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="created")
    # `reason_code` is a short machine word for the ledger and filters
    # (`resubmission_requested`, `admin_declined`, …); `reason` is the text shown.
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(1000))
    provider_status: Mapped[str | None] = mapped_column(String(64))  # raw, for the record
    document_number_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    client_token_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # Onfido SDK token
    # What the provider extracted, minus anything personal (see service._safe_extracted).
    extracted: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_polled_at: Mapped[datetime | None]


class KycDocument(Base):
    """One captured image. After the retention period the blob is deleted and
    `purged_at` set; the hashes and sizes stay as evidence of what was checked."""

    __tablename__ = "kyc_documents"
    __table_args__ = (UniqueConstraint("session_id", "side"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("kyc_sessions.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(8))  # front | back | selfie
    blob_key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=now)
    purged_at: Mapped[datetime | None]


class KycWebhookEvent(Base):
    """Every provider event applied once: a repeat of (provider, event_id) is a no-op."""

    __tablename__ = "kyc_webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(16), default="webhook")  # webhook | poll
    outcome: Mapped[str] = mapped_column(String(16))
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("kyc_sessions.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = mapped_column(default=now)


class KycSandboxVerification(Base):
    """The sandbox provider's own record of what it decided (its side of the
    fence, as Veriff keeps its own): `fetch_decision` reads it back."""

    __tablename__ = "kyc_sandbox_verifications"

    reference: Mapped[str] = mapped_column(String(200), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("kyc_sessions.id", ondelete="CASCADE"))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(1000))
    decided_at: Mapped[datetime] = mapped_column(default=now)
