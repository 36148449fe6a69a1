"""The esign jobs: notices, sealing rounds (recorded failures, retries with
backoff, the safety net) and the ledger seq backfill."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from mindlinks.contracts.models import Contract
from mindlinks.esign import seal_runs
from mindlinks.esign.models import ContractSignature
from mindlinks.esign.notices import (
    NOTIFY_ACTIVATED_JOB,
    NOTIFY_DECLINED_JOB,
    NOTIFY_TURN_JOB,
    SEAL_JOB,
    SEAL_UNSEALED_JOB,
    seal_key,
)
from mindlinks.esign.seal_runs import (
    LedgerEntryNotSequenced,
    queue_unsealed,
    record_ledger_seq,
    run_seal_round,
)
from mindlinks.esign.service import decline_contract
from mindlinks.jobs.models import Job
from mindlinks.jobs.service import PERIODIC
from mindlinks.platform.clock import now
from tests.esign.factories import (
    actor,
    ledger_entries,
    mailbox,
    notifications_of,
    queued_jobs,
    sign,
)
from tests.factories import run_jobs


@pytest.fixture
def active(session, deal):
    sign(session, deal.client, deal.contract)
    sign(session, deal.contractor, deal.contract)
    assert deal.contract.status == "active"
    # Sequenced, as the commit would have them (PostgreSQL integrates after it).
    ledger_entries(session, deal.contract)
    return deal


class FakeSealer:
    """Stands in for pyHanko's sealing: records calls, can fail, marks sealed."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.fail_with = fail_with
        self.calls: list[str] = []

    def __call__(self, session, app, contract_id):
        self.calls.append(contract_id)
        contract = session.get(Contract, contract_id)
        contract.sealed_sha256 = "ab" * 32
        contract.sealed_at = now()
        session.flush()
        if self.fail_with is not None:
            raise self.fail_with
        return contract.sealed_sha256


# --- notices ------------------------------------------------------------------------


def test_the_next_signer_is_emailed_and_notified(session, app_context, deal):
    sign(session, deal.client, deal.contract)
    run_jobs(session, app_context, names=(NOTIFY_TURN_JOB,))
    [email] = mailbox(session, deal.contractor.email)
    assert email.subject == f"Your signature is needed: {deal.contract.title}"
    assert f"http://testserver/contracts/{deal.contract.id}" in email.text_body
    assert "Zoë Łukasiewicz" in email.text_body
    [note] = notifications_of(session, deal.contractor)
    assert note.kind == "contract.signature_requested"
    assert note.link == f"/contracts/{deal.contract.id}"


def test_a_turn_notice_for_a_party_who_already_signed_is_dropped(session, app_context, deal):
    sign(session, deal.client, deal.contract)
    sign(session, deal.contractor, deal.contract)
    run_jobs(session, app_context, names=(NOTIFY_TURN_JOB,))
    assert [m.subject for m in mailbox(session, deal.contractor.email)] == []


def test_the_activation_notice_goes_to_both_parties(session, app_context, active):
    run_jobs(session, app_context, names=(NOTIFY_ACTIVATED_JOB,))
    for user in (active.client, active.contractor):
        [email] = mailbox(session, user.email)
        assert email.subject == f"Signed and active: {active.contract.title}"
        assert active.contract.document_sha256 in email.text_body
        assert [n.kind for n in notifications_of(session, user)] == ["contract.active"]


def test_the_eor_countersigner_hears_of_the_activation_too(session, app_context, eor_deal, admin):
    for user in (eor_deal.client, eor_deal.contractor, admin):
        sign(session, user, eor_deal.contract)
    run_jobs(session, app_context, names=(NOTIFY_ACTIVATED_JOB,))
    for user in (eor_deal.client, eor_deal.contractor, admin):
        assert len(mailbox(session, user.email)) == 1


