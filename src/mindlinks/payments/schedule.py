"""From payment terms to schedule items: pure date and integer arithmetic, no DB.

Periods (fixed and hourly terms). Period `k` (0-based, the item's `position`)
starts on `anchor(k)` and ends the day before `anchor(k + 1)`:
- weekly: `anchor(k) = start_date + 7k days`; biweekly: `+ 14k days`;
- monthly: `anchor(k)` is `start_date` moved `k` calendar months, keeping its
  day of month and clamping it to the last day of a shorter month. Every anchor
  is computed from `start_date`, never from the previous anchor, so the clamp
  does not stick: a start on Jan 31 gives anchors Jan 31, Feb 28 (Feb 29 in a
  leap year), Mar 31, Apr 30, ... and periods Jan 31-Feb 27, Feb 28-Mar 30, ...
Periods are therefore contiguous and never overlap. Each item is due on the
last day of its period (paid in arrears).

A contract with an end date gets every period that starts on or before it; when
the end date falls inside a period, that last period ends on the end date and a
fixed amount is prorated by days: `amount * days / full_days`, rounded half-up
to the minor unit in integer arithmetic (never floats). An open-ended contract
gets `horizon_periods` periods from `from_position`; the service rolls it
forward later with the next positions.

Hourly terms: the same periods, `amount_minor` 0 (hours are priced when they are
approved) and `rate_minor` kept on the item.

Milestones: one item per milestone in the order given (their due dates are
validated to be in order). A milestone's period runs from the day after the
previous milestone's due date (the contract's start date for the first) to its
own due date, which is also when it is due. Milestones sharing a due date share
a period start too (that date), so a period never ends before it starts.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from mindlinks.contracts.terms import FixedTerms, HourlyTerms, MilestoneTerms

ItemKind = Literal["fixed", "hourly", "milestone"]
DEFAULT_HORIZON_PERIODS = 12


@dataclass(frozen=True)
class ScheduleItemSpec:
    """One schedule item before it is a row."""

    position: int
    kind: ItemKind
    period_start: date
    period_end: date
    due_date: date
    amount_minor: int
    currency: str
    rate_minor: int | None = None
    milestone_index: int | None = None
    title: str | None = None


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months, its day of month clamped to the
    target month's last day (Jan 31 + 1 month = Feb 28 or 29)."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_anchor(start_date: date, cycle: str, position: int) -> date:
    """The first day of period `position` of a cycle schedule starting on `start_date`."""
    if cycle == "weekly":
        return start_date + timedelta(days=7 * position)
    if cycle == "biweekly":
        return start_date + timedelta(days=14 * position)
    if cycle == "monthly":
        return add_months(start_date, position)
    raise ValueError(f"unknown cycle {cycle!r}")


def period_bounds(start_date: date, cycle: str, position: int) -> tuple[date, date]:
    """First and last day of the full period `position`."""
    first = period_anchor(start_date, cycle, position)
    return first, period_anchor(start_date, cycle, position + 1) - timedelta(days=1)


def position_covering(start_date: date, cycle: str, day: date) -> int:
    """The position of the period that contains `day` (0 for any day before the start)."""
    if day <= start_date:
        return 0
    if cycle in ("weekly", "biweekly"):
        return (day - start_date).days // (7 if cycle == "weekly" else 14)
    # Months: estimate from the calendar, then step to the exact period (at most
    # one step either way, because of the day-of-month clamp).
    position = (day.year - start_date.year) * 12 + day.month - start_date.month
    while position > 0 and period_anchor(start_date, cycle, position) > day:
        position -= 1
    while period_anchor(start_date, cycle, position + 1) <= day:
        position += 1
    return position


def prorate(amount_minor: int, days: int, full_days: int) -> int:
    """`amount_minor * days / full_days`, rounded half-up, in integers only."""
    if full_days <= 0 or not 0 <= days <= full_days:
        raise ValueError(f"cannot prorate {days} days of a {full_days}-day period")
    return (2 * amount_minor * days + full_days) // (2 * full_days)


def build_schedule(
    terms: FixedTerms | HourlyTerms | MilestoneTerms,
    start_date: date,
    end_date: date | None,
    *,
    horizon_periods: int = DEFAULT_HORIZON_PERIODS,
    from_position: int = 0,
) -> list[ScheduleItemSpec]:
    """The items at positions `from_position` onwards: up to the end date when
    there is one, else `horizon_periods` of them (see the module doc)."""
    if from_position < 0 or horizon_periods < 0:
        raise ValueError("from_position and horizon_periods must not be negative")
    if end_date is not None and end_date < start_date:
        raise ValueError(f"end date {end_date} is before start date {start_date}")
    if isinstance(terms, MilestoneTerms):
        return _milestone_items(terms, start_date)[from_position:]
    return list(_cycle_items(terms, start_date, end_date, horizon_periods, from_position))


def _cycle_items(
    terms: FixedTerms | HourlyTerms,
    start_date: date,
    end_date: date | None,
    horizon_periods: int,
    from_position: int,
) -> Iterator[ScheduleItemSpec]:
    position = from_position
    while True:
        if end_date is None and position >= from_position + horizon_periods:
            return
        first, last = period_bounds(start_date, terms.cycle, position)
        if end_date is not None and first > end_date:
            return
        period_end = last if end_date is None else min(last, end_date)
        if isinstance(terms, FixedTerms):
            full_days = (last - first).days + 1
            days = (period_end - first).days + 1
            amount = terms.amount_minor
            if days != full_days:
                amount = prorate(amount, days, full_days)
            yield ScheduleItemSpec(
                position, "fixed", first, period_end, period_end, amount, terms.currency
            )
        else:
            yield ScheduleItemSpec(
                position,
                "hourly",
                first,
                period_end,
                period_end,
                0,
                terms.currency,
                rate_minor=terms.rate_minor,
            )
        position += 1


def _milestone_items(terms: MilestoneTerms, start_date: date) -> list[ScheduleItemSpec]:
    items: list[ScheduleItemSpec] = []
    period_start = start_date
    for index, milestone in enumerate(terms.milestones):
        due = milestone.due_date
        # Validated terms keep due dates in order and inside the period; `min`
        # keeps the period sound for a milestone due on the previous one's date.
        first = min(period_start, due)
        items.append(
            ScheduleItemSpec(
                position=index,
                kind="milestone",
                period_start=first,
                period_end=due,
                due_date=due,
                amount_minor=milestone.amount_minor,
                currency=terms.currency,
                milestone_index=index,
                title=milestone.title,
            )
        )
        period_start = max(period_start, due + timedelta(days=1))
    return items
