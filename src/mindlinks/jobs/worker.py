"""The job worker: claim, run, finish — at-least-once runs, exactly-once effects.

Claiming is a short transaction of its own (PostgreSQL: `FOR UPDATE SKIP LOCKED`
so workers never wait on each other; every database: a conditional UPDATE so
two workers can never both claim). The handler then runs in a second
transaction that also marks the job done, conditional on this worker still
holding it: if the worker dies or loses its lease, nothing of that run commits
and the job is claimed again once the lease expires. A job whose every allowed
attempt was claimed and never finished (it keeps killing its worker or running
past its lease) is marked `dead` instead of being claimed once more.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from mindlinks.jobs.models import Job
from mindlinks.jobs.service import PERIODIC, TASKS, JobContext, enqueue
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext
from mindlinks.platform.ids import new_id

log = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 3600


class LeaseLost(RuntimeError):
    """Another worker took the job over; this run's effects must not commit."""


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    name: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    idempotency_key: str


def backoff_seconds(attempt: int) -> float:
    base: float = min(MAX_BACKOFF_SECONDS, 5 * 2 ** max(0, attempt - 1))
    return base * (0.75 + random.random() / 2)  # noqa: S311 - jitter, not security


class Worker:
    def __init__(
        self,
        app: AppContext,
        *,
        lease_seconds: int | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.app = app
        self.factory = app.session_factory
        self.lease_seconds = lease_seconds or app.settings.job_lease_seconds
        # `locked_by` holds 100 characters; a long FQDN must not make every claim fail.
        host = socket.gethostname()[:64]
        self.worker_id = (worker_id or f"{host}:{os.getpid()}:{new_id()[-6:]}")[:100]

    def claim(self) -> ClaimedJob | None:
        with self.factory() as session, session.begin():
            current = now()
            claimable = or_(
                (Job.status == "queued") & (Job.run_at <= current),
                (Job.status == "running") & (Job.locked_until < current),
            )
            buried: list[str] = []
            while True:
                stmt = (
                    select(Job.id, Job.attempts, Job.max_attempts)
                    .where(claimable, Job.id.not_in(buried))
                    .order_by(Job.run_at, Job.id)
                    .limit(1)
                )
                if session.get_bind().dialect.name == "postgresql":
                    stmt = stmt.with_for_update(skip_locked=True)
                candidate = session.execute(stmt).one_or_none()
                if candidate is None:
                    return None
                job_id, attempts, max_attempts = candidate
                if attempts < max_attempts:
                    break
                # Every allowed attempt was claimed and none finished: the
                # workers running it died or outlived their lease. Running it
                # again could kill the next worker too, so it ends here.
                self._bury_abandoned(session, job_id, attempts, max_attempts, claimable, current)
                buried.append(job_id)
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, claimable)
                .values(
                    status="running",
                    locked_by=self.worker_id,
                    locked_until=current + timedelta(seconds=self.lease_seconds),
                    attempts=Job.attempts + 1,
                )
                .returning(
                    Job.name, Job.payload, Job.attempts, Job.max_attempts, Job.idempotency_key
                )
            ).one_or_none()
            if result is None:
                return None
            return ClaimedJob(job_id, result[0], result[1], result[2], result[3], result[4])

    def _bury_abandoned(
        self,
        session: Session,
        job_id: str,
        attempts: int,
        max_attempts: int,
        claimable: ColumnElement[bool],
        current: datetime,
    ) -> None:
        error = (
            f"attempt {attempts} of {max_attempts} never finished: its worker stopped "
            "or ran past its lease"
        )
        session.execute(
            update(Job)
            .where(Job.id == job_id, claimable)
            .values(
                status="dead",
                finished_at=current,
                locked_by=None,
                locked_until=None,
                last_error=error,
            )
        )
        log.warning("job_dead", job_id=job_id, attempt=attempts, error=error)

    def run_one(self) -> bool:
        """Claim and run one job; False when nothing was ready."""
        claimed = self.claim()
        if claimed is None:
            return False
        self.execute(claimed)
        return True

    def execute(self, claimed: ClaimedJob) -> None:
        bound = log.bind(job_id=claimed.id, job=claimed.name, attempt=claimed.attempt)
        spec = TASKS.get(claimed.name)
        try:
            with self.factory() as session, session.begin():
                if spec is None:
                    raise LookupError(f"no job handler named {claimed.name!r}")
                ctx = JobContext(
                    claimed.id, claimed.name, claimed.attempt, claimed.idempotency_key, self.app
                )
                spec.handler(session, dict(claimed.payload), ctx)
                finished = session.execute(
                    update(Job)
                    .where(
                        Job.id == claimed.id,
                        Job.status == "running",
                        Job.locked_by == self.worker_id,
                    )
                    .values(status="done", finished_at=now(), locked_until=None, last_error=None)
                )
                if finished.rowcount != 1:  # type: ignore[attr-defined]
                    raise LeaseLost(claimed.id)
            bound.info("job_done")
        except LeaseLost:
            bound.warning("job_lease_lost")
        except Exception as exc:
            self._fail(claimed, exc)

    def _fail(self, claimed: ClaimedJob, exc: Exception) -> None:
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]
        dead = claimed.attempt >= claimed.max_attempts
        with self.factory() as session, session.begin():
            values: dict[str, Any] = {
                "status": "dead" if dead else "queued",
                "locked_by": None,
                "locked_until": None,
                "last_error": error,
            }
            if dead:
                values["finished_at"] = now()
            else:
                values["run_at"] = now() + timedelta(seconds=backoff_seconds(claimed.attempt))
            session.execute(
                update(Job)
                .where(Job.id == claimed.id, Job.locked_by == self.worker_id)
                .values(**values)
            )
        log.warning(
            "job_dead" if dead else "job_retry_scheduled",
            job_id=claimed.id,
            job=claimed.name,
            attempt=claimed.attempt,
            error=error,
        )

    def schedule_periodic(self) -> None:
        current = now()
        with self.factory() as session, session.begin():
            for spec in PERIODIC.values():
                window = int(current.timestamp()) // spec.every_seconds(self.app.settings)
                enqueue(session, spec.name, spec.payload, key=f"{spec.name}@{window}")

    def run_until_idle(self, max_jobs: int = 1000) -> int:
        """Run ready jobs until none is left (or `max_jobs`); answers how many ran."""
        ran = 0
        while ran < max_jobs and self.run_one():
            ran += 1
        return ran

    def run_forever(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        log.info("worker_started", worker_id=self.worker_id)
        last_periodic = 0.0
        while not stop.is_set():
            current = now().timestamp()
            if PERIODIC and current - last_periodic >= 1.0:
                last_periodic = current
                try:
                    self.schedule_periodic()
                except Exception:
                    # A schedule that cannot be queued must not stop the queue.
                    log.exception("periodic_schedule_error")
            try:
                if self.run_one():
                    continue
            except Exception:
                log.exception("worker_loop_error")
            WAKE.wait(poll_seconds)
            WAKE.clear()
        log.info("worker_stopped", worker_id=self.worker_id)


# Set after a commit that queued jobs, so an in-process worker starts at once.
WAKE = threading.Event()


def _wake_after_commit(session: Session) -> None:
    if session.info.pop("jobs_enqueued", False):
        WAKE.set()


def install_wake_hook() -> None:
    from sqlalchemy import event

    if not event.contains(Session, "after_commit", _wake_after_commit):
        event.listen(Session, "after_commit", _wake_after_commit)
