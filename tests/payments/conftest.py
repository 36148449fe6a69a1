"""Fixtures of the payments tests that must commit (concurrency)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from mindlinks.db import make_engine
from mindlinks.migrations.runner import upgrade


@pytest.fixture
def scratch_engine(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of the test's own, for transactions that really commit:
    a new PostgreSQL database next to the test one (dropped afterwards), or a
    temporary SQLite file."""
    if engine.dialect.name != "postgresql":
        scratch = make_engine(f"sqlite:///{tmp_path / 'payments-scratch.db'}")
        upgrade(scratch)
        yield scratch
        scratch.dispose()
        return
    name = f"payments_scratch_{uuid.uuid4().hex[:12]}"
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