def test_the_decline_notice_goes_to_the_other_parties_with_the_reason(session, app_context, deal):
    decline_contract(session, actor(deal.contractor), deal.contract.id, reason="Rate too low.")
    run_jobs(session, app_context, names=(NOTIFY_DECLINED_JOB,))
    [email] = mailbox(session, deal.client.email)
    assert email.subject == f"Declined: {deal.contract.title}"
    assert "Rate too low." in email.text_body
    assert "the contractor" in email.text_body
    assert mailbox(session, deal.contractor.email) == []


# --- sealing rounds -------------------------------------------------------------------


def test_a_successful_round_seals_and_counts_the_attempt(session, app_context, active):
    sealer = FakeSealer()
    assert run_seal_round(session, app_context, active.contract.id, seal=sealer) == "ab" * 32
    session.refresh(active.contract)
    assert active.contract.sealed_at is not None
    assert (active.contract.seal_attempts, active.contract.seal_error) == (1, None)
    # A sealed contract is not sealed again.
    assert run_seal_round(session, app_context, active.contract.id, seal=sealer) == "ab" * 32
    assert sealer.calls == [active.contract.id]


def test_a_failed_round_is_recorded_undone_and_retried_later(session, app_context, active):
    sealer = FakeSealer(fail_with=RuntimeError("CA key not readable"))
    before = now()
    assert run_seal_round(session, app_context, active.contract.id, seal=sealer) is None
    contract = active.contract
    session.refresh(contract)
    # The round's own writes are rolled back; the signatures and activation stand.
    assert (contract.sealed_at, contract.sealed_sha256) == (None, None)
    assert contract.status == "active"
    assert contract.seal_attempts == 1
    assert contract.seal_error == "RuntimeError: CA key not readable"
    retry = next(
        j for j in queued_jobs(session, SEAL_JOB) if j.idempotency_key == seal_key(contract.id, 1)
    )
    assert retry.payload == {"contract_id": contract.id}
    assert retry.run_at > before + timedelta(seconds=3)

    run_seal_round(session, app_context, contract.id, seal=sealer)
    session.refresh(contract)
    assert contract.seal_attempts == 2
    assert {j.idempotency_key for j in queued_jobs(session, SEAL_JOB)} >= {
        seal_key(contract.id, 1),
        seal_key(contract.id, 2),
    }
    run_seal_round(session, app_context, contract.id, seal=FakeSealer())
    session.refresh(contract)
    assert (contract.seal_attempts, contract.seal_error) == (3, None)
    assert contract.sealed_at is not None


def test_backoff_grows_to_an_hour_and_stays():
    assert seal_runs.retry_delay_seconds(1) < 10
    assert seal_runs.retry_delay_seconds(5) > 50
    assert seal_runs.retry_delay_seconds(40) <= 3600
    assert seal_runs.retry_delay_seconds(40) >= 3600 * 0.75


def test_the_seal_job_never_fails_the_worker_for_a_sealing_error(
    session, app_context, active, monkeypatch
):
    monkeypatch.setattr(seal_runs, "seal_with_pyhanko", FakeSealer(fail_with=ValueError("boom")))
    assert run_jobs(session, app_context, names=(SEAL_JOB,)) == 1  # the retry waits
    [first] = [j for j in queued_jobs(session, SEAL_JOB) if j.status == "done"]
    assert first.idempotency_key == seal_key(active.contract.id, 0)
    session.refresh(active.contract)
    assert active.contract.seal_error == "ValueError: boom"


def test_the_seal_job_is_durable_with_many_attempts(app_context):
    from mindlinks.jobs.service import TASKS

    assert TASKS[SEAL_JOB].max_attempts == 20
    assert PERIODIC[SEAL_UNSEALED_JOB].every_seconds(app_context.settings) == 60


def test_a_round_for_a_contract_that_is_not_active_does_nothing(session, app_context, deal):
    sealer = FakeSealer()
    assert run_seal_round(session, app_context, deal.contract.id, seal=sealer) is None
    assert run_seal_round(session, app_context, "no-such-contract", seal=sealer) is None
    assert sealer.calls == []


