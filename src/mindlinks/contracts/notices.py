"""The notices a contract's sending and voiding bring, as durable jobs.

Queued in the transaction that sends or voids the contract and run after it
commits, so a notice never goes out for a change that rolled back. Each email and
in-app notification is keyed by the job's idempotency key and the recipient, so a
retried job sends nothing twice.

- `contracts.notify_sent` {contract_id, sent_by, first_roles}: the client's staff
  member on the contract is told in-app that it is ready for their signature
  (they usually sign first); the contractor gets an email and an in-app notice
  that a contract awaits them (to sign now when it is their turn, else to review
  until it is); for a parallel EOR contract, the admins are told in-app that it
  awaits countersignature. Later turns are the signing ceremony's notices.
- `contracts.notify_voided` {contract_id, voided_by}: every other person acting
  for a party learns it was voided, with the reason.
"""

from __future__ import annotations

from typing import Any, Final

import structlog
from sqlalchemy.orm import Session

from mindlinks.companies.repository import get_company
from mindlinks.config import Settings
from mindlinks.contracts import repository
from mindlinks.contracts.models import Contract
from mindlinks.contracts.states import SIGNABLE_STATUSES
from mindlinks.identity.models import User
from mindlinks.identity.service import get_user, users_with_role
from mindlinks.jobs.service import JobContext, task
from mindlinks.notifications.service import notify_in_app, send_email

log = structlog.get_logger(__name__)

NOTIFY_SENT_JOB: Final = "contracts.notify_sent"
NOTIFY_VOIDED_JOB: Final = "contracts.notify_voided"
CONTRACT_PATH: Final = "/contracts/{id}"
SENT_EMAIL: Final = "contract_sent"
VOIDED_EMAIL: Final = "contract_voided"


def contract_path(contract_id: str) -> str:
    return CONTRACT_PATH.format(id=contract_id)


def contract_url(settings: Settings, contract_id: str) -> str:
    return settings.base_url + contract_path(contract_id)


def _client_user(session: Session, contract: Contract) -> User | None:
    party = repository.party_of_role(session, contract.id, "client")
    user_id = (party.user_id if party is not None else None) or contract.created_by
    return get_user(session, user_id) if user_id else None


@task(NOTIFY_SENT_JOB)
def notify_sent(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    contract = session.get(Contract, str(payload["contract_id"]))
    if contract is None or contract.status not in SIGNABLE_STATUSES:
        return  # voided or declined before the notice went out: nothing to sign
    settings = ctx.app.settings
    first_roles = set(payload.get("first_roles") or ())
    company = get_company(session, contract.company_id)
    path = contract_path(contract.id)
    key = ctx.idempotency_key

    client = _client_user(session, contract)
    if client is not None:
        if "client" in first_roles:
            title = "A contract is ready for your signature"
            body = f"“{contract.title}” was sent. Review it and sign to start the signing."
        else:
            title = "A contract was sent for signature"
            body = f"“{contract.title}” was sent; you will be asked to sign in turn."
        notify_in_app(
            session, client.id, "contract.sent", title, body, path, key=f"{key}:{client.id}:in-app"
        )

    contractor = get_user(session, contract.contractor_id)
    if contractor is not None:
        your_turn = "contractor" in first_roles
        notify_in_app(
            session,
            contractor.id,
            "contract.received",
            f"A contract from {company.legal_name} awaits you",
            f"“{contract.title}” is ready for you to review"
            + (" and sign." if your_turn else "; you will be asked to sign in turn."),
            path,
            key=f"{key}:{contractor.id}:in-app",
        )
        send_email(
            session,
            to=contractor.email,
            template=SENT_EMAIL,
            context={
                "recipient_name": contractor.full_name,
                "company_name": company.legal_name,
                "contract_title": contract.title,
                "contract_url": contract_url(settings, contract.id),
                "your_turn": your_turn,
            },
            key=f"{key}:{contractor.id}",
            settings=settings,
        )

    if "eor" in first_roles:
        for admin in users_with_role(session, "admin"):
            notify_in_app(
                session,
                admin.id,
                "contract.countersignature_requested",
                "An EOR contract awaits countersignature",
                f"“{contract.title}” ({company.legal_name}) needs the employer of record's "
                "signature.",
                path,
                key=f"{key}:{admin.id}:in-app",
            )
    log.info("contract_sent_notices", contract_id=contract.id)


@task(NOTIFY_VOIDED_JOB)
def notify_voided(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    contract = session.get(Contract, str(payload["contract_id"]))
    if contract is None or contract.status != "void":
        return
    settings = ctx.app.settings
    voided_by = str(payload.get("voided_by") or "")
    company = get_company(session, contract.company_id)
    recipients: dict[str, User] = {}
    client = _client_user(session, contract)
    if client is not None:
        recipients[client.id] = client
    contractor = get_user(session, contract.contractor_id)
    if contractor is not None:
        recipients[contractor.id] = contractor
    eor = repository.party_of_role(session, contract.id, "eor")
    if eor is not None and eor.user_id is not None:
        countersigner = get_user(session, eor.user_id)
        if countersigner is not None:
            recipients[countersigner.id] = countersigner
    recipients.pop(voided_by, None)
    key = ctx.idempotency_key
    path = contract_path(contract.id)
    for user in recipients.values():
        notify_in_app(
            session,
            user.id,
            "contract.voided",
            "A contract was voided",
            f"{company.legal_name} voided “{contract.title}”. Reason: {contract.void_reason}",
            path,
            key=f"{key}:{user.id}:in-app",
        )
        send_email(
            session,
            to=user.email,
            template=VOIDED_EMAIL,
            context={
                "recipient_name": user.full_name,
                "company_name": company.legal_name,
                "contract_title": contract.title,
                "contract_url": contract_url(settings, contract.id),
                "reason": contract.void_reason or "",
            },
            key=f"{key}:{user.id}",
            settings=settings,
        )
    log.info("contract_voided_notices", contract_id=contract.id, recipients=len(recipients))
