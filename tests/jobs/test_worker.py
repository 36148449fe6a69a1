"""The worker: claim, run, finish; retries with backoff; leases; periodic jobs.

These tests commit for real (the worker runs its own transactions), through
the `committed` fixture, which deletes what they created.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update

from mindlinks.db import transaction
from mindlinks.jobs.models import Job
from mindlinks.jobs.service import enqueue
from mindlinks.jobs.worker import WAKE, Worker, backoff_seconds
from mindlinks.platform.ids import new_id
from tests.jobs import slow_tasks  # noqa: F401  (registers the test handlers)
from tests.jobs.conftest import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def _enqueue(committed, name, payload=None, **kwargs):
    key = kwargs.pop("key", None) or f"{name}:{new_id()}"
    with transaction(committed.factory) as session:
        job = enqueue(session, name, payload or {}, key=key, **kwargs)
    return job.id, key


def test_a_job_runs_once_and_is_done(committed, app_context):
    job_id, key = _enqueue(committed, "tests.effect")
    worker = Worker(app_context)

    assert worker.run_until_idle() == 1
    assert worker.run_one() is False  # nothing left

    job = committed.job(job_id)
    assert (job.status, job.attempts, job.last_error) == ("done", 1, None)
    assert job.finished_at is not None
    assert job.locked_until is None
    assert [attempt for attempt, _ in committed.effects(key)] == [1]


def test_a_failing_job_backs_off_exponentially_then_dies(committed, app_context, clock):
    job_id, key = _enqueue(committed, "tests.always_fails")  # max_attempts=3
    worker = Worker(app_context)
    delays = []
    for attempt in (1, 2):
        ran_at = clock.current
        assert worker.run_one() is True
        job = committed.job(job_id)
        assert (job.status, job.attempts) == ("queued", attempt)
        assert job.last_error == f"RuntimeError: boom on attempt {attempt}"
        assert job.locked_by is None
        delay = (job.run_at - ran_at).total_seconds()
        base = 5 * 2 ** (attempt - 1)
        assert base * 0.75 <= delay <= base * 1.25  # 5 s then 10 s, with jitter
        delays.append(delay)
        assert worker.run_one() is False  # not due before its run_at
        clock.set(job.run_at)
    assert delays[1] > delays[0]

    assert worker.run_one() is True  # the third and last attempt
    job = committed.job(job_id)
    assert (job.status, job.attempts) == ("dead", 3)
    assert job.last_error == "RuntimeError: boom on attempt 3"
    assert job.finished_at is not None
    clock.advance(24 * 3600)
    assert worker.run_one() is False  # a dead job is never claimed again
    assert committed.effects(key) == []  # every failed run's effects were rolled back


def test_backoff_grows_and_is_capped():
    for attempt in range(1, 20):
        base = min(3600, 5 * 2 ** (attempt - 1))
        assert base * 0.75 <= backoff_seconds(attempt) <= base * 1.25


def test_a_run_that_lost_its_lease_commits_nothing(committed, app_context, clock):
    job_id, key = _enqueue(committed, "tests.effect")
    slow = Worker(app_context, lease_seconds=30, worker_id="slow")
    fast = Worker(app_context, lease_seconds=30, worker_id="fast")

    stale = slow.claim()
    assert stale is not None
    assert fast.claim() is None  # leased
    clock.advance(31)
    taken = fast.claim()
    assert taken is not None
    assert (taken.id, taken.attempt) == (job_id, 2)
    # The stale run finishes first: its handler runs, but marking done fails
    # (the job is no longer its own), so all of it rolls back.
    slow.execute(stale)
    assert committed.job(job_id).status == "running"
    assert committed.effects(key) == []
    fast.execute(taken)

    job = committed.job(job_id)
    assert (job.status, job.attempts, job.locked_by) == ("done", 2, "fast")
    assert [attempt for attempt, _ in committed.effects(key)] == [2]


def test_a_job_that_never_finishes_is_dead_after_max_attempts(committed, app_context, clock):
    # Each claim is lost (as if the job killed its worker): after max_attempts
    # claims the job must end dead, not be claimed for ever.
    job_id, _ = _enqueue(committed, "tests.effect", max_attempts=2)
    other_id, _ = _enqueue(committed, "tests.effect")
    worker = Worker(app_context, lease_seconds=10)

    for attempt in (1, 2):
        claimed = worker.claim()
        assert claimed is not None
        assert (claimed.id, claimed.attempt) == (job_id, attempt)
        clock.advance(11)  # the worker "died": its lease runs out

    nxt = worker.claim()
    assert nxt is not None
    assert nxt.id == other_id  # the abandoned job was skipped...
    job = committed.job(job_id)
    assert (job.status, job.attempts) == ("dead", 2)  # ...and buried
    assert "never finished" in (job.last_error or "")
    assert job.finished_at is not None


def test_periodic_jobs_are_queued_once_per_window_across_workers(
    committed, app_context, clock, only_periodic
):
    only_periodic("tests.tick", 60)
    window = int(clock.current.timestamp()) // 60 + 1
    clock.set(datetime.fromtimestamp(window * 60 + 5, UTC))
    first, second = Worker(app_context), Worker(app_context)

    first.schedule_periodic()
    second.schedule_periodic()
    clock.advance(50)  # same window
    second.schedule_periodic()
    first.schedule_periodic()
    assert committed.count_jobs(Job.name == "tests.tick") == 1
    assert committed.count_jobs(Job.idempotency_key == f"tests.tick@{window}") == 1

    clock.advance(10)  # next window
    second.schedule_periodic()
    first.schedule_periodic()
    assert committed.count_jobs(Job.name == "tests.tick") == 2
    assert committed.count_jobs(Job.idempotency_key == f"tests.tick@{window + 1}") == 1

    # Both windows' jobs run once each, whichever worker takes them.
    assert first.run_until_idle() + second.run_until_idle() == 2
    assert committed.count_jobs(Job.name == "tests.tick", Job.status == "done") == 2


def test_periodic_scheduling_racing_workers_queue_one_job(
    committed, app_context, clock, only_periodic
):
    only_periodic("tests.tick", 60)
    workers = [Worker(app_context) for _ in range(6)]
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def schedule(worker: Worker) -> None:
        try:
            barrier.wait(timeout=10)
            worker.schedule_periodic()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=schedule, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert committed.count_jobs(Job.name == "tests.tick") == 1


def test_concurrent_claims_never_share_a_job(committed, app_context):
    # PostgreSQL: FOR UPDATE SKIP LOCKED plus the conditional UPDATE. SQLite
    # (one worker in production, but the rule must hold anyway): claims queue
    # on the write lock and the conditional UPDATE still decides.
    job_ids = {_enqueue(committed, "tests.effect")[0] for _ in range(60)}
    workers = [Worker(app_context, worker_id=f"w{i}") for i in range(8)]
    barrier = threading.Barrier(len(workers))
    claims: dict[str, list[str]] = {w.worker_id: [] for w in workers}
    errors: list[BaseException] = []

    def drain(worker: Worker) -> None:
        try:
            barrier.wait(timeout=10)
            while (claimed := worker.claim()) is not None:
                claims[worker.worker_id].append(claimed.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    counts = Counter(job_id for ids in claims.values() for job_id in ids)
    assert set(counts) == job_ids
    assert max(counts.values()) == 1  # no job was claimed twice
    assert sum(1 for ids in claims.values() if ids) > 1  # the work was really shared
    for worker_id, ids in claims.items():
        for job_id in ids:
            job = committed.job(job_id)
            assert (job.status, job.attempts, job.locked_by) == ("running", 1, worker_id)


def test_run_forever_runs_jobs_until_stopped(committed, app_context, only_periodic):
    stop = threading.Event()
    worker = Worker(app_context)
    thread = threading.Thread(target=worker.run_forever, args=(stop, 0.05), daemon=True)
    thread.start()
    try:
        job_id, key = _enqueue(committed, "tests.effect")
        wait_until(lambda: committed.job(job_id).status == "done", 15, "the job to be done")
    finally:
        stop.set()
        WAKE.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(committed.effects(key)) == 1


def _mindlinks_command() -> list[str]:
    script = Path(sys.executable).with_name("mindlinks")
    if script.exists():
        return [str(script), "worker"]
    return [sys.executable, "-m", "mindlinks.cli", "worker"]


def test_a_killed_worker_s_job_is_done_exactly_once(
    committed, app_context, database_url, data_dir, tmp_path
):
    """A worker is SIGKILLed between claiming a job and finishing it; a second
    worker takes the job over once the lease expires, and the job's effect is
    recorded exactly once: the killed run's effect never committed, because a
    handler's effects and the `done` mark share one transaction."""
    started, release = tmp_path / "started", tmp_path / "release"
    job_id, key = _enqueue(
        committed,
        "tests.slow_effect",
        {"started_flag": str(started), "release_flag": str(release), "block_seconds": 60},
    )
    env = {
        **os.environ,
        "MINDLINKS_DATABASE_URL": database_url,
        "MINDLINKS_DATA_DIR": str(data_dir),
        "MINDLINKS_JOB_LEASE_SECONDS": "2",
        "MINDLINKS_WORKER_POLL_SECONDS": "0.1",
        "MINDLINKS_WORKER_IMPORTS": "tests.jobs.slow_tasks",
        "MINDLINKS_RUN_WORKER_IN_PROCESS": "false",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _mindlinks_command(), env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until(
                lambda: started.exists() or process.poll() is not None, 60, "the worker to start"
            )
            assert process.poll() is None, log_path.read_text()
            assert started.read_text() == "1"
            job = committed.job(job_id)
            assert (job.status, job.attempts) == ("running", 1)
            assert job.locked_by and job.locked_by.split(":")[1] == str(process.pid)
            # The handler has written its effect, but that is not committed.
            assert committed.effects(key) == []

            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=10) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    job = committed.job(job_id)
    assert (job.status, job.attempts) == ("running", 1)  # abandoned mid-run
    assert committed.effects(key) == []

    release.touch()
    survivor = Worker(app_context, lease_seconds=2)

    def finished() -> bool:
        survivor.run_one()
        return committed.job(job_id).status in ("done", "dead")

    wait_until(finished, 30, "the second worker to finish the job")
    job = committed.job(job_id)
    assert (job.status, job.attempts, job.locked_by) == ("done", 2, survivor.worker_id)
    assert job.last_error is None
    assert committed.effects(key) == [(2, os.getpid())]  # exactly once, by the survivor


def test_handler_effects_and_done_commit_together(committed, app_context, engine):
    # If marking done fails, the handler's effect is rolled back with it.
    job_id, key = _enqueue(committed, "tests.effect")
    worker = Worker(app_context)
    claimed = worker.claim()
    assert claimed is not None
    with transaction(committed.factory) as session:  # someone else took it over
        session.execute(update(Job).where(Job.id == job_id).values(locked_by="thief"))
    worker.execute(claimed)
    assert committed.effects(key) == []
    assert committed.job(job_id).status == "running"
