"""Payment schedules: what a contract's terms promise, period by period.

Created in the same transaction that activates the contract; open-ended contracts
get 12 periods ahead and a scheduled job rolls them forward. `position` is the
item's place in its contract's schedule, unique, so rolling forward twice (two
workers, a retried job) cannot add the same period twice.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mindlinks.db import Base
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id


class PaymentScheduleItem(Base):
    __tablename__ = "payment_schedule_items"
    __table_args__ = (
        UniqueConstraint("contract_id", "position"),
        Index("ix_payment_schedule_items_due", "status", "due_date"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))  # fixed | hourly | milestone
    period_start: Mapped[date]
    period_end: Mapped[date]
    due_date: Mapped[date]
    # Fixed: the (prorated) amount; milestone: its amount; hourly: 0 until hours
    # are approved (the rate is in `rate_minor`).
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    rate_minor: Mapped[int | None] = mapped_column(BigInteger)
    milestone_index: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_at: Mapped[datetime] = mapped_column(default=now)
