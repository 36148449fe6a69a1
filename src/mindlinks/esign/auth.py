"""Typed dependencies of the signing endpoints.

The contract is loaded for the calling actor before the body is looked at: a
contract the actor may not see answers 404 (anonymous: 401) whatever the body
holds, so an id reveals nothing. Which role the actor signs for, and whether it
is their turn, is the ceremony's business (`signing`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from mindlinks.contracts import repository
from mindlinks.contracts.auth import ContractId
from mindlinks.contracts.models import Contract
from mindlinks.identity.auth import CurrentActor
from mindlinks.platform.context import SessionDep


def party_contract(contract_id: ContractId, actor: CurrentActor, session: SessionDep) -> Contract:
    """A contract the actor is a party to (or countersigns, for an admin); else 404."""
    return repository.load_readable(session, actor, contract_id)


PartyContract = Annotated[Contract, Depends(party_contract)]
