"""Enqueue jobs inside the caller's transaction; the registry of job handlers.

A job is queued in the same transaction as the state change that needs it, so
either both commit or neither does. Each job has an idempotency key: queuing
the same key twice yields the one job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks.jobs.models import Job
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id

if TYPE_CHECKING:
    from mindlinks.config import Settings
    from mindlinks.platform.context import AppContext


@dataclass(frozen=True)
class JobContext:
    """What a handler may know about the run it is part of."""

    job_id: str
    name: str
    attempt: int
    idempotency_key: str
    app: AppContext


JobHandler = Callable[[Session, dict[str, Any], JobContext], None]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    handler: JobHandler
    max_attempts: int | None


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    every: int | Callable[[Settings], int]
    payload: dict[str, Any]

    def every_seconds(self, settings: Settings) -> int:
        """The window length; a callable reads it from the running app's settings."""
        return max(1, self.every(settings) if callable(self.every) else self.every)


TASKS: dict[str, TaskSpec] = {}
PERIODIC: dict[str, PeriodicSpec] = {}


def task(name: str, *, max_attempts: int | None = None) -> Callable[[JobHandler], JobHandler]:
    """Register a job handler under `"<module>.<verb>"`."""

    def register(fn: JobHandler) -> JobHandler:
        if name in TASKS and TASKS[name].handler is not fn:
            raise ValueError(f"job {name!r} is registered twice")
        TASKS[name] = TaskSpec(name, fn, max_attempts)
        return fn

    return register


def periodic(
    name: str,
    every_seconds: int | Callable[[Settings], int],
    payload: dict[str, Any] | None = None,
) -> None:
    """Ask every worker to queue `name` once per `every_seconds` window."""
    PERIODIC[name] = PeriodicSpec(name, every_seconds, payload or {})


def enqueue(
    session: Session,
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Queue a job in the caller's transaction; an existing key returns that job."""
    if name not in TASKS:
        raise LookupError(f"no job handler named {name!r}")
    key = key or f"{name}:{new_id()}"
    existing = session.scalar(select(Job).where(Job.idempotency_key == key))
    if existing is not None:
        return existing
    spec = TASKS[name]
    job = Job(
        name=name,
        payload=payload or {},
        idempotency_key=key,
        run_at=run_at or now(),
        max_attempts=max_attempts or spec.max_attempts or 8,
    )
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        # Another transaction queued the same key first; theirs is the job.
        found = session.scalar(select(Job).where(Job.idempotency_key == key))
        if found is None:
            raise
        return found
    session.info["jobs_enqueued"] = True
    return job


def status_counts(session: Session) -> dict[str, int]:
    """Jobs per status (queued, running, done, dead) for the operations view."""
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {status: count for status, count in rows}
