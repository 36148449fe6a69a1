"""Declining: a party who has not signed refuses the contract, with a reason.

Allowed while the contract waits for signatures (sent or partially signed) and
this party's role has not signed; it need not be their turn (a contractor may
refuse before the client signed). The contract becomes `declined` (final), the
ledger gets `contract.declined` with the reason's SHA-256 and length only (the
reason is free text and may name people), and the other parties are told.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy.orm import Session

from mindlinks.contracts import lifecycle, repository
from mindlinks.contracts.models import Contract
from mindlinks.contracts.states import SIGNABLE_STATUSES
from mindlinks.esign.errors import ContractNotDeclinable
from mindlinks.esign.notices import NOTIFY_DECLINED_JOB, notify_declined_key
from mindlinks.esign.signing import ROLE_NAMES, fresh_parties, own_role
from mindlinks.jobs.service import enqueue
from mindlinks.ledger.service import append_entry
from mindlinks.platform.clock import now
from mindlinks.platform.errors import InvalidInput

if TYPE_CHECKING:
    from mindlinks.identity.auth import Actor

log = structlog.get_logger(__name__)

DECLINED_KIND: Final = "contract.declined"
REASON_MAX_CHARS: Final = 1000


def check_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise InvalidInput("reason", "say why you decline (1 to 1000 characters)")
    if len(text) > REASON_MAX_CHARS:
        raise InvalidInput("reason", f"at most {REASON_MAX_CHARS} characters")
    return text


def decline_contract(
    session: Session, actor: Actor, contract_id: str, *, reason: str, role: str | None = None
) -> Contract:
    contract = repository.load_readable(session, actor, contract_id)
    own = own_role(actor, role)
    text = check_reason(reason)
    contract = repository.lock_contract(session, contract.id)
    if contract.status not in SIGNABLE_STATUSES:
        raise ContractNotDeclinable(
            f"The contract is {contract.status.replace('_', ' ')}; only a contract "
            "waiting for signatures can be declined.",
            current=contract.status,
        )
    party = next((p for p in fresh_parties(session, contract.id) if p.role == own), None)
    if party is None or party.signed_at is not None:
        raise ContractNotDeclinable(
            f"You have already signed this contract (as {ROLE_NAMES[own]}); "
            "a signed party cannot decline it.",
            current=contract.status,
        )
    declined_at = now()
    lifecycle.transition(
        session,
        contract,
        "declined",
        declined_at=declined_at,
        decline_reason=text,
        declined_by=actor.id,
    )
    append_entry(
        session,
        DECLINED_KIND,
        f"contract:{contract.id}",
        f"user:{actor.id}",
        {
            "contract_id": contract.id,
            "role": own,
            "document_sha256": contract.document_sha256,
            "reason_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "reason_length": len(text),
        },
    )
    enqueue(
        session,
        NOTIFY_DECLINED_JOB,
        {"contract_id": contract.id},
        key=notify_declined_key(contract.id),
    )
    log.info("contract_declined", contract_id=contract.id, role=own)
    return contract
