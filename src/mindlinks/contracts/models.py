"""Contract templates, contracts, their parties and their frozen documents.

A published template version never changes: a new version is a new row, and the
database refuses UPDATE of a template's body or variables (trigger, migration
0008). A contract's PDF bytes are frozen when it is sent; `document_sha256` is
what every signature refers to. PDFs live in the encrypted blob store; rows keep
their hashes and sizes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mindlinks.db import Base
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id


class ContractTemplate(Base):
    __tablename__ = "contract_templates"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    # Stable name of the template family (`direct-services`); versions share it.
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))  # direct | eor
    signing_order: Mapped[str] = mapped_column(String(16), default="sequential")  # | parallel
    # Jinja2 HTML of the document body; rendered in a sandboxed environment.
    body: Mapped[str] = mapped_column(Text)
    # Typed variables: [{"name", "type", "label", "required", "default"?, "choices"?}]
    variables: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    body_sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(default=now)


class Contract(Base):
    __tablename__ = "contracts"
    __table_args__ = (
        Index("ix_contracts_company_id", "company_id", "id"),
        Index("ix_contracts_contractor_id", "contractor_id", "id"),
        Index("ix_contracts_status", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    template_id: Mapped[str] = mapped_column(ForeignKey("contract_templates.id"))
    contractor_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(Text)
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    payment_terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Values of the template's other typed variables (governing law, notice days, …).
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    # Bumped by every change of a draft, so an edit racing a send is caught.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    fully_signed_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]
    sealed_sha256: Mapped[str | None] = mapped_column(String(64))
    sealed_at: Mapped[datetime | None]
    seal_attempts: Mapped[int] = mapped_column(Integer, default=0)
    seal_error: Mapped[str | None] = mapped_column(String(1000))
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(1000))
    declined_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(1000))
    declined_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ended_at: Mapped[datetime | None]  # completed or terminated
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class ContractParty(Base):
    """One signing role of one contract. The `eor` party's `user_id` is null until
    the admin who countersigns for the employer-of-record entity signs."""

    __tablename__ = "contract_parties"
    __table_args__ = (UniqueConstraint("contract_id", "role"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(12))  # client | contractor | eor
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # 0-based place in a sequential order; parallel templates give every party 0.
    position: Mapped[int] = mapped_column(Integer)
    # When it became this party's turn (for reminders after 3 and 7 days).
    awaiting_since: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    signed_at: Mapped[datetime | None]


class ContractDocument(Base):
    """A frozen PDF of a contract: `sent` (what is signed), `sealed` (the sent PDF
    plus incremental updates with every signature and the platform seal) and
    `completion` (the certificate of completion)."""

    __tablename__ = "contract_documents"
    __table_args__ = (UniqueConstraint("contract_id", "kind"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))  # sent | sealed | completion
    blob_key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=now)
