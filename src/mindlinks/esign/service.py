"""The signing ceremony: what other modules (and the routers) call.

- `sign_contract` (module `signing`): one party signs the sent document's hash;
  the last signature activates the contract in the same transaction (module
  `activation`: schedule, ledger entry, emails, sealing job).
- `decline_contract` (module `declining`): a party who has not signed refuses.
- `awaiting_countersignature`: EOR contracts whose turn is the employer of
  record's, for the admins who countersign.
- `current_disclosure` / `sync_disclosures` (module `disclosure`): the versioned
  electronic records and signature disclosure.
- Reminders (`reminders`) and sealing rounds (`seal_runs`) run as jobs (`tasks`).

Functions flush and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, aliased

from mindlinks.contracts import repository
from mindlinks.contracts.models import Contract, ContractParty
from mindlinks.contracts.states import SIGNABLE_STATUSES
from mindlinks.esign.declining import decline_contract
from mindlinks.esign.disclosure import current_disclosure, sync_disclosures
from mindlinks.esign.signing import Signed, SigningClient, SignRequest, sign_contract
from mindlinks.identity.auth import require_role
from mindlinks.platform.pagination import PageParams, paginate

if TYPE_CHECKING:
    from mindlinks.identity.auth import Actor

__all__ = [
    "SignRequest",
    "Signed",
    "SigningClient",
    "awaiting_countersignature",
    "current_disclosure",
    "decline_contract",
    "sign_contract",
    "sync_disclosures",
]


def awaiting_countersignature(
    session: Session, actor: Actor, params: PageParams
) -> tuple[list[tuple[Contract, datetime | None]], str | None]:
    """EOR contracts waiting for the employer of record's signature now (every party
    before it has signed), oldest first, with when that turn began."""
    require_role(actor, "admin")
    eor = aliased(ContractParty)
    earlier = aliased(ContractParty)
    stmt = (
        repository.readable_by(actor)
        .join(
            eor,
            and_(eor.contract_id == Contract.id, eor.role == "eor", eor.signed_at.is_(None)),
        )
        .where(
            Contract.status.in_(SIGNABLE_STATUSES),
            ~exists().where(
                earlier.contract_id == Contract.id,
                earlier.position < eor.position,
                earlier.signed_at.is_(None),
            ),
        )
    )
    contracts: Sequence[Contract]
    contracts, cursor = paginate(session, stmt, Contract.id, params, newest_first=False)
    since = dict(
        session.execute(
            select(ContractParty.contract_id, ContractParty.awaiting_since).where(
                ContractParty.contract_id.in_([c.id for c in contracts]),
                ContractParty.role == "eor",
            )
        ).all()
    )
    return [(c, since.get(c.id)) for c in contracts], cursor
