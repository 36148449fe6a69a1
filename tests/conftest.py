"""Test fixtures: one migrated database per run, one rolled-back transaction per test.

The suite runs on SQLite by default and on PostgreSQL when
`MINDLINKS_TEST_DATABASE_URL` names one (`make test` runs both halves). An
unreachable PostgreSQL fails the run with a clear message; it is never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mindlinks.app import create_app
from mindlinks.config import Settings
from mindlinks.db import make_engine
from mindlinks.jobs.registry import load_task_modules
from mindlinks.migrations.publish import upgrade_and_publish
from mindlinks.migrations.runner import upgrade
from mindlinks.platform import clock
from mindlinks.platform.context import AppContext, build_context, get_session
from mindlinks.platform.errors import Problem

TEST_DATABASE_URL = os.environ.get("MINDLINKS_TEST_DATABASE_URL", "")

# Services queue jobs by name; every module's handlers are registered, as in the app,
# whichever test file runs alone.
load_task_modules()


def reset_postgres_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mindlinks-data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    return TEST_DATABASE_URL or f"sqlite:///{data_dir / 'test.db'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        try:
            reset_postgres_schema(engine)
        except OperationalError as exc:
            pytest.exit(
                f"PostgreSQL at {engine.url.render_as_string()} is unreachable: {exc.orig}. "
                "Start it (see .ci/run) or unset MINDLINKS_TEST_DATABASE_URL.",
                returncode=1,
            )
    upgrade_and_publish(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        run_worker_in_process=False,
        public_url="http://testserver",
    )


@pytest.fixture(scope="session")
def app_context(settings: Settings, engine: Engine) -> AppContext:
    return build_context(settings, engine)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose every commit is a savepoint inside one rolled-back transaction."""
    # Deferred on SQLite: the test's transaction takes the write lock only when
    # it writes, so read-only probes on other connections (health) proceed.
    connection = engine.connect().execution_options(sqlite_begin="DEFERRED")
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture
def move_clock() -> Iterator[Callable[[timedelta], datetime]]:
    """`move_clock(delta)` moves `platform.clock.now()` forward; real time returns after."""
    offset = timedelta()

    def move(delta: timedelta) -> datetime:
        nonlocal offset
        offset += delta
        return clock.now()

    clock.set_clock(lambda: datetime.now(UTC) + offset)
    try:
        yield move
    finally:
        clock.set_clock(None)


@pytest.fixture
def scratch_engine(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of the test's own, for transactions that really commit
    (ledger rows can never be deleted; concurrency needs real commits): a new
    PostgreSQL database next to the test one, dropped afterwards, or a temporary
    SQLite file."""
    if engine.dialect.name != "postgresql":
        scratch = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
        upgrade(scratch)
        yield scratch
        scratch.dispose()
        return
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    scratch = make_engine(engine.url.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(scratch)
        yield scratch
    finally:
        scratch.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def app(app_context: AppContext, session: Session) -> Iterator[FastAPI]:
    app = create_app(context=app_context)

    def request_session() -> Iterator[Session]:
        # Mirrors get_session: the request's work commits (to a savepoint) or
        # rolls back as a whole, inside the test's transaction.
        savepoint = session.begin_nested()
        try:
            yield session
            if savepoint.is_active:
                savepoint.commit()
        except Problem as problem:
            if savepoint.is_active:
                savepoint.commit() if problem.commit_before_raise else savepoint.rollback()
            raise
        except BaseException:
            if savepoint.is_active:
                savepoint.rollback()
            raise

    app.dependency_overrides[get_session] = request_session
    app_context.limiter.reset()
    yield app
    app_context.limiter.reset()


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def pytest_report_header(config: Any) -> str:
    return f"mindlinks test database: {TEST_DATABASE_URL or 'SQLite (temporary file)'}"
