"""Signature reminders by email after 3 and 7 days of waiting, each sent once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from mindlinks.contracts.models import ContractParty
from mindlinks.esign import reminders
from mindlinks.esign.notices import SEND_REMINDER_JOB, SEND_REMINDERS_JOB
from mindlinks.esign.reminders import claim_due_reminders, reminders_due
from tests.esign.factories import mailbox, make_admin, notifications_of, party, queued_jobs, sign
from tests.factories import run_jobs

DAYS = [3, 7]


def scan(session, app_context):
    """What the hourly job does, then the reminder jobs it queued."""
    claimed = claim_due_reminders(session, app_context.settings.contract_reminder_days)
    run_jobs(session, app_context, names=(SEND_REMINDER_JOB,))
    return claimed


def test_thresholds_come_from_settings(settings):
    assert settings.contract_reminder_days == DAYS
    assert reminders_due(timedelta(days=2, hours=23), DAYS) == 0
    assert reminders_due(timedelta(days=3), DAYS) == 1
    assert reminders_due(timedelta(days=6), DAYS) == 1
    assert reminders_due(timedelta(days=7), DAYS) == 2
    assert reminders_due(timedelta(days=40), DAYS) == 2


def test_the_awaited_party_is_reminded_after_3_then_7_days_once_each(
    session, app_context, deal, move_clock
):
    client_party = party(session, deal.contract, "client")
    assert scan(session, app_context) == []
    move_clock(timedelta(days=2, hours=23))
    assert scan(session, app_context) == []

    move_clock(timedelta(hours=2))
    [claimed] = scan(session, app_context)
    assert (claimed.party_id, claimed.role, claimed.number) == (client_party.id, "client", 1)
    session.refresh(client_party)
    assert client_party.reminders_sent == 1
    [email] = mailbox(session, deal.client.email)
    assert deal.contract.title in email.subject
    assert "3 days" in email.text_body
    assert f"/contracts/{deal.contract.id}" in email.text_body
    assert [n.kind for n in notifications_of(session, deal.client)] == [
        "contract.signature_reminder"
    ]
    # The next hourly scans send nothing more until day 7.
    move_clock(timedelta(hours=1))
    assert scan(session, app_context) == []
    move_clock(timedelta(days=4))
    [second] = scan(session, app_context)
    assert second.number == 2
    assert len(mailbox(session, deal.client.email)) == 2
    move_clock(timedelta(days=30))
    assert scan(session, app_context) == []
    assert len(mailbox(session, deal.client.email)) == 2
    # Nobody else was reminded: the contractor's turn has not come.
    assert mailbox(session, deal.contractor.email) == []


def test_a_long_wait_sends_one_reminder_not_a_burst(session, app_context, deal, move_clock):
    move_clock(timedelta(days=10))
    [claimed] = scan(session, app_context)
    assert claimed.number == 2
    client_party = party(session, deal.contract, "client")
    session.refresh(client_party)
    assert client_party.reminders_sent == 2
    assert len(mailbox(session, deal.client.email)) == 1
    assert scan(session, app_context) == []


def test_the_wait_counts_from_the_turn_not_from_the_send(session, app_context, deal, move_clock):
    move_clock(timedelta(days=2))
    sign(session, deal.client, deal.contract)  # the contractor's turn starts now
    move_clock(timedelta(days=2))
    assert scan(session, app_context) == []
    move_clock(timedelta(days=1, minutes=1))
    [claimed] = scan(session, app_context)
    assert claimed.role == "contractor"
    assert len(mailbox(session, deal.contractor.email)) == 1


def test_signed_parties_and_finished_contracts_are_not_reminded(
    session, app_context, deal, move_clock
):
    sign(session, deal.client, deal.contract)
    sign(session, deal.contractor, deal.contract)
    move_clock(timedelta(days=8))
    assert scan(session, app_context) == []


def test_a_voided_contract_is_not_reminded(session, app_context, deal, move_clock):
    deal.contract.status = "void"
    session.flush()
    move_clock(timedelta(days=8))
    assert scan(session, app_context) == []


def test_two_scans_racing_claim_each_reminder_once(
    session, app_context, deal, move_clock, monkeypatch
):
    """The claim is a conditional UPDATE: when another worker raised the count
    between this scan's read and its write, this scan claims nothing."""
    client_party = party(session, deal.contract, "client")
    real = reminders.reminders_due

    def other_worker_first(waited, thresholds):
        session.execute(
            update(ContractParty)
            .where(ContractParty.id == client_party.id)
            .values(reminders_sent=1)
        )
        return real(waited, thresholds)

    monkeypatch.setattr(reminders, "reminders_due", other_worker_first)
    move_clock(timedelta(days=3, minutes=1))
    assert claim_due_reminders(session, DAYS) == []
    assert queued_jobs(session, SEND_REMINDER_JOB) == []


def test_a_repeated_reminder_job_sends_once(session, app_context, deal, move_clock):
    move_clock(timedelta(days=3, minutes=1))
    claim_due_reminders(session, DAYS)
    [job] = queued_jobs(session, SEND_REMINDER_JOB)
    from mindlinks.esign.tasks import send_reminder
    from mindlinks.jobs.service import JobContext

    ctx = JobContext(job.id, job.name, 1, job.idempotency_key, app_context)
    send_reminder(session, dict(job.payload), ctx)
    send_reminder(session, dict(job.payload), ctx)
    assert len(mailbox(session, deal.client.email)) == 1
    assert len(notifications_of(session, deal.client)) == 1


def test_eor_reminders_go_to_every_admin(session, app_context, eor_deal, move_clock):
    admins = [make_admin(session), make_admin(session, full_name="Bo Admin")]
    sign(session, eor_deal.client, eor_deal.contract)
    sign(session, eor_deal.contractor, eor_deal.contract)
    move_clock(timedelta(days=3, minutes=1))
    [claimed] = scan(session, app_context)
    assert claimed.role == "eor"
    for admin in admins:
        [email] = mailbox(session, admin.email)
        assert "employer of record" in email.text_body


def test_the_hourly_job_is_scheduled(app_context):
    from mindlinks.jobs.service import PERIODIC

    assert PERIODIC[SEND_REMINDERS_JOB].every_seconds(app_context.settings) == 3600


def test_the_periodic_job_claims_and_queues(session, app_context, deal, move_clock):
    from mindlinks.jobs.service import enqueue

    move_clock(timedelta(days=3, minutes=1))
    enqueue(session, SEND_REMINDERS_JOB, {}, key="test-scan")
    run_jobs(session, app_context, names=(SEND_REMINDERS_JOB, SEND_REMINDER_JOB))
    assert len(mailbox(session, deal.client.email)) == 1
