"""Typed dependencies that load a contract *for the calling actor*.

A contract the actor may not see answers 404 before any role or action is
checked (403/409), so an id reveals nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from mindlinks.contracts import repository
from mindlinks.contracts.models import Contract
from mindlinks.identity.auth import CurrentActor, require_role
from mindlinks.platform.context import SessionDep

ContractId = Annotated[str, Path(description="The contract's id", max_length=64)]


def readable_contract(
    contract_id: ContractId, actor: CurrentActor, session: SessionDep
) -> Contract:
    """Its parties read it; anyone else 404."""
    return repository.load_readable(session, actor, contract_id)


def client_contract(contract_id: ContractId, actor: CurrentActor, session: SessionDep) -> Contract:
    """For the client company's staff: 404 if unseen, then 403 for other parties."""
    contract = repository.load_readable(session, actor, contract_id)
    require_role(actor, "client")
    return contract


ReadableContract = Annotated[Contract, Depends(readable_contract)]
ClientContract = Annotated[Contract, Depends(client_contract)]
