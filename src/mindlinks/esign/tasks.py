"""Jobs of the esign module.

- `esign.notify_turn` {contract_id, role}: "your signature is needed" (email and
  in-app) to whoever acts for the role, when it becomes their turn.
- `esign.notify_activated` {contract_id}: "contract active" to every party.
- `esign.notify_declined` {contract_id}: "contract declined" to the other parties.
- periodic `esign.send_reminders` (hourly) claims due reminders (`reminders`) and
  queues `esign.send_reminder` {party_id, number}, which sends one.
- `esign.seal_contract` {contract_id}: one sealing round (`seal_runs`); a failed
  round is recorded on the contract and queues the next with backoff.
- periodic `esign.seal_unsealed` (every minute): the safety net for contracts
  left unsealed without a live round.

Each notice job skips quietly when what it announces is no longer true (the
party signed meanwhile, the contract was voided): a late notice would mislead.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import Session

from mindlinks.contracts import repository
from mindlinks.contracts.models import Contract, ContractParty
from mindlinks.contracts.states import SIGNABLE_STATUSES
from mindlinks.esign import notices, reminders, seal_runs
from mindlinks.jobs.service import JobContext, periodic, task
from mindlinks.platform.clock import now

REMINDER_SCAN_SECONDS: Final = 3600
UNSEALED_SCAN_SECONDS: Final = 60


def _waiting_party(session: Session, contract_id: str, role: str) -> ContractParty | None:
    contract = session.get(Contract, contract_id)
    if contract is None or contract.status not in SIGNABLE_STATUSES:
        return None
    party = next((p for p in repository.parties_of(session, contract_id) if p.role == role), None)
    if party is None or party.signed_at is not None:
        return None
    return party


@task(notices.NOTIFY_TURN_JOB)
def notify_turn(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    contract_id, role = str(payload["contract_id"]), str(payload["role"])
    if _waiting_party(session, contract_id, role) is None:
        return
    contract = session.get(Contract, contract_id)
    assert contract is not None
    notices.send_turn_notice(session, ctx.app.settings, contract, role, key=ctx.idempotency_key)


@task(notices.SEND_REMINDER_JOB)
def send_reminder(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    party = session.get(ContractParty, str(payload["party_id"]))
    if party is None or party.awaiting_since is None:
        return
    if _waiting_party(session, party.contract_id, party.role) is None:
        return
    contract = session.get(Contract, party.contract_id)
    assert contract is not None
    notices.send_reminder_notice(
        session,
        ctx.app.settings,
        contract,
        party.role,
        days_waiting=(now() - party.awaiting_since).days,
        key=ctx.idempotency_key,
    )


@task(notices.SEND_REMINDERS_JOB)
def send_reminders(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    reminders.claim_due_reminders(session, ctx.app.settings.contract_reminder_days)


@task(notices.NOTIFY_ACTIVATED_JOB)
def notify_activated(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    contract = session.get(Contract, str(payload["contract_id"]))
    if contract is None or contract.activated_at is None:
        return
    notices.send_activated_notice(session, ctx.app.settings, contract, key=ctx.idempotency_key)


@task(notices.NOTIFY_DECLINED_JOB)
def notify_declined(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    contract = session.get(Contract, str(payload["contract_id"]))
    if contract is None or contract.status != "declined":
        return
    notices.send_declined_notice(session, ctx.app.settings, contract, key=ctx.idempotency_key)


@task(notices.SEAL_JOB, max_attempts=seal_runs.SEAL_MAX_ATTEMPTS)
def seal_contract(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    seal_runs.run_seal_round(session, ctx.app, str(payload["contract_id"]))


@task(notices.SEAL_UNSEALED_JOB)
def seal_unsealed(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    seal_runs.queue_unsealed(session)


periodic(notices.SEND_REMINDERS_JOB, REMINDER_SCAN_SECONDS)
periodic(notices.SEAL_UNSEALED_JOB, UNSEALED_SCAN_SECONDS)
