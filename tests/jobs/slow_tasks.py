"""Job handlers used by the job-queue tests.

The worker subprocess imports this module (`MINDLINKS_WORKER_IMPORTS`), so it
must import cleanly on its own. Each handler records its effect as one row of
`test_job_effects`, in the job's transaction: a row exists only for a run
whose effects committed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from mindlinks.jobs.service import JobContext, task

EFFECTS_TABLE = "test_job_effects"
CREATE_EFFECTS_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {EFFECTS_TABLE} "
    "(job_key VARCHAR(200) NOT NULL, attempt INTEGER NOT NULL, pid INTEGER NOT NULL)"
)


def record_effect(session: Session, ctx: JobContext) -> None:
    session.execute(
        text(f"INSERT INTO {EFFECTS_TABLE} (job_key, attempt, pid) VALUES (:key, :attempt, :pid)"),
        {"key": ctx.idempotency_key, "attempt": ctx.attempt, "pid": os.getpid()},
    )
    session.flush()


@task("tests.effect")
def effect(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    record_effect(session, ctx)


@task("tests.slow_effect")
def slow_effect(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    """Record the effect, say so through a file, then wait for the release file."""
    record_effect(session, ctx)
    Path(payload["started_flag"]).write_text(str(ctx.attempt))
    release = Path(payload["release_flag"])
    deadline = time.monotonic() + float(payload.get("block_seconds", 60))
    while not release.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released this job")
        time.sleep(0.05)


@task("tests.always_fails", max_attempts=3)
def always_fails(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    record_effect(session, ctx)  # rolled back with the failed run
    raise RuntimeError(f"boom on attempt {ctx.attempt}")


@task("tests.tick")
def tick(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    record_effect(session, ctx)
