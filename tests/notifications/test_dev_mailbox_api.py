from __future__ import annotations

import base64
import dataclasses
import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mindlinks.app import create_app
from mindlinks.config import Settings
from mindlinks.notifications.providers import DevMailbox, OutgoingEmail
from mindlinks.notifications.service import list_dev_mailbox
from mindlinks.platform.context import get_session
from mindlinks.platform.pagination import PageParams
from tests.factories import problem


def _keep(session, to: str, n: int) -> list[str]:
    """Keep n emails to `to` in the development mailbox; answer their subjects in order."""
    subjects = []
    for i in range(n):
        subject = f"Message {i} to {to}"
        DevMailbox(session).send(
            OutgoingEmail(
                to=to,
                subject=subject,
                text=f"text {i}",
                html=f"<p>html {i}</p>",
                from_="Mind-Links <no-reply@mindlinks.local>",
                message_id=f"<{i}@x>",
            )
        )
        subjects.append(subject)  # no pause: one millisecond holds them all
    return subjects


def test_mailbox_lists_newest_first_without_sign_in(client, session):
    subjects = _keep(session, "box1@example.com", 3)

    response = client.get("/api/dev/mailbox", params={"to": "BOX1@example.com"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["subject"] for item in body["items"]] == list(reversed(subjects))
    assert body["next_cursor"] is None
    item = body["items"][0]
    assert set(item) == {"id", "to", "subject", "text", "html", "sent_at"}
    assert item["to"] == "box1@example.com"
    assert item["text"] == "text 2"
    assert item["html"] == "<p>html 2</p>"
    assert item["sent_at"].endswith("Z")


def test_mailbox_pages_with_a_cursor(client, session):
    subjects = list(reversed(_keep(session, "box2@example.com", 5)))

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"to": "box2@example.com", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/dev/mailbox", params=params).json()
        assert len(body["items"]) <= 2
        seen += [item["subject"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == subjects


def test_the_unfiltered_mailbox_starts_with_the_newest(client, session):
    _keep(session, "box3a@example.com", 1)
    newest = _keep(session, "box3b@example.com", 1)

    body = client.get("/api/dev/mailbox", params={"limit": 1}).json()
    assert [item["subject"] for item in body["items"]] == newest
    assert body["next_cursor"] is not None


def test_bad_paging_input_is_422(client):
    problem(client.get("/api/dev/mailbox", params={"limit": 101}), 422)
    for cursor in ("__4", "%%%", "bm90LWEtY3Vyc29y", "MjAyNi0wMS0wMXx4"):
        problem(client.get("/api/dev/mailbox", params={"cursor": cursor}), 422)


def test_order_is_by_sending_time_even_when_ids_disagree(client, session):
    from datetime import UTC, datetime, timedelta

    from mindlinks.notifications.models import DevMailboxMessage

    base = datetime(2026, 1, 1, tzinfo=UTC)
    # Ids written in the opposite order of the sending times.
    for i, (row_id, minutes) in enumerate((("0zzz", 1), ("0yyy", 2), ("0xxx", 3))):
        session.add(
            DevMailboxMessage(
                id=row_id.ljust(26, "0"),
                recipient="order@example.com",
                sender="s@x",
                subject=f"s{i}",
                text_body="t",
                html_body="h",
                message_id="",
                sent_at=base + timedelta(minutes=minutes),
            )
        )
    session.flush()
    first = client.get("/api/dev/mailbox", params={"to": "order@example.com", "limit": 2}).json()
    assert [i["subject"] for i in first["items"]] == ["s2", "s1"]
    rest = client.get(
        "/api/dev/mailbox",
        params={"to": "order@example.com", "limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert [i["subject"] for i in rest["items"]] == ["s0"]
    assert rest["next_cursor"] is None


def test_service_for_the_web_dashboard(session):
    subjects = _keep(session, "box4@example.com", 3)
    rows, cursor = list_dev_mailbox(session, PageParams(limit=2), to="box4@example.com")
    assert [r.subject for r in rows] == [subjects[2], subjects[1]]
    assert cursor is not None
    rest, end = list_dev_mailbox(session, PageParams(limit=2, cursor=cursor), to="box4@example.com")
    assert [r.subject for r in rest] == [subjects[0]]
    assert end is None


@pytest.fixture
def production_client(app_context, session, data_dir, database_url) -> TestClient:
    """The app with real production settings: they pass the production checks."""
    production = Settings(
        env="production",
        data_dir=data_dir,
        database_url=database_url,
        secret_key=secrets.token_urlsafe(48),
        mailer="smtp",
        public_url="https://mindlinks.example",
        redis_url="redis://127.0.0.1:6379/0",  # never contacted: the test's limiter is kept
        ledger_private_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        kyc_provider="veriff",
        signing_ca_p12_path=data_dir / "signing-ca.p12",
        platform_seal_p12_path=data_dir / "platform-seal.p12",
        blob_keys='{"k1": "' + base64.b64encode(secrets.token_bytes(32)).decode() + '"}',
        run_worker_in_process=False,
    )
    app = create_app(context=dataclasses.replace(app_context, settings=production))

    def request_session() -> Iterator:
        yield session

    app.dependency_overrides[get_session] = request_session
    return TestClient(app, raise_server_exceptions=False)


def test_mailbox_is_404_in_production(production_client, session):
    _keep(session, "prod@example.com", 1)
    body = problem(production_client.get("/api/dev/mailbox"), 404)
    assert "dev/mailbox" in body["detail"]
    assert "prod@example.com" not in str(body)
    # The same app still serves the rest of the notifications API.
    problem(production_client.get("/api/notifications"), 401)
