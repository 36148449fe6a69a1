"""Fixtures of the e-sign tests: the published disclosure, the e-sign email
templates, the esign jobs, a movable clock, and a deal ready to sign."""

from __future__ import annotations

import pytest

from mindlinks.esign.disclosure import sync_disclosures
from mindlinks.identity import passwords
from mindlinks.identity import service as identity
from tests.esign.factories import make_admin, make_deal

_HASHES: dict[str, str] = {}
_VERIFIED: dict[tuple[str | None, str], bool] = {}


@pytest.fixture(autouse=True)
def argon2_once_per_password(monkeypatch):
    """Every test here creates and signs in several accounts; argon2 costs ~0.5 s a
    hash or check. A real hash per distinct password, made and checked once, keeps
    sign-in real and the tests fast."""

    def hash_once(password: str) -> str:
        if password not in _HASHES:
            _HASHES[password] = passwords.hash_password(password)
        return _HASHES[password]

    def verify_once(password_hash: str | None, password: str) -> bool:
        key = (password_hash, password)
        if key not in _VERIFIED:
            _VERIFIED[key] = passwords.verify_password(password_hash, password)
        return _VERIFIED[key]

    monkeypatch.setattr(identity, "hash_password", hash_once)
    monkeypatch.setattr(identity, "verify_password", verify_once)


@pytest.fixture
def disclosure(session):
    """The published disclosure (signing publishes it on first use anyway)."""
    return sync_disclosures(session)


@pytest.fixture
def deal(session, app_context):
    return make_deal(session, app_context)


@pytest.fixture
def eor_deal(session, app_context):
    return make_deal(session, app_context, kind="eor")


@pytest.fixture
def admin(session):
    return make_admin(session)
