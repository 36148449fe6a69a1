"""`GET /api/blobs/{token}` through the app, over the local store.

The URL is a bearer capability (signed, expiring), not an object id: it needs no
session (an admin page uses it as an `<img src>`), so there is no 401 or other-tenant
case; instead a forged or altered token answers 404 and an expired one 403.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from mindlinks.config import Settings
from mindlinks.platform import clock
from mindlinks.platform.blobs import blob_store_for, signed_blob_url
from mindlinks.platform.blobs.local import LocalBlobStore
from mindlinks.platform.blobs.urls import URL_PREFIX, verify_token
from mindlinks.platform.context import AppContext
from tests.factories import problem

IMAGE = b"\x89PNG\r\n\x1a\n" + b"selfie pixels " * 64
AD = b"kyc-document:sess-9:selfie"


@pytest.fixture
def stored(app_context: AppContext) -> Iterator[str]:
    store = blob_store_for(app_context)
    key = "kyc/sess-9/selfie"
    store.put(key, IMAGE, associated_data=AD, content_type="image/png")
    yield key
    store.delete(key)


def url_for(ctx: AppContext, key: str, **kwargs: object) -> str:
    return signed_blob_url(
        ctx.settings,
        blob_store_for(ctx),
        key,
        associated_data=AD,
        content_type="image/png",
        **kwargs,  # type: ignore[arg-type]
    )


def test_store_for_the_app_is_local_and_built_once(app_context: AppContext) -> None:
    store = blob_store_for(app_context)
    assert isinstance(store, LocalBlobStore)
    assert store is blob_store_for(app_context)
    assert store.root == app_context.settings.data_dir / "blobs"


def test_signed_url_serves_the_plaintext_with_safe_headers(
    client: TestClient, app_context: AppContext, stored: str
) -> None:
    url = url_for(app_context, stored)
    assert url.startswith(URL_PREFIX)
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.content == IMAGE
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store, private"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == "inline"


def test_signed_url_expires_after_the_configured_hour(
    client: TestClient, app_context: AppContext, stored: str
) -> None:
    url = url_for(app_context, stored)
    claims = verify_token(app_context.settings, url.removeprefix(URL_PREFIX))
    assert claims.expires_at - datetime.now(UTC).timestamp() == pytest.approx(3600, abs=2)
    clock.set_clock(lambda: datetime.now(UTC) + timedelta(seconds=3601))
    try:
        problem(client.get(url), 403, "url-expired")
    finally:
        clock.set_clock(None)
    assert client.get(url).status_code == 200


def test_short_expiry_is_honoured(client: TestClient, app_context: AppContext, stored: str) -> None:
    url = url_for(app_context, stored, expires_in=5)
    assert client.get(url).status_code == 200
    clock.set_clock(lambda: datetime.now(UTC) + timedelta(seconds=6))
    try:
        problem(client.get(url), 403, "url-expired")
    finally:
        clock.set_clock(None)


def _flip(text: str, index: int) -> str:
    swapped = "A" if text[index] != "A" else "B"
    return text[:index] + swapped + text[index + 1 :]


def test_altered_or_forged_tokens_answer_404(
    client: TestClient, app_context: AppContext, stored: str
) -> None:
    token = url_for(app_context, stored).removeprefix(URL_PREFIX)
    payload, tag = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    # Point a genuine tag at another record, and extend the expiry.
    for change in ({"k": "kyc/other/selfie"}, {"e": claims["e"] + 86400}, {"t": "text/html"}):
        forged = base64.urlsafe_b64encode(json.dumps(claims | change).encode()).rstrip(b"=")
        problem(client.get(f"{URL_PREFIX}{forged.decode()}.{tag}"), 404, "blob-url-invalid")
    for bad in (
        f"{_flip(payload, 10)}.{tag}",
        f"{payload}.{_flip(tag, 5)}",
        f"{payload}.",
        f"{payload}.{tag}.x",
        payload,
        "nonsense",
        "a" * 9000,
        "%C3%A9.%C3%A9",
    ):
        problem(client.get(URL_PREFIX + bad), 404)


def test_token_signed_with_another_secret_answers_404(
    client: TestClient, app_context: AppContext, stored: str
) -> None:
    other = Settings(data_dir=app_context.settings.data_dir, secret_key="another-secret-" * 3)
    url = signed_blob_url(
        other, blob_store_for(app_context), stored, associated_data=AD, content_type="image/png"
    )
    problem(client.get(url), 404, "blob-url-invalid")


def test_url_for_a_deleted_blob_answers_404(
    client: TestClient, app_context: AppContext, stored: str
) -> None:
    url = url_for(app_context, stored)
    blob_store_for(app_context).delete(stored)
    problem(client.get(url), 404, "blob-not-found")


def test_url_bound_to_another_record_does_not_serve_the_blob(
    client: TestClient, app_context: AppContext, stored: str
) -> None:
    url = signed_blob_url(
        app_context.settings,
        blob_store_for(app_context),
        stored,
        associated_data=b"kyc-document:another-session:selfie",
        content_type="image/png",
    )
    body = problem(client.get(url), 500, "blob-unreadable")
    assert "selfie pixels" not in json.dumps(body)


@pytest.mark.parametrize("expires_in", [0, -1, 7 * 24 * 3600 + 1])
def test_out_of_range_expiry_is_refused(app_context: AppContext, expires_in: int) -> None:
    with pytest.raises(ValueError, match="expires_in"):
        url_for(app_context, "kyc/x", expires_in=expires_in)
