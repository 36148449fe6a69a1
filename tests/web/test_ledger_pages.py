"""The admin's ledger explorer."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from mindlinks.ledger.checkpoints import issue_checkpoint, keyring_for
from tests.factories import make_user
from tests.ledger.db_helpers import append_n
from tests.web.test_routes import post, sign_in


def test_admins_see_entries_filters_and_the_latest_checkpoint(
    client: TestClient, session: Session, app_context
) -> None:
    append_n(session, 3, subject="contract:WEB-A")
    append_n(session, 2, subject="contract:WEB-B", kind="test.other")
    checkpoint = issue_checkpoint(session, app_context.settings, keyring_for(app_context))
    admin = make_user(session, role="admin")
    sign_in(client, admin.email)
    page = client.get("/admin/ledger")
    assert page.status_code == 200
    assert "contract:WEB-A" in page.text and "contract:WEB-B" in page.text
    assert checkpoint is not None
    assert checkpoint.root_hash.hex() in page.text
    filtered = client.get("/admin/ledger?subject=contract:WEB-B")
    assert "contract:WEB-B" in filtered.text
    assert "contract:WEB-A</a>" not in filtered.text
    by_kind = client.get("/admin/ledger?kind=test.other")
    assert by_kind.text.count("<td>test.other</td>") == 2


def test_the_verify_button_runs_verification(client: TestClient, session: Session) -> None:
    admin = make_user(session, role="admin")
    sign_in(client, admin.email)
    page = post(client, "/admin/ledger/verify")
    assert page.status_code == 200
    assert "Verified:" in page.text


def test_other_roles_are_refused(client: TestClient, session: Session) -> None:
    user = make_user(session, role="client")
    sign_in(client, user.email)
    assert client.get("/admin/ledger").status_code == 403
    assert post(client, "/admin/ledger/verify").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    response = client.get("/admin/ledger", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
