"""Housekeeping of the job table itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from mindlinks.jobs.models import Job
from mindlinks.jobs.service import JobContext, periodic, task
from mindlinks.platform.clock import now

FINISHED_JOB_RETENTION = timedelta(days=7)


@task("jobs.purge_finished")
def purge_finished(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    # Periodic jobs (checkpoints every few seconds) would otherwise grow the table
    # without bound. Dead jobs stay: someone has to look at them.
    session.execute(
        delete(Job).where(Job.status == "done", Job.finished_at < now() - FINISHED_JOB_RETENTION)
    )


periodic("jobs.purge_finished", 3600)
