"""Activation, in the transaction of the last signature.

`activate` moves the contract `sent | partially_signed -> fully_signed -> active`
(two conditional transitions: a racing second activation finds the status moved
and fails with a 409 instead of activating twice), creates the payment schedule
(`payments.service.create_schedule`), appends `contract.activated` to the ledger,
and queues the "contract active" emails and the sealing job. All of it commits
with the signature or none of it does. Sealing runs after the commit, as a
durable job that retries (`seal_runs`): a sealing failure never undoes a
signature or an activation.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from mindlinks.contracts import lifecycle
from mindlinks.contracts.models import Contract, ContractParty
from mindlinks.esign.models import ContractSignature
from mindlinks.esign.notices import (
    NOTIFY_ACTIVATED_JOB,
    SEAL_JOB,
    notify_activated_key,
    seal_key,
)
from mindlinks.jobs.service import enqueue
from mindlinks.ledger.service import append_entry
from mindlinks.payments.service import create_schedule

if TYPE_CHECKING:
    from mindlinks.identity.auth import Actor

ACTIVATED_KIND: Final = "contract.activated"


def signature_ids_in_order(session: Session, contract_id: str) -> list[str]:
    """The contract's signatures in signing order (party position, then role)."""
    return list(
        session.scalars(
            select(ContractSignature.id)
            .join(ContractParty, ContractParty.id == ContractSignature.party_id)
            .where(ContractSignature.contract_id == contract_id)
            .order_by(ContractParty.position, ContractSignature.signed_at, ContractParty.role)
        )
    )


def activate(session: Session, contract: Contract, actor: Actor, *, signed_at: datetime) -> None:
    """Fully signed and active now, with its schedule, ledger entry, emails and seal job."""
    lifecycle.transition(session, contract, "fully_signed", fully_signed_at=signed_at)
    lifecycle.transition(session, contract, "active", activated_at=signed_at)
    items = create_schedule(session, contract, today=signed_at.date())
    currency = str(contract.payment_terms.get("currency") or (items[0].currency if items else ""))
    append_entry(
        session,
        ACTIVATED_KIND,
        f"contract:{contract.id}",
        f"user:{actor.id}",
        {
            "contract_id": contract.id,
            "document_sha256": contract.document_sha256,
            "signature_ids": signature_ids_in_order(session, contract.id),
            "schedule": {
                "items": len(items),
                "total_minor": sum(int(item.amount_minor) for item in items),
                "currency": currency,
            },
        },
    )
    enqueue(
        session,
        NOTIFY_ACTIVATED_JOB,
        {"contract_id": contract.id},
        key=notify_activated_key(contract.id),
    )
    enqueue(session, SEAL_JOB, {"contract_id": contract.id}, key=seal_key(contract.id, 0))
