"""Jobs of the payments module.

- periodic `payments.roll_forward_schedules` (daily): keeps every active
  open-ended contract's schedule `HORIZON_PERIODS` periods ahead of today (UTC).
  Safe to run twice at once: the unique (contract, position) index and the
  savepoint in `service._insert` let only one insert each period.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import Session

from mindlinks.jobs.service import JobContext, periodic, task
from mindlinks.payments import service
from mindlinks.platform.clock import now

ROLL_FORWARD_EVERY_SECONDS: Final = 24 * 3600


@task(service.ROLL_FORWARD_JOB)
def roll_forward_schedules(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    service.roll_forward(session, now().date())


periodic(service.ROLL_FORWARD_JOB, ROLL_FORWARD_EVERY_SECONDS)
