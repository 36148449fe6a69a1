"""KYC service rules: starting and resuming, statuses, transitions, provider decisions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mindlinks.identity.errors import EmailNotVerified
from mindlinks.jobs.models import Job
from mindlinks.kyc import service
from mindlinks.kyc.errors import (
    KycAlreadyApproved,
    KycNotApproved,
    KycSessionInProgress,
    KycTransitionNotAllowed,
)
from mindlinks.kyc.lifecycle import move, safe_extracted
from mindlinks.kyc.models import KycSession, KycWebhookEvent
from mindlinks.kyc.providers import ProviderDecision, sandbox_provider_for
from mindlinks.kyc.sealing import document_number_binding, keyring_for, open_text
from mindlinks.kyc.states import FINAL_STATUSES, OUTCOME_STATUS, STATUSES, TRANSITIONS, can_move
from mindlinks.ledger import repository as ledger_repository
from mindlinks.platform.blobs.base import BlobIntegrityError
from mindlinks.platform.errors import RateLimited, RoleNotAllowed
from mindlinks.platform.ratelimit import RateLimiter
from tests.factories import make_user
from tests.kyc.factories import actor, start_session, submit_capture


def decision(
    kyc: KycSession, outcome: str, *, status: str | None = None, **fields
) -> ProviderDecision:
    return ProviderDecision(
        event_id=f"{kyc.provider_reference}:{status or outcome}",
        reference=kyc.provider_reference,
        outcome=outcome,  # type: ignore[arg-type]
        **fields,
    )


def set_status(session, kyc: KycSession, status: str) -> None:
    session.execute(update(KycSession).where(KycSession.id == kyc.id).values(status=status))
    session.refresh(kyc)


def kyc_entries(session, kyc: KycSession) -> list[dict]:
    rows = ledger_repository.entries(session, subject=f"kyc:{kyc.id}", limit=10)
    return [json.loads(row.entry_bytes) for row in rows]


# --- the transition table -------------------------------------------------------


def test_the_transition_table_covers_every_status_and_finals_stay_final():
    assert set(TRANSITIONS) == set(STATUSES)
    for status in FINAL_STATUSES:
        assert TRANSITIONS[status] == frozenset()
    assert TRANSITIONS["review"] == {"approved", "declined"}
    assert can_move("created", "approved") and not can_move("review", "expired")
    assert not can_move("submitted", "created")


def test_provider_outcomes_map_resubmit_to_declined_and_abandoned_to_expired():
    assert OUTCOME_STATUS["resubmit"] == ("declined", "resubmission_requested")
    assert OUTCOME_STATUS["abandoned"] == ("expired", "abandoned")
    assert OUTCOME_STATUS["pending"] is None


def test_an_illegal_move_is_a_409_naming_the_current_status(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    set_status(session, kyc, "approved")
    with pytest.raises(KycTransitionNotAllowed) as raised:
        move(session, kyc, "declined", actor_ref="system")
    assert raised.value.status == 409
    assert raised.value.extra["kyc_status"] == "approved"
    assert "approved" in raised.value.detail


def test_a_move_is_conditional_on_the_status_it_was_read_in(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    stale = kyc.status
    # Someone else moves it to review behind this object's back.
    session.execute(
        update(KycSession)
        .where(KycSession.id == kyc.id)
        .values(status="review")
        .execution_options(synchronize_session=False)
    )
    assert kyc.status == stale == "created"
    assert move(session, kyc, "expired", actor_ref="system") is False
    assert kyc.status == "review"


# --- starting -------------------------------------------------------------------


def test_a_contractor_starts_a_sandbox_session(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    assert kyc.status == "created"
    assert kyc.provider == "sandbox"
    assert kyc.user_id == contractor.id
    assert kyc.provider_reference.startswith("sbx-")
    assert kyc.verification_url == f"{app_context.settings.base_url}/kyc/sandbox/{kyc.id}"
    assert kyc.expires_at - kyc.created_at == timedelta(
        seconds=app_context.settings.kyc_session_ttl_seconds
    )
    assert service.kyc_status_of(session, contractor.id) == "created"


def test_starting_again_resumes_the_open_created_session(session, app_context, contractor):
    first = start_session(session, app_context, contractor)
    again = service.start_verification(
        session,
        actor(contractor),
        provider=sandbox_provider_for(app_context),
        settings=app_context.settings,
        limiter=RateLimiter(None),
    )
    assert again.resumed is True
    assert again.session.id == first.id
    ids = session.scalars(select(KycSession.id).where(KycSession.user_id == contractor.id)).all()
    assert ids == [first.id]


def test_an_expired_open_session_is_closed_and_a_new_one_opened(
    session, app_context, contractor, move_clock
):
    first = start_session(session, app_context, contractor)
    move_clock(timedelta(seconds=app_context.settings.kyc_session_ttl_seconds + 1))
    assert service.kyc_status_of(session, contractor.id) == "expired"
    second = start_session(session, app_context, contractor)
    assert second.id != first.id
    session.refresh(first)
    assert first.status == "expired"
    assert first.reason_code == "timed_out"


@pytest.mark.parametrize("status", ["submitted", "review"])
def test_no_new_session_while_one_waits_for_its_decision(session, app_context, contractor, status):
    kyc = start_session(session, app_context, contractor)
    set_status(session, kyc, status)
    with pytest.raises(KycSessionInProgress) as raised:
        start_session(session, app_context, contractor)
    assert raised.value.status == 409
    assert raised.value.extra["kyc_status"] == status


def test_no_new_session_once_approved(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    set_status(session, kyc, "approved")
    with pytest.raises(KycAlreadyApproved):
        start_session(session, app_context, contractor)


def test_a_declined_contractor_can_start_again(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    set_status(session, kyc, "declined")
    again = start_session(session, app_context, contractor)
    assert again.id != kyc.id
    assert service.kyc_status_of(session, contractor.id) == "created"


def test_only_verified_contractors_start(session, app_context):
    client_user = make_user(session, role="client")
    with pytest.raises(RoleNotAllowed):
        start_session(session, app_context, client_user)
    unverified = make_user(session, role="contractor", verified=False)
    with pytest.raises(EmailNotVerified):
        start_session(session, app_context, unverified)


def test_starts_are_rate_limited_per_contractor_and_resuming_is_free(
    session, app_context, contractor
):
    limiter = RateLimiter(None)
    other = make_user(session, role="contractor")

    def start(user):
        return service.start_verification(
            session,
            actor(user),
            provider=sandbox_provider_for(app_context),
            settings=app_context.settings.model_copy(update={"rate_limit_kyc_sessions": "2/day"}),
            limiter=limiter,
        )

    for _ in range(2):
        started = start(contractor)
        assert start(contractor).resumed  # resuming does not count
        set_status(session, started.session, "declined")
    with pytest.raises(RateLimited) as raised:
        start(contractor)
    assert int(raised.value.headers["Retry-After"]) > 0
    assert start(other).resumed is False  # the budget is per contractor


# --- status for other modules ------------------------------------------------------


def test_status_is_none_before_any_session_and_follows_the_latest(session, app_context, contractor):
    assert service.kyc_status_of(session, contractor.id) == "none"
    first = start_session(session, app_context, contractor)
    set_status(session, first, "declined")
    assert service.kyc_status_of(session, contractor.id) == "declined"
    start_session(session, app_context, contractor)
    assert service.kyc_status_of(session, contractor.id) == "created"


def test_require_verified_refuses_until_approved_with_a_link_to_kyc(
    session, app_context, contractor
):
    with pytest.raises(KycNotApproved) as raised:
        service.require_verified(session, contractor.id)
    body = raised.value.body()
    assert raised.value.status == 403
    assert body["type"].endswith("/kyc-not-approved")
    assert body["kyc_status"] == "none"
    assert {"rel": "verify-identity", "href": "/kyc"} in body["links"]
    kyc = start_session(session, app_context, contractor)
    set_status(session, kyc, "approved")
    service.require_verified(session, contractor.id)


# --- provider decisions ----------------------------------------------------------


def test_an_approval_appends_a_ledger_entry_without_pii(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    submit_capture(session, app_context, contractor, kyc, document_number="ZX9876543")
    result = service.apply_provider_decision(session, "sandbox", decision(kyc, "approved"))
    assert result == "applied"
    assert kyc.status == "approved" and kyc.decided_at is not None
    [entry] = kyc_entries(session, kyc)
    assert entry["kind"] == "kyc.decided"
    assert entry["subject"] == f"kyc:{kyc.id}"
    assert entry["actor"] == "provider:sandbox"
    payload = entry["payload"]
    assert payload["decision"] == "approved"
    assert payload["session_id"] == kyc.id and payload["user_id"] == contractor.id
    assert payload["provider"] == "sandbox"
    assert {d["side"] for d in payload["documents"]} == {"front", "back", "selfie"}
    assert all(len(d["sha256"]) == 64 for d in payload["documents"])
    text = json.dumps(entry)
    for secret in ("ZX9876543", contractor.full_name, contractor.email):
        assert secret not in text


def test_resubmission_is_a_decline_that_lets_the_contractor_start_again(
    session, app_context, contractor
):
    kyc = start_session(session, app_context, contractor)
    assert (
        service.apply_provider_decision(session, "sandbox", decision(kyc, "resubmit")) == "applied"
    )
    assert kyc.status == "declined"
    assert kyc.reason_code == "resubmission_requested"
    assert "start a new verification" in (kyc.reason or "")
    assert start_session(session, app_context, contractor).id != kyc.id


def test_abandoned_is_an_expiry_without_a_ledger_entry(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    service.apply_provider_decision(session, "sandbox", decision(kyc, "abandoned"))
    assert kyc.status == "expired"
    assert kyc.reason_code == "abandoned"
    assert kyc_entries(session, kyc) == []


def test_pending_changes_nothing_but_the_provider_status(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    result = service.apply_provider_decision(
        session, "sandbox", decision(kyc, "pending", provider_status="7002 submitted")
    )
    assert result == "unchanged"
    assert kyc.status == "created"
    assert kyc.provider_status == "7002 submitted"


def test_a_repeated_event_is_a_no_op(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    assert (
        service.apply_provider_decision(session, "sandbox", decision(kyc, "declined")) == "applied"
    )
    assert (
        service.apply_provider_decision(session, "sandbox", decision(kyc, "declined"))
        == "duplicate"
    )
    assert len(kyc_entries(session, kyc)) == 1
    jobs = session.scalars(select(Job).where(Job.name == service.NOTIFY_DECIDED_JOB)).all()
    assert len([j for j in jobs if j.payload["session_id"] == kyc.id]) == 1


def test_an_unknown_reference_is_recorded_and_changes_nothing(session, app_context, contractor):
    ghost = ProviderDecision(
        event_id="sbx-ghost:approved", reference="sbx-ghost", outcome="approved"
    )
    assert service.apply_provider_decision(session, "sandbox", ghost) == "unknown"
    event = session.scalar(
        select(KycWebhookEvent).where(KycWebhookEvent.event_id == "sbx-ghost:approved")
    )
    assert event is not None and event.session_id is None


def test_an_event_never_touches_another_providers_session(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    forged = ProviderDecision(
        event_id=f"{kyc.provider_reference}:approved",
        reference=kyc.provider_reference,
        outcome="approved",
        vendor_session_id=kyc.id,
    )
    assert service.apply_provider_decision(session, "veriff", forged) == "unknown"
    session.refresh(kyc)
    assert kyc.status == "created"


def test_an_event_whose_vendor_data_names_another_session_is_ignored(
    session, app_context, contractor
):
    kyc = start_session(session, app_context, contractor)
    odd = decision(kyc, "approved", vendor_session_id="01someothersession000000000")
    assert service.apply_provider_decision(session, "sandbox", odd) == "ignored"
    assert kyc.status == "created"


def test_a_late_event_cannot_undo_a_final_decision(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    service.apply_provider_decision(session, "sandbox", decision(kyc, "approved"))
    assert (
        service.apply_provider_decision(session, "sandbox", decision(kyc, "expired")) == "ignored"
    )
    assert (
        service.apply_provider_decision(session, "sandbox", decision(kyc, "declined")) == "ignored"
    )
    assert kyc.status == "approved"


def test_extracted_data_keeps_no_personal_fields():
    kept = safe_extracted(
        {
            "document_type": "PASSPORT",
            "document_country": "EE",
            "first_name": "Casey",
            "document_number": "X1",
            "date_of_birth": "1990-01-01",
        }
    )
    assert kept == {"document_type": "PASSPORT", "document_country": "EE"}


# --- sealing ---------------------------------------------------------------------


def test_the_document_number_is_sealed_and_bound_to_its_session(session, app_context, contractor):
    kyc = start_session(session, app_context, contractor)
    submit_capture(session, app_context, contractor, kyc, document_number="ab 123-456")
    sealed = kyc.document_number_sealed
    assert sealed is not None and b"AB 123-456" not in sealed
    ring = keyring_for(app_context)
    assert open_text(ring, sealed, document_number_binding(kyc.id)) == "AB 123-456"
    with pytest.raises(BlobIntegrityError):
        open_text(ring, sealed, document_number_binding("someone-else"))
