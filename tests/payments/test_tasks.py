"""The daily roll-forward job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

import mindlinks.payments.tasks  # noqa: F401  (registers the job)
from mindlinks.jobs.service import PERIODIC, TASKS, enqueue
from mindlinks.payments import service
from mindlinks.platform import clock
from mindlinks.platform.context import AppContext
from tests.factories import run_jobs
from tests.payments.factories import contract_for


@pytest.fixture
def on_2027_04_15() -> Iterator[None]:
    clock.set_clock(lambda: datetime(2027, 4, 15, 9, 0, tzinfo=UTC))
    try:
        yield
    finally:
        clock.set_clock(None)


def test_the_job_is_registered_to_run_daily(app_context: AppContext) -> None:
    assert service.ROLL_FORWARD_JOB in TASKS
    assert PERIODIC[service.ROLL_FORWARD_JOB].every_seconds(app_context.settings) == 24 * 3600


def test_the_job_rolls_open_ended_schedules_to_today(
    session: Session, app_context: AppContext, on_2027_04_15: None
) -> None:
    contract, *_ = contract_for(session, end_date=None)
    service.create_schedule(session, contract, today=datetime(2026, 12, 1).date())
    enqueue(session, service.ROLL_FORWARD_JOB)
    assert run_jobs(session, app_context, names=(service.ROLL_FORWARD_JOB,)) == 1
    items = service.schedule_of(session, contract.id)
    # The clock says 2027-04-15: April is position 3, so positions 0..14 exist.
    assert [i.position for i in items] == list(range(15))
