"""Enqueueing: in the caller's transaction, one job per idempotency key."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from mindlinks.db import transaction
from mindlinks.jobs.models import Job
from mindlinks.jobs.service import TASKS, enqueue
from mindlinks.platform.ids import new_id
from tests.jobs import slow_tasks  # registers the test handlers


def test_a_job_commits_with_the_callers_transaction(committed):
    key = f"commit:{new_id()}"
    with transaction(committed.factory) as session:
        job = enqueue(session, "tests.effect", {"n": 1}, key=key)
    stored = committed.job(job.id)
    assert (stored.name, stored.payload, stored.status, stored.attempts) == (
        "tests.effect",
        {"n": 1},
        "queued",
        0,
    )


def test_a_rolled_back_transaction_leaves_no_job(committed):
    key = f"rollback:{new_id()}"
    with (  # noqa: PT012
        pytest.raises(RuntimeError, match="the state change failed"),
        transaction(committed.factory) as session,
    ):
        enqueue(session, "tests.effect", key=key)
        raise RuntimeError("the state change failed")
    assert committed.count_jobs(Job.idempotency_key == key) == 0


def test_the_same_key_is_one_job(committed):
    key = f"same:{new_id()}"
    with transaction(committed.factory) as session:
        first = enqueue(session, "tests.effect", {"v": 1}, key=key)
        assert enqueue(session, "tests.effect", {"v": 2}, key=key).id == first.id
    with transaction(committed.factory) as session:
        later = enqueue(session, "tests.effect", {"v": 3}, key=key)
    assert later.id == first.id
    assert later.payload == {"v": 1}  # the first job stands
    assert committed.count_jobs(Job.idempotency_key == key) == 1


def test_the_same_key_from_concurrent_transactions_is_one_job(committed, engine):
    key = f"race:{new_id()}"
    barrier = threading.Barrier(6)
    # PostgreSQL: every transaction is open before any inserts, so they really
    # overlap (the unique key decides). SQLite: units of work queue on the
    # write lock (BEGIN IMMEDIATE), so they start together and run in turn.
    overlap = engine.dialect.name == "postgresql"
    ids: list[str] = []
    errors: list[BaseException] = []

    def enqueue_once() -> None:
        try:
            if not overlap:
                barrier.wait(timeout=10)
            with transaction(committed.factory) as session:
                if overlap:
                    session.scalar(select(Job.id).limit(1))
                    barrier.wait(timeout=10)
                ids.append(enqueue(session, "tests.effect", key=key).id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=enqueue_once) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(ids) == 6
    assert len(set(ids)) == 1
    assert committed.count_jobs(Job.idempotency_key == key) == 1


def test_defaults_come_from_the_task(session, clock):
    job = enqueue(session, "tests.always_fails")
    assert job.idempotency_key.startswith("tests.always_fails:")
    assert job.max_attempts == 3  # registered with max_attempts=3
    assert job.run_at == clock.current
    assert enqueue(session, "tests.effect").max_attempts == 8
    later = clock.current + timedelta(hours=1)
    delayed = enqueue(session, "tests.effect", run_at=later, max_attempts=2)
    assert (delayed.run_at, delayed.max_attempts) == (later, 2)


def test_unknown_job_names_are_refused(session):
    with pytest.raises(LookupError, match="no job handler"):
        enqueue(session, "tests.no_such_job")


def test_a_task_name_cannot_be_taken_twice():
    from mindlinks.jobs.service import task

    with pytest.raises(ValueError, match="registered twice"):
        task("tests.effect")(lambda session, payload, ctx: None)
    assert TASKS["tests.effect"].handler is slow_tasks.effect


def test_finished_jobs_are_purged_after_a_week_but_dead_ones_stay(session, app_context):
    from datetime import timedelta

    from sqlalchemy import select

    from mindlinks.jobs.models import Job
    from mindlinks.jobs.tasks import purge_finished
    from mindlinks.platform.clock import now

    old = now() - timedelta(days=8)
    rows = [
        Job(
            name="jobs.purge_finished",
            idempotency_key=f"purge-test-{status}-{age}",
            status=status,
            finished_at=finished,
            payload={},
        )
        for status, age, finished in [
            ("done", "old", old),
            ("done", "new", now()),
            ("dead", "old", old),
        ]
    ]
    session.add_all(rows)
    session.flush()
    purge_finished(session, {}, None)  # type: ignore[arg-type]
    left = set(
        session.scalars(select(Job.idempotency_key).where(Job.idempotency_key.like("purge-test-%")))
    )
    assert left == {"purge-test-done-new", "purge-test-dead-old"}
