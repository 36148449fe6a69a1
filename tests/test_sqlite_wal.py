"""SQLite's WAL checkpoints run on a thread of their own (mindlinks.sqlite_wal)."""

from __future__ import annotations

import gc
import os
import threading
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine

from mindlinks import sqlite_wal
from mindlinks.db import make_engine


def write_rows(engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)"))
    for i in range(n):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (b) VALUES (:b)"), {"b": os.urandom(3000)})


def test_commits_leave_checkpoints_to_the_thread_which_copies_the_wal_back(tmp_path):
    path = tmp_path / "app.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == (
                sqlite_wal.BACKSTOP_PAGES
            )
        checkpointer = sqlite_wal.checkpointer_of(engine)
        assert checkpointer is not None
        write_rows(engine, 300)
        # In WAL mode only a checkpoint writes the database file. No commit of ours
        # ran one (the backstop is 10,000 pages; these are a few hundred), so the
        # rows reach the file through the thread.
        deadline = time.monotonic() + 10
        while path.stat().st_size < 300 * 3000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size > 300 * 3000
        assert checkpointer.passes > 0
    finally:
        engine.dispose()


def engine_and_thread(tmp_path) -> tuple[Engine, threading.Thread]:
    """A SQLite file engine that wrote a row, and its running checkpoint thread."""
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    write_rows(engine, 1)
    checkpointer = sqlite_wal.checkpointer_of(engine)
    assert checkpointer is not None and checkpointer._thread is not None
    return engine, checkpointer._thread


def test_the_thread_stops_when_the_engine_is_disposed(tmp_path):
    engine, thread = engine_and_thread(tmp_path)
    assert thread.is_alive()
    engine.dispose()
    assert not thread.is_alive()


def test_an_in_memory_database_has_no_checkpointer():
    engine = make_engine("sqlite://")
    assert sqlite_wal.checkpointer_of(engine) is None
    engine.dispose()


def test_a_fork_waits_for_a_running_checkpoint_pass(tmp_path):
    """A forked child (ledger verify's workers) must not inherit SQLite's mutexes
    in the middle of a pass."""
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        write_rows(engine, 1)
        checkpointer = sqlite_wal.checkpointer_of(engine)
        assert checkpointer is not None
        checkpointer._pass.acquire()  # a pass in progress
        finished = threading.Event()

        def finish_the_pass() -> None:
            time.sleep(0.3)
            finished.set()
            checkpointer._pass.release()

        threading.Thread(target=finish_the_pass).start()
        pid = os.fork()
        if pid == 0:  # the child: the pass had finished before the fork
            os._exit(0 if finished.is_set() else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # The parent's lock was given back: its passes go on.
        assert checkpointer._pass.acquire(timeout=2)
        checkpointer._pass.release()
    finally:
        engine.dispose()


def test_the_thread_stops_when_the_engine_is_dropped_without_dispose(tmp_path):
    engine, thread = engine_and_thread(tmp_path)
    del engine
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()
