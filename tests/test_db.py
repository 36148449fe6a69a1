"""The engine and its transactions (mindlinks.db)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from mindlinks.db import make_engine, make_session_factory


def test_sqlite_transactions_take_the_write_lock_at_begin(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        with make_session_factory(engine)() as session:
            raw = session.connection().connection.driver_connection
            assert raw.in_transaction
            # Another connection cannot write until this transaction ends.
            other = sqlite3.connect(tmp_path / "app.db", timeout=0.05, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
    finally:
        engine.dispose()


def test_a_busy_sqlite_begin_is_sqlalchemys_operational_error(tmp_path):
    path = tmp_path / "app.db"
    engine = make_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA busy_timeout=50"))
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with make_session_factory(engine)() as session, pytest.raises(OperationalError) as exc:
            session.connection()
        assert isinstance(exc.value.orig, sqlite3.OperationalError)
        holder.execute("ROLLBACK")
        with make_session_factory(engine)() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        holder.close()
        engine.dispose()
