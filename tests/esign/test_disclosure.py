"""The electronic records and signature disclosure: versioned, immutable, public."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from mindlinks.esign import disclosure as disclosures
from mindlinks.esign.disclosure import (
    DisclosureTextRetired,
    current_disclosure,
    publish,
    shipped_text,
    sync_disclosures,
    text_of,
)
from mindlinks.esign.models import EsignDisclosure

REQUIRED_TOPICS = (
    "paper copy",
    "free of charge",
    "withdraw",
    "consequences",
    "contact details",
    "browser",
    "PDF",
    "Scope",
    "recorded",
    "7001(c)",
)


def test_the_shipped_text_covers_what_esign_7001c_requires():
    body = " ".join(shipped_text().body.split())
    for topic in REQUIRED_TOPICS:
        if topic == "consequences":
            assert "will not be able to sign" in body and "does not affect" in body
        else:
            assert topic.lower() in body.lower(), topic


def test_sync_publishes_the_shipped_text_once(session, disclosure):
    assert disclosure.body == shipped_text().body
    assert disclosure.sha256 == hashlib.sha256(disclosure.body.encode()).hexdigest()
    again = sync_disclosures(session)
    assert again.version == disclosure.version
    assert session.scalar(
        select(EsignDisclosure).where(EsignDisclosure.sha256 == disclosure.sha256)
    )
    count = len(session.scalars(select(EsignDisclosure)).all())
    sync_disclosures(session)
    assert len(session.scalars(select(EsignDisclosure)).all()) == count


def test_a_changed_text_becomes_the_next_version(session, disclosure):
    changed = text_of(disclosure.body + "\nRevised: contact support by post too.\n")
    newer = publish(session, changed)
    assert newer.version == disclosure.version + 1
    assert current_disclosure(session).version == newer.version
    # The earlier version is still there, word for word.
    old = session.get(EsignDisclosure, disclosure.version)
    assert old is not None and old.body == disclosure.body


def test_line_endings_do_not_make_a_new_version(session, disclosure):
    crlf = text_of(disclosure.body.replace("\n", "\r\n"))
    assert crlf.sha256 == disclosure.sha256
    assert publish(session, crlf).version == disclosure.version


def test_a_replaced_text_cannot_come_back_as_the_newest(session, disclosure):
    publish(session, text_of(disclosure.body + "\nv-next\n"))
    with pytest.raises(DisclosureTextRetired):
        publish(session, text_of(disclosure.body))


def test_the_database_refuses_to_change_a_published_version(session, disclosure):
    with pytest.raises(DatabaseError), session.begin_nested():
        session.execute(
            text("UPDATE esign_disclosures SET body = 'changed' WHERE version = :v"),
            {"v": disclosure.version},
        )


def test_current_publishes_when_nothing_was(session, monkeypatch):
    monkeypatch.setattr(disclosures, "latest_disclosure", lambda s: None)
    calls = []
    monkeypatch.setattr(disclosures, "sync_disclosures", lambda s: calls.append(s) or "synced")
    assert current_disclosure(session) == "synced"
    assert calls == [session]


def test_get_disclosure_is_public(client, disclosure):
    response = client.get("/api/esign/disclosure")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == disclosure.version
    assert body["sha256"] == disclosure.sha256
    assert body["text"] == disclosure.body
    assert hashlib.sha256(body["text"].encode()).hexdigest() == body["sha256"]
