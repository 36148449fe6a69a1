"""The signing ceremony's jobs (names, idempotency keys) and the notices they send.

Services queue these jobs in their transaction; `tasks` runs them. Each notice is
an email and an in-app notification per recipient, once per job key and
recipient (`send_email` and `notify_in_app` are idempotent by key), so a retried
job never sends twice. Recipients: the contractor; for the client role the staff
member on the party (whoever signed, else the contract's author); for the `eor`
role, before anyone countersigned, every admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from mindlinks.config import Settings
from mindlinks.contracts import repository
from mindlinks.contracts.models import Contract, ContractParty
from mindlinks.identity.models import User
from mindlinks.identity.service import get_user, users_with_role
from mindlinks.notifications.service import notify_in_app, send_email

NOTIFY_TURN_JOB: Final = "esign.notify_turn"
NOTIFY_ACTIVATED_JOB: Final = "esign.notify_activated"
NOTIFY_DECLINED_JOB: Final = "esign.notify_declined"
SEND_REMINDER_JOB: Final = "esign.send_reminder"
SEND_REMINDERS_JOB: Final = "esign.send_reminders"
SEAL_JOB: Final = "esign.seal_contract"
SEAL_UNSEALED_JOB: Final = "esign.seal_unsealed"

CONTRACT_PATH: Final = "/contracts/{id}"
ROLE_LABELS: Final[dict[str, str]] = {
    "client": "the client",
    "contractor": "the contractor",
    "eor": "the employer of record",
}


def notify_turn_key(contract_id: str, role: str) -> str:
    return f"{NOTIFY_TURN_JOB}:{contract_id}:{role}"


def notify_activated_key(contract_id: str) -> str:
    return f"{NOTIFY_ACTIVATED_JOB}:{contract_id}"


def notify_declined_key(contract_id: str) -> str:
    return f"{NOTIFY_DECLINED_JOB}:{contract_id}"


def reminder_key(party_id: str, number: int) -> str:
    return f"{SEND_REMINDER_JOB}:{party_id}:{number}"


def seal_key(contract_id: str, round_: int) -> str:
    """Round 0 is the job queued at activation; each failed round queues the next."""
    base = f"{SEAL_JOB}:{contract_id}"
    return base if round_ == 0 else f"{base}:{round_}"


@dataclass(frozen=True)
class Recipient:
    user: User
    acts_as: str  # the contract role they are told about


def _party(session: Session, contract_id: str, role: str) -> ContractParty | None:
    return next((p for p in repository.parties_of(session, contract_id) if p.role == role), None)


def recipients_for_role(session: Session, contract: Contract, role: str) -> list[Recipient]:
    """Who acts for `role`: see the module."""
    if role == "contractor":
        user = get_user(session, contract.contractor_id)
        return [Recipient(user, role)] if user is not None else []
    party = _party(session, contract.id, role)
    user_id = party.user_id if party is not None else None
    if role == "client" and user_id is None:
        user_id = contract.created_by
    if user_id is not None:
        user = get_user(session, user_id)
        return [Recipient(user, role)] if user is not None else []
    if role == "eor":
        return [Recipient(admin, role) for admin in users_with_role(session, "admin")]
    return []


def _contract_url(settings: Settings, contract: Contract) -> str:
    return settings.base_url + CONTRACT_PATH.format(id=contract.id)


def _notify(
    session: Session,
    settings: Settings,
    recipient: User,
    *,
    key: str,
    template: str,
    kind: str,
    title: str,
    body: str,
    contract: Contract,
    context: dict[str, object],
) -> None:
    path = CONTRACT_PATH.format(id=contract.id)
    user_key = f"{key}:{recipient.id}"
    notify_in_app(session, recipient.id, kind, title, body, path, key=f"{user_key}:in-app")
    send_email(
        session,
        to=recipient.email,
        template=template,
        context={
            "recipient_name": recipient.full_name,
            "contract_title": contract.title,
            "contract_url": _contract_url(settings, contract),
            **context,
        },
        key=user_key,
        settings=settings,
    )


def send_turn_notice(
    session: Session, settings: Settings, contract: Contract, role: str, *, key: str
) -> int:
    """ "Your signature is needed" to whoever acts for `role`; answers how many."""
    recipients = recipients_for_role(session, contract, role)
    for recipient in recipients:
        _notify(
            session,
            settings,
            recipient.user,
            key=key,
            template="contract_signature_requested",
            kind="contract.signature_requested",
            title="A contract is waiting for your signature",
            body=f"“{contract.title}” is ready for you to review and sign as {ROLE_LABELS[role]}.",
            contract=contract,
            context={"role_label": ROLE_LABELS[role]},
        )
    return len(recipients)


def send_reminder_notice(
    session: Session,
    settings: Settings,
    contract: Contract,
    role: str,
    *,
    days_waiting: int,
    key: str,
) -> int:
    recipients = recipients_for_role(session, contract, role)
    for recipient in recipients:
        _notify(
            session,
            settings,
            recipient.user,
            key=key,
            template="contract_signature_reminder",
            kind="contract.signature_reminder",
            title="Reminder: a contract is waiting for your signature",
            body=f"“{contract.title}” has been waiting for your signature as "
            f"{ROLE_LABELS[role]} for {days_waiting} days.",
            contract=contract,
            context={"role_label": ROLE_LABELS[role], "days_waiting": days_waiting},
        )
    return len(recipients)


def _every_party(session: Session, contract: Contract) -> list[Recipient]:
    """Each person who acts for a party of the contract, once."""
    seen: set[str] = set()
    out: list[Recipient] = []
    for party in repository.parties_of(session, contract.id):
        if party.role == "eor" and party.user_id is None:
            continue  # no admin countersigned: nobody to tell for the entity
        for recipient in recipients_for_role(session, contract, party.role):
            if recipient.user.id not in seen:
                seen.add(recipient.user.id)
                out.append(recipient)
    return out


def send_activated_notice(
    session: Session, settings: Settings, contract: Contract, *, key: str
) -> int:
    recipients = _every_party(session, contract)
    for recipient in recipients:
        _notify(
            session,
            settings,
            recipient.user,
            key=key,
            template="contract_active",
            kind="contract.active",
            title="Your contract is signed and active",
            body=f"Every party has signed “{contract.title}”; the contract is now active "
            "and its payment schedule is set.",
            contract=contract,
            context={
                "activated_at": (contract.activated_at or contract.updated_at).strftime(
                    "%Y-%m-%d %H:%M UTC"
                ),
                "document_sha256": contract.document_sha256 or "",
            },
        )
    return len(recipients)


def send_declined_notice(
    session: Session, settings: Settings, contract: Contract, *, key: str
) -> int:
    """Everyone but the person who declined hears of it (with the reason: they are
    parties to the contract, and the reason is what they need to act on)."""
    recipients = [r for r in _every_party(session, contract) if r.user.id != contract.declined_by]
    decliner = get_user(session, contract.declined_by) if contract.declined_by else None
    declined_role = "a party"
    if decliner is not None:
        declined_role = ROLE_LABELS.get(
            {"admin": "eor"}.get(decliner.role, decliner.role), "a party"
        )
    for recipient in recipients:
        _notify(
            session,
            settings,
            recipient.user,
            key=key,
            template="contract_declined",
            kind="contract.declined",
            title="A contract was declined",
            body=f"“{contract.title}” was declined by {declined_role}.",
            contract=contract,
            context={
                "declined_by_label": declined_role,
                "decliner_name": decliner.full_name if decliner is not None else "",
                "reason": contract.decline_reason or "",
            },
        )
    return len(recipients)
