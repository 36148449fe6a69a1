"""What the database itself guarantees, whatever a racing caller does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from mindlinks.kyc.models import KycSession, KycWebhookEvent
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id


def insert_fails(session, row) -> None:
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(row)


def open_session(
    user_id: str,
    *,
    status: str = "created",
    provider: str = "sandbox",
    reference: str | None = None,
) -> KycSession:
    return KycSession(
        user_id=user_id,
        provider=provider,
        provider_reference=reference or f"ref-{new_id()}",
        verification_url="http://testserver/kyc/sandbox/x",
        status=status,
        extracted={},
        expires_at=now() + timedelta(days=1),
    )


@pytest.mark.parametrize("second_status", ["created", "submitted", "review"])
def test_a_contractor_has_at_most_one_open_session(session, contractor, second_status):
    session.add(open_session(contractor.id))
    session.flush()
    insert_fails(session, open_session(contractor.id, status=second_status))


def test_closed_sessions_do_not_count_as_open(session, contractor):
    for status in ("approved", "declined", "expired", "expired"):
        session.add(open_session(contractor.id, status=status))
    session.add(open_session(contractor.id))
    session.flush()


def test_a_provider_reference_names_one_session_per_provider(session, contractor, admin):
    session.add(open_session(contractor.id, reference="same-ref"))
    session.add(open_session(admin.id, reference="same-ref", provider="veriff"))
    session.flush()
    insert_fails(session, open_session(admin.id, reference="same-ref", status="declined"))


def test_a_provider_event_is_recorded_once(session):
    session.add(KycWebhookEvent(provider="sandbox", event_id="r:approved", outcome="approved"))
    session.add(KycWebhookEvent(provider="veriff", event_id="r:approved", outcome="approved"))
    session.flush()
    insert_fails(
        session, KycWebhookEvent(provider="sandbox", event_id="r:approved", outcome="approved")
    )
