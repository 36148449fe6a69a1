"""Companies, the people linked to them, and invites to contractors."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from mindlinks.db import Base
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id

VERIFICATION_STATUSES = ("pending", "verified", "rejected")
RELATIONS = ("owner", "member", "contractor")
# Stored invite statuses. "expired" is also derived: a pending invite whose
# `expires_at` has passed is shown as expired (see `service.invite_status`); it
# is written only when a new invite to the same address replaces it.
INVITE_STATUSES = ("pending", "accepted", "revoked", "expired")


class Company(Base):
    """A client company and what the business registry said about it.

    `registry_*` columns hold the last registry answer (null until one came).
    A registration number is not unique across companies: a registry check
    proves that the company exists, not that the caller speaks for it, and a
    uniqueness rule would let anyone squat on a real company's number.
    """

    __tablename__ = "companies"
    __table_args__ = (
        Index("ix_companies_registration", "jurisdiction_code", "registration_number"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    legal_name: Mapped[str] = mapped_column(String(200))
    jurisdiction_code: Mapped[str] = mapped_column(String(10))
    registration_number: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    verification_status: Mapped[str] = mapped_column(String(16), default="pending")
    registry_found: Mapped[bool | None]
    registry_name: Mapped[str | None] = mapped_column(String(300))
    registry_status: Mapped[str | None] = mapped_column(String(200))
    registry_incorporation_date: Mapped[date | None]
    registry_address: Mapped[str | None] = mapped_column(Text)
    registry_source: Mapped[str | None] = mapped_column(String(50))
    registry_url: Mapped[str | None] = mapped_column(String(500))
    registry_checked_at: Mapped[datetime | None]
    # Who registered it; null once that account is erased.
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=now)


class CompanyLink(Base):
    """One person's relation to one company: owner, member or contractor."""

    __tablename__ = "company_links"
    __table_args__ = (UniqueConstraint("company_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    relation: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=now)


class Invite(Base):
    """A one-time, expiring invitation of a contractor by email.

    Only the SHA-256 of the token is stored; it is null until the email job
    mints the token, and replaced when the invite is resent (the old link dies).
    At most one invite per company and address is pending at a time (partial
    unique index), so two concurrent invites cannot both be created.
    """

    __tablename__ = "invites"
    __table_args__ = (
        Index(
            "uq_invites_pending_email",
            "company_id",
            "email_normalized",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_invites_company_id", "company_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320))
    full_name: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    expires_at: Mapped[datetime]
    send_count: Mapped[int] = mapped_column(Integer, default=1)
    last_sent_at: Mapped[datetime | None]
    # Kept on the invite so the email job needs nothing from another module's tables.
    inviter_name: Mapped[str | None] = mapped_column(String(200))
    invited_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    accepted_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now)