def test_a_round_writes_every_ledger_seq_before_sealing(session, app_context, active):
    session.execute(
        update(ContractSignature)
        .where(ContractSignature.contract_id == active.contract.id)
        .values(ledger_seq=None)
    )
    seen = []

    def sealer(session_, app, contract_id):
        signatures = session_.query(ContractSignature).filter_by(contract_id=contract_id).all()
        seen.extend(s.ledger_seq for s in signatures)
        return "cd" * 32

    run_seal_round(session, app_context, active.contract.id, seal=sealer)
    signed = [
        e["seq"] for e in ledger_entries(session, active.contract) if e["kind"] == "contract.signed"
    ]
    assert sorted(seen) == signed


# --- the safety net ----------------------------------------------------------------


def _age(session, contract, seconds=120):
    session.execute(
        update(Contract)
        .where(Contract.id == contract.id)
        .values(activated_at=now() - timedelta(seconds=seconds))
    )


def test_the_safety_net_leaves_a_live_round_alone(session, app_context, active):
    _age(session, active.contract)
    assert queue_unsealed(session) == 0
    assert len(queued_jobs(session, SEAL_JOB)) == 1


def test_the_safety_net_gives_young_contracts_time(session, app_context, active):
    session.execute(update(Job).where(Job.name == SEAL_JOB).values(status="dead"))
    assert queue_unsealed(session) == 0


def test_the_safety_net_requeues_a_round_whose_job_died(session, app_context, active):
    _age(session, active.contract)
    session.execute(update(Job).where(Job.name == SEAL_JOB).values(status="dead"))
    assert queue_unsealed(session) == 1
    live = [j for j in queued_jobs(session, SEAL_JOB) if j.status == "queued"]
    assert len(live) == 1
    assert live[0].idempotency_key.startswith(seal_key(active.contract.id, 0) + ":sweep-")
    # Once per window: the next scans add nothing.
    assert queue_unsealed(session) == 0
    assert len(queued_jobs(session, SEAL_JOB)) == 2


def test_the_safety_net_queues_a_round_that_was_never_queued(session, app_context, active):
    _age(session, active.contract)
    session.execute(
        update(Contract).where(Contract.id == active.contract.id).values(seal_attempts=3)
    )
    assert queue_unsealed(session) == 1
    assert seal_key(active.contract.id, 3) in {
        j.idempotency_key for j in queued_jobs(session, SEAL_JOB)
    }


def test_sealed_contracts_are_left_alone(session, app_context, active):
    _age(session, active.contract)
    session.execute(update(Job).where(Job.name == SEAL_JOB).values(status="dead"))
    run_seal_round(session, app_context, active.contract.id, seal=FakeSealer())
    assert queue_unsealed(session) == 0


# --- ledger seqs -----------------------------------------------------------------------


def test_record_ledger_seq_writes_the_entry_seq(session, active):
    signature = (
        session.query(ContractSignature)
        .filter_by(role="client")
        .filter_by(contract_id=active.contract.id)
        .one()
    )
    expected = signature.ledger_seq
    if expected is None:
        from mindlinks.ledger.service import seq_of

        expected = seq_of(session, signature.ledger_pending_id)
    signature.ledger_seq = None
    session.flush()
    assert record_ledger_seq(session, signature.id) == expected
    assert signature.ledger_seq == expected
    assert record_ledger_seq(session, "unknown") is None


def test_an_unsequenced_entry_makes_the_round_fail_and_retry(
    session, app_context, active, monkeypatch
):
    signature = session.query(ContractSignature).filter_by(contract_id=active.contract.id).first()
    signature.ledger_seq = None
    session.flush()
    monkeypatch.setattr(seal_runs, "seq_of", lambda s, pending_id: None)
    with pytest.raises(LedgerEntryNotSequenced):
        record_ledger_seq(session, signature.id)
    sealer = FakeSealer()
    assert run_seal_round(session, app_context, active.contract.id, seal=sealer) is None
    assert sealer.calls == []
    session.refresh(active.contract)
    assert active.contract.seal_error.startswith("LedgerEntryNotSequenced")
    assert seal_key(active.contract.id, 1) in {
        j.idempotency_key for j in queued_jobs(session, SEAL_JOB)
    }
