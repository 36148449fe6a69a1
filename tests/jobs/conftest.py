"""Fixtures for tests that need real commits (the worker's own transactions).

They cannot use the rolled-back `session` fixture: jobs are claimed and
finished in transactions of their own, sometimes by another process. Every
job such a test creates, and every effect row, is deleted afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from mindlinks.db import transaction
from mindlinks.jobs.models import Job
from mindlinks.jobs.service import PERIODIC, periodic
from mindlinks.platform.clock import set_clock
from mindlinks.platform.context import AppContext
from tests.jobs.slow_tasks import CREATE_EFFECTS_TABLE, EFFECTS_TABLE


@pytest.fixture(scope="module")
def effects_table(engine: Engine) -> Iterator[str]:
    # Dropped after each module, so no later test sees a table without a model.
    with engine.begin() as conn:
        conn.execute(text(CREATE_EFFECTS_TABLE))
    yield EFFECTS_TABLE
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {EFFECTS_TABLE}"))


@dataclass
class Committed:
    """Real transactions on the test database, cleaned up after the test."""

    factory: sessionmaker[Session]

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only look. Deferred on SQLite, so it does not queue behind a
        worker that holds the write lock (as the blocked worker in the kill test does)."""
        with self.factory() as session:
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            yield session

    def job(self, job_id: str) -> Job:
        with self.reading() as session:
            return session.get_one(Job, job_id)

    def effects(self, key: str) -> list[tuple[int, int]]:
        """(attempt, pid) of each committed effect of the job with this key."""
        with self.reading() as session:
            rows = session.execute(
                text(f"SELECT attempt, pid FROM {EFFECTS_TABLE} WHERE job_key = :k"), {"k": key}
            )
            return [(r[0], r[1]) for r in rows]

    def count_jobs(self, *where: Any) -> int:
        with self.reading() as session:
            return int(session.scalar(select(func.count()).select_from(Job).where(*where)) or 0)


@pytest.fixture
def committed(app_context: AppContext, effects_table: str) -> Iterator[Committed]:
    factory = app_context.session_factory
    with factory() as session:
        before = set(session.scalars(select(Job.id)))
    try:
        yield Committed(factory)
    finally:
        with transaction(factory) as session:
            stmt = delete(Job)
            if before:
                stmt = stmt.where(Job.id.not_in(before))
            session.execute(stmt)
            session.execute(text(f"DELETE FROM {effects_table}"))


@dataclass
class FakeClock:
    current: datetime

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current

    def set(self, value: datetime) -> None:
        self.current = value


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock(datetime.now(UTC))
    set_clock(fake)
    try:
        yield fake
    finally:
        set_clock(None)


@pytest.fixture
def only_periodic() -> Iterator[Callable[..., None]]:
    """Replace the registered periodic schedules for one test."""
    saved = dict(PERIODIC)
    PERIODIC.clear()

    def register(name: str, every_seconds: int) -> None:
        periodic(name, every_seconds)

    try:
        yield register
    finally:
        PERIODIC.clear()
        PERIODIC.update(saved)


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
