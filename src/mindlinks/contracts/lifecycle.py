"""Moving a contract through its transition table (`states.TRANSITIONS`).

Every status change goes through `transition`: it checks the table, then applies
the change as a conditional UPDATE, so two requests racing on one contract cannot
both move it; the loser gets the 409 naming the state the winner left.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mindlinks.contracts import repository
from mindlinks.contracts.errors import ContractTransitionNotAllowed
from mindlinks.contracts.models import Contract
from mindlinks.contracts.states import can_move
from mindlinks.platform.clock import now


def transition(session: Session, contract: Contract, target: str, **values: Any) -> Contract:
    current = contract.status
    if not can_move(current, target):
        raise ContractTransitionNotAllowed(current, target)
    values.setdefault("updated_at", now())
    if not repository.move_status(session, contract.id, current, target, **values):
        session.refresh(contract)
        raise ContractTransitionNotAllowed(contract.status, target)
    session.refresh(contract)
    return contract
