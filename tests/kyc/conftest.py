"""Fixtures of the KYC tests: people, the webhook transport, a movable clock."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import mindlinks.kyc.tasks  # noqa: F401  (registers the jobs the services queue)
from mindlinks.kyc.providers import WEBHOOK_TRANSPORT_EXTRA, sandbox_webhook_secret
from mindlinks.platform.context import AppContext
from tests.factories import auth_headers, make_user


@pytest.fixture
def contractor(session):
    return make_user(session, role="contractor", full_name="Casey Contractor")


@pytest.fixture
def contractor_headers(client, contractor):
    return auth_headers(client, contractor)


@pytest.fixture
def admin(session):
    return make_user(session, role="admin", full_name="Ada Admin")


@pytest.fixture
def admin_headers(client, admin):
    return auth_headers(client, admin)


@pytest.fixture
def webhook_transport(client: TestClient, app_context: AppContext) -> Iterator[None]:
    """The sandbox's webhook job speaks HTTP to the app under test (its ASGI transport)."""
    app_context.extras[WEBHOOK_TRANSPORT_EXTRA] = client._transport
    yield
    app_context.extras.pop(WEBHOOK_TRANSPORT_EXTRA, None)


@pytest.fixture
def sandbox_secret(settings) -> str:
    secret = sandbox_webhook_secret(settings)
    assert secret
    return secret


@pytest.fixture
def sign(sandbox_secret) -> Callable[[bytes], str]:
    def signature(raw: bytes) -> str:
        return hmac.new(sandbox_secret.encode(), raw, hashlib.sha256).hexdigest()

    return signature


@pytest.fixture
def post_webhook(client, sign) -> Callable[..., Any]:
    """POST a sandbox decision webhook (signed unless told otherwise)."""

    def post(
        verification: dict[str, Any], *, signature: str | None = "valid", provider: str = "sandbox"
    ):
        raw = json.dumps({"status": "success", "verification": verification}).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-HMAC-SIGNATURE"] = sign(raw)
        elif signature is not None:
            headers["X-HMAC-SIGNATURE"] = signature
        return client.post(f"/api/webhooks/kyc/{provider}", content=raw, headers=headers)

    return post
