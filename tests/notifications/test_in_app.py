from __future__ import annotations

import pytest

from mindlinks.notifications.service import notify_in_app, unread_count
from tests.factories import auth_headers, make_user, problem


@pytest.fixture
def two_users(session):
    return make_user(session), make_user(session, role="contractor")


def _notify(session, user, n, prefix="n"):
    made = []
    for i in range(n):
        made.append(
            notify_in_app(
                session,
                user.id,
                "contract.sent",
                f"{prefix} title {i}",
                f"{prefix} body {i}",
                f"/contracts/{i}",
            )
        )
    session.flush()
    return made


def test_list_is_the_callers_own_newest_first(client, session, two_users):
    ann, bob = two_users
    mine = _notify(session, ann, 2, "ann")
    _notify(session, bob, 1, "bob")

    response = client.get("/api/notifications", headers=auth_headers(client, ann))

    assert response.status_code == 200, response.text
    body = response.json()
    assert [i["id"] for i in body["items"]] == [mine[1].id, mine[0].id]
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first["kind"] == "contract.sent"
    assert first["title"] == "ann title 1"
    assert first["body"] == "ann body 1"
    assert first["link"] == "/contracts/1"
    assert first["read"] is False
    assert first["read_at"] is None
    assert first["created_at"].endswith("Z")


def test_list_pages_and_filters_unread(client, session, two_users):
    ann, _ = two_users
    made = _notify(session, ann, 3)
    headers = auth_headers(client, ann)

    page = client.get("/api/notifications", params={"limit": 2}, headers=headers).json()
    assert [i["id"] for i in page["items"]] == [made[2].id, made[1].id]
    rest = client.get(
        "/api/notifications", params={"limit": 2, "cursor": page["next_cursor"]}, headers=headers
    ).json()
    assert [i["id"] for i in rest["items"]] == [made[0].id]
    assert rest["next_cursor"] is None

    assert client.post(f"/api/notifications/{made[1].id}/read", headers=headers).status_code == 204
    unread = client.get("/api/notifications", params={"unread": "true"}, headers=headers).json()
    assert [i["id"] for i in unread["items"]] == [made[2].id, made[0].id]
    assert unread_count(session, ann.id) == 2


def test_mark_read(client, session, two_users):
    ann, _ = two_users
    (note,) = _notify(session, ann, 1)
    headers = auth_headers(client, ann)

    response = client.post(f"/api/notifications/{note.id}/read", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    item = client.get("/api/notifications", headers=headers).json()["items"][0]
    assert item["read"] is True
    read_at = item["read_at"]
    assert read_at is not None

    # Again: still 204, the first read time is kept.
    assert client.post(f"/api/notifications/{note.id}/read", headers=headers).status_code == 204
    assert (
        client.get("/api/notifications", headers=headers).json()["items"][0]["read_at"] == read_at
    )


def test_another_users_notification_is_404_like_an_unknown_one(client, session, two_users):
    ann, bob = two_users
    (bobs,) = _notify(session, bob, 1)
    headers = auth_headers(client, ann)

    theirs = problem(client.post(f"/api/notifications/{bobs.id}/read", headers=headers), 404)
    unknown = problem(client.post("/api/notifications/nope/read", headers=headers), 404)
    assert theirs["type"] == unknown["type"]
    assert theirs["type"].endswith("/notification-not-found")
    session.refresh(bobs)
    assert bobs.read_at is None


def test_anonymous_is_401(client, session, two_users):
    _, bob = two_users
    (note,) = _notify(session, bob, 1)
    problem(client.get("/api/notifications"), 401)
    problem(client.post(f"/api/notifications/{note.id}/read"), 401)


def test_notify_in_app_once_per_key_and_safe_links(session, two_users):
    ann, _ = two_users
    first = notify_in_app(session, ann.id, "k", "t", "b", key="notify:once")
    again = notify_in_app(session, ann.id, "k", "t", "b", key="notify:once")
    assert first.id == again.id
    assert unread_count(session, ann.id) == 1
    assert notify_in_app(session, ann.id, "k", "t", "b", "https://example.com/x").link
    for bad in ("javascript:alert(1)", "//evil.example/x", "data:text/html,x", "/a\nb"):
        with pytest.raises(ValueError, match="link"):
            notify_in_app(session, ann.id, "k", "t", "b", bad)
