"""Sign-in service behaviour that the API tests (bound to one test connection)
cannot show: what the password check does to other writers."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from mindlinks.db import make_session_factory
from mindlinks.identity import service as identity_service
from mindlinks.identity.errors import InvalidCredentials
from mindlinks.identity.models import User
from mindlinks.identity.passwords import hash_password
from tests.factories import PASSWORD, make_user


@pytest.fixture
def sqlite_engine(engine: Engine) -> Engine:
    if engine.dialect.name != "sqlite":
        pytest.skip("the database-wide write lock is SQLite's")
    return engine


def committed_user(engine: Engine) -> tuple[str, str]:
    with make_session_factory(engine).begin() as session:
        user = make_user(session, role="client")
        return user.id, user.email


def other_writer_can_begin(engine: Engine) -> bool:
    probe = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def test_the_password_check_does_not_hold_the_sqlite_write_lock(sqlite_engine, monkeypatch):
    user_id, email = committed_user(sqlite_engine)
    seen: list[bool] = []
    real = identity_service.verify_password

    def probing(password_hash: str | None, password: str) -> bool:
        seen.append(other_writer_can_begin(sqlite_engine))
        return real(password_hash, password)

    monkeypatch.setattr(identity_service, "verify_password", probing)
    with make_session_factory(sqlite_engine)() as session:
        signed_in = identity_service.authenticate(session, email, PASSWORD).id
        session.rollback()
    assert signed_in == user_id
    assert seen == [True]


def test_a_password_changed_during_the_check_fails_the_sign_in(sqlite_engine, monkeypatch):
    user_id, email = committed_user(sqlite_engine)
    real = identity_service.verify_password

    def changed_meanwhile(password_hash: str | None, password: str) -> bool:
        with make_session_factory(sqlite_engine).begin() as other:
            other.execute(
                update(User)
                .where(User.id == user_id)
                .values(password_hash=hash_password("another long passphrase 42"))
            )
        return real(password_hash, password)

    monkeypatch.setattr(identity_service, "verify_password", changed_meanwhile)
    with make_session_factory(sqlite_engine)() as session, pytest.raises(InvalidCredentials):
        identity_service.authenticate(session, email, PASSWORD)


def test_an_unknown_email_still_costs_a_password_check(sqlite_engine, monkeypatch):
    calls: list[str | None] = []
    real = identity_service.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        calls.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(identity_service, "verify_password", counting)
    with make_session_factory(sqlite_engine)() as session, pytest.raises(InvalidCredentials):
        identity_service.authenticate(session, "nobody-here@example.com", PASSWORD)
    assert calls == [None]
