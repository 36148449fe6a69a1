from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mindlinks.db import Base
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id


class EmailDelivery(Base):
    """One email handed to the mailer, recorded under the sender's idempotency key.

    Jobs run at least once; this row, written in the job's transaction before
    the mailer is called, makes a second run of the same key send nothing.
    """

    __tablename__ = "email_deliveries"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    template: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    message_id: Mapped[str] = mapped_column(String(200))
    mailer: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(default=now)


class DevMailboxMessage(Base):
    """An email kept by the development mailer instead of being sent (`/dev/mailbox`)."""

    __tablename__ = "dev_mailbox"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    sender: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime] = mapped_column(default=now, index=True)


class Notification(Base):
    """An in-app notification for one user (`GET /api/notifications`)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2000))
    # Optional: callers outside a job's exactly-once transaction may pass a key.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    read_at: Mapped[datetime | None]

    @property
    def read(self) -> bool:
        return self.read_at is not None
