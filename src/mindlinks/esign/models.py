"""The signing ceremony's records: disclosure versions, consents and signatures.

A disclosure version's text never changes (a new text is a new version). Every
signature keeps what a court asks for: who (user, role, and for a contractor the
KYC session that verified them), what (the exact document hash), when, from where
(IP, user agent), under which consent, and where the ledger recorded it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mindlinks.db import Base
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id


class EsignDisclosure(Base):
    """The electronic records and signature disclosure (ESIGN §7001(c)), versioned."""

    __tablename__ = "esign_disclosures"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    published_at: Mapped[datetime] = mapped_column(default=now)


class EsignConsent(Base):
    """One signer's acceptance of one disclosure version for one contract."""

    __tablename__ = "esign_consents"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    disclosure_version: Mapped[int] = mapped_column(ForeignKey("esign_disclosures.version"))
    disclosure_sha256: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(default=now)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class ContractSignature(Base):
    """One party's signature; unique per (contract, role), so a party signs once
    even when two requests race."""

    __tablename__ = "contract_signatures"
    __table_args__ = (UniqueConstraint("contract_id", "role"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    party_id: Mapped[str] = mapped_column(ForeignKey("contract_parties.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The identity as verified when signing, kept for the certificate of completion.
    signer_name: Mapped[str] = mapped_column(String(200))
    signer_email: Mapped[str] = mapped_column(String(320))
    kyc_session_id: Mapped[str | None] = mapped_column(String(26))
    consent_id: Mapped[str] = mapped_column(ForeignKey("esign_consents.id"))
    document_sha256: Mapped[str] = mapped_column(String(64))
    signature_type: Mapped[str] = mapped_column(String(8))  # typed | drawn
    typed_name: Mapped[str | None] = mapped_column(String(200))
    drawn_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    drawn_png_sha256: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    signed_at: Mapped[datetime] = mapped_column(default=now)
    # The `contract.signed` ledger entry: its queue id at once, its seq once sequenced.
    ledger_pending_id: Mapped[int] = mapped_column(BigInteger)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)
