"""API shapes of the contracts module (API.md, "Contracts and signatures").

`contract_out(session, contract)` is the one place a contract becomes its JSON
answer; the signing ceremony answers with it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from mindlinks.contracts import repository
from mindlinks.contracts.models import Contract, ContractParty, ContractTemplate
from mindlinks.contracts.states import SIGNABLE_STATUSES
from mindlinks.contracts.templates import signing_roles
from mindlinks.contracts.terms import PlainDate

Role = Literal["client", "contractor", "eor"]
Kind = Literal["direct", "eor"]
SigningOrder = Literal["sequential", "parallel"]
Status = Literal[
    "draft",
    "sent",
    "partially_signed",
    "fully_signed",
    "active",
    "completed",
    "terminated",
    "void",
    "declined",
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Scope = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]


# --- templates ---------------------------------------------------------------------


class TemplateVariableOut(BaseModel):
    name: str
    type: Literal["string", "integer", "date", "choice"]
    label: str
    required: bool = False
    default: str | int | None = None
    choices: list[str] | None = None
    min: int | None = None
    max: int | None = None
    max_length: int | None = None
    help: str | None = None


class ContractTemplateOut(BaseModel):
    id: str
    key: str = Field(description="The template family; its versions share it")
    name: str
    kind: Kind
    version: int
    signing_order: SigningOrder
    roles: list[Role] = Field(description="The signing roles, in sequential order")
    variables: list[TemplateVariableOut]
    published_at: datetime
    latest: bool = Field(description="Whether this is the newest version of its key")

    @classmethod
    def of(cls, template: ContractTemplate, *, latest: bool) -> ContractTemplateOut:
        return cls(
            id=template.id,
            key=template.key,
            name=template.name,
            kind=template.kind,
            version=template.version,
            signing_order=template.signing_order,
            roles=list(signing_roles(template.kind)),
            variables=[TemplateVariableOut.model_validate(v) for v in template.variables or []],
            published_at=template.published_at,
            latest=latest,
        )


# --- contracts: input ------------------------------------------------------------------


class ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: Id
    contractor_id: Id = Field(description="The contractor's user id, as /api/me shows it")
    title: Title
    start_date: PlainDate
    end_date: PlainDate | None = None
    payment_terms: dict[str, Any] = Field(
        description="`{type: fixed|hourly|milestones, ...}` (API.md); integer minor units"
    )
    scope: Scope
    variables: dict[str, Any] | None = Field(
        default=None, description="Values of the template's typed variables"
    )
    company_id: Id | None = Field(
        default=None,
        description="Required only when the caller works for several companies",
    )


class ContractPatch(BaseModel):
    """Any of the draft's fields; an absent field is unchanged. `end_date: null`
    makes the contract open-ended; a variable set to null returns to its default."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    scope: Scope | None = None
    start_date: PlainDate | None = None
    end_date: PlainDate | None = None
    payment_terms: dict[str, Any] | None = None
    variables: dict[str, Any] | None = None


class VoidIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


# --- contracts: output -----------------------------------------------------------------


class TemplateRefOut(BaseModel):
    id: str
    key: str
    name: str
    kind: Kind
    version: int


class PartyOut(BaseModel):
    role: Role
    user_id: str | None = Field(description="Null for the EOR entity until an admin signs")
    signed_at: datetime | None
    position: int = Field(description="Place in the signing order (all 0 when parallel)")
    awaiting_since: datetime | None = Field(description="Since when it is this party's turn")


class ContractOut(BaseModel):
    id: str
    status: Status
    title: str
    template: TemplateRefOut
    parties: list[PartyOut]
    payment_terms: dict[str, Any]
    start_date: date
    end_date: date | None
    document_sha256: str | None = Field(description="SHA-256 of the sent PDF, fixed at send")
    sealed_sha256: str | None
    sealed_at: datetime | None
    company_id: str
    contractor_id: str
    scope: str
    variables: dict[str, Any]
    signing_order: SigningOrder
    next_signer_roles: list[Role] = Field(description="Whose signature is awaited now")
    revision: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    fully_signed_at: datetime | None
    activated_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None
    declined_at: datetime | None
    decline_reason: str | None


def next_signer_roles(contract: Contract, parties: Sequence[ContractParty]) -> list[str]:
    """The roles whose signature is awaited: the unsigned parties with the lowest
    position (every unsigned party when the order is parallel)."""
    if contract.status not in SIGNABLE_STATUSES:
        return []
    unsigned = [p for p in parties if p.signed_at is None]
    if not unsigned:
        return []
    first = min(p.position for p in unsigned)
    return [p.role for p in unsigned if p.position == first]


def build_contract_out(
    contract: Contract, template: ContractTemplate, parties: Sequence[ContractParty]
) -> ContractOut:
    ordered = sorted(
        parties, key=lambda p: (p.position, signing_roles(template.kind).index(p.role))
    )
    return ContractOut(
        id=contract.id,
        status=contract.status,
        title=contract.title,
        template=TemplateRefOut(
            id=template.id,
            key=template.key,
            name=template.name,
            kind=template.kind,
            version=template.version,
        ),
        parties=[
            PartyOut(
                role=p.role,
                user_id=p.user_id,
                signed_at=p.signed_at,
                position=p.position,
                awaiting_since=p.awaiting_since if p.signed_at is None else None,
            )
            for p in ordered
        ],
        payment_terms=dict(contract.payment_terms),
        start_date=contract.start_date,
        end_date=contract.end_date,
        document_sha256=contract.document_sha256,
        sealed_sha256=contract.sealed_sha256,
        sealed_at=contract.sealed_at,
        company_id=contract.company_id,
        contractor_id=contract.contractor_id,
        scope=contract.scope,
        variables=dict(contract.variables or {}),
        signing_order=template.signing_order,
        next_signer_roles=next_signer_roles(contract, ordered),
        revision=contract.revision,
        created_at=contract.created_at,
        updated_at=contract.updated_at,
        sent_at=contract.sent_at,
        fully_signed_at=contract.fully_signed_at,
        activated_at=contract.activated_at,
        voided_at=contract.voided_at,
        void_reason=contract.void_reason,
        declined_at=contract.declined_at,
        decline_reason=contract.decline_reason,
    )


def contract_out(session: Session, contract: Contract) -> ContractOut:
    """The API answer for one contract (parties and template loaded here)."""
    return build_contract_out(
        contract,
        repository.template_of(session, contract),
        repository.parties_of(session, contract.id),
    )


def contract_outs(session: Session, contracts: Sequence[Contract]) -> list[ContractOut]:
    """The API answers for a page of contracts, in three queries whatever its size."""
    ids = [c.id for c in contracts]
    parties = repository.parties_by_contract(session, ids)
    templates: Mapping[str, ContractTemplate] = repository.templates_by_id(
        session, [c.template_id for c in contracts]
    )
    return [
        build_contract_out(c, templates[c.template_id], parties.get(c.id, [])) for c in contracts
    ]
