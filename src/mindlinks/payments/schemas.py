"""API shapes of the payments module (separate from the tables)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from mindlinks.payments.models import PaymentScheduleItem
from mindlinks.platform.money import Money

ScheduleItemStatus = Literal["scheduled", "invoiced", "paid"]
ScheduleItemKind = Literal["fixed", "hourly", "milestone"]


class ScheduleItemOut(BaseModel):
    id: str
    position: int = Field(description="0-based place in the contract's schedule")
    kind: ScheduleItemKind
    period_start: date
    period_end: date
    due_date: date = Field(description="The last day of the period (paid in arrears)")
    amount: Money = Field(
        description="Fixed: the (prorated) amount; milestone: its amount; "
        "hourly: 0 until hours are approved"
    )
    rate: Money | None = Field(description="Hourly terms: the rate per hour; else null")
    title: str | None = Field(description="Milestone terms: the milestone's title; else null")
    milestone_index: int | None = Field(description="Milestone terms: its index in the terms")
    status: ScheduleItemStatus

    @classmethod
    def of(cls, item: PaymentScheduleItem) -> ScheduleItemOut:
        return cls(
            id=item.id,
            position=item.position,
            kind=item.kind,
            period_start=item.period_start,
            period_end=item.period_end,
            due_date=item.due_date,
            amount=Money(amount_minor=item.amount_minor, currency=item.currency),
            rate=(
                Money(amount_minor=item.rate_minor, currency=item.currency)
                if item.rate_minor is not None
                else None
            ),
            title=item.title,
            milestone_index=item.milestone_index,
            status=item.status,
        )
