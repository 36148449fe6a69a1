"""Contract test data: a verified client company, a linked contractor with approved
KYC, templates and contracts. Shared by the contracts, esign and payments tests."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

import mindlinks.companies.tasks
import mindlinks.kyc.tasks  # noqa: F401
from mindlinks.companies import service as companies
from mindlinks.companies.models import Company
from mindlinks.contracts.models import Contract, ContractParty, ContractTemplate
from mindlinks.identity.models import User
from mindlinks.kyc import lifecycle as kyc_lifecycle
from mindlinks.kyc.models import KycSession
from mindlinks.platform.context import AppContext
from tests.companies.factories import make_company
from tests.factories import make_user
from tests.kyc.factories import start_session

MINIMAL_BODY = (
    "<h1>{{ contract.title }}</h1><p>{{ contract.scope }}</p>"
    "<p>Governed by the laws of {{ variables.governing_law }}.</p>"
)
ROLES = {"direct": ("client", "contractor"), "eor": ("client", "contractor", "eor")}
MONTHLY_EUR: dict[str, Any] = {
    "type": "fixed",
    "amount_minor": 500_000,
    "currency": "EUR",
    "cycle": "monthly",
}


def make_template(
    session: Session,
    *,
    kind: str = "direct",
    signing_order: str = "sequential",
    key: str | None = None,
    version: int = 1,
    body: str = MINIMAL_BODY,
) -> ContractTemplate:
    template = ContractTemplate(
        key=key or f"test-{kind}-{signing_order}-{hashlib.sha256(body.encode()).hexdigest()[:8]}",
        version=version,
        name=f"Test {kind} ({signing_order})",
        kind=kind,
        signing_order=signing_order,
        body=body,
        variables=[
            {"name": "governing_law", "type": "string", "label": "Governing law", "required": True}
        ],
        body_sha256=hashlib.sha256(body.encode()).hexdigest(),
    )
    session.add(template)
    session.flush()
    return template


def client_company(session: Session, **user_fields: Any) -> tuple[Company, User]:
    """A verified company and its owner (role client)."""
    owner = make_user(session, role="client", **user_fields)
    return make_company(session, owner), owner


def linked_contractor(
    session: Session, company: Company, *, app_context: AppContext | None = None, **fields: Any
) -> User:
    """A contractor linked to the company; with `app_context`, their KYC approved too."""
    contractor = make_user(session, role="contractor", **fields)
    companies.link_contractor(session, company.id, contractor.id)
    if app_context is not None:
        approve_kyc(session, app_context, contractor)
    session.flush()
    return contractor


def approve_kyc(session: Session, app_context: AppContext, user: User) -> KycSession:
    kyc = start_session(session, app_context, user)
    kyc_lifecycle.move(
        session,
        kyc,
        "approved",
        actor_ref="test",
        reason_code="provider_approved",
        reason="Approved by the test",
    )
    session.flush()
    return kyc


def make_contract(
    session: Session,
    *,
    company: Company,
    client: User,
    contractor: User,
    template: ContractTemplate | None = None,
    kind: str = "direct",
    signing_order: str = "sequential",
    title: str = "Backend development",
    scope: str = "Build and maintain the payments API.",
    start_date: date = date(2027, 1, 1),
    end_date: date | None = date(2027, 12, 31),
    payment_terms: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
) -> Contract:
    """A draft contract with its parties, inserted directly (no rendering)."""
    template = template or make_template(session, kind=kind, signing_order=signing_order)
    contract = Contract(
        company_id=company.id,
        template_id=template.id,
        contractor_id=contractor.id,
        created_by=client.id,
        title=title,
        scope=scope,
        start_date=start_date,
        end_date=end_date,
        payment_terms=payment_terms or dict(MONTHLY_EUR),
        variables=variables or {"governing_law": "England and Wales"},
        status="draft",
    )
    session.add(contract)
    session.flush()
    users = {"client": client.id, "contractor": contractor.id, "eor": None}
    for position, role in enumerate(ROLES[template.kind]):
        session.add(
            ContractParty(
                contract_id=contract.id,
                role=role,
                user_id=users[role],
                position=position if template.signing_order == "sequential" else 0,
            )
        )
    session.flush()
    return contract


# --- shipped templates and API bodies (contracts core) --------------------------------

DIRECT_KEY = "direct-services"
EOR_KEY = "eor-services"
SHIPPED_VARIABLES: dict[str, dict[str, Any]] = {
    DIRECT_KEY: {"governing_law": "England and Wales"},
    EOR_KEY: {"governing_law": "England and Wales", "work_country": "Germany"},
}


def shipped_templates(session: Session) -> dict[str, ContractTemplate]:
    """The templates of `contracts/template_files`, published (idempotent), by key."""
    from mindlinks.contracts.templates import sync_templates

    return {template.key: template for template in sync_templates(session)}


def shipped_template(session: Session, key: str = DIRECT_KEY) -> ContractTemplate:
    return shipped_templates(session)[key]


def contract_body(template: ContractTemplate, contractor: User, **overrides: Any) -> dict[str, Any]:
    """A valid POST /api/contracts body for a shipped template."""
    body: dict[str, Any] = {
        "template_id": template.id,
        "contractor_id": contractor.id,
        "title": "Backend development",
        "start_date": "2027-01-01",
        "end_date": "2027-12-31",
        "payment_terms": dict(MONTHLY_EUR),
        "scope": "Build and maintain the payments API.",
        "variables": dict(SHIPPED_VARIABLES.get(template.key, {"governing_law": "Scotland"})),
    }
    body.update(overrides)
    return body


def make_shipped_contract(
    session: Session,
    *,
    company: Company,
    client: User,
    contractor: User,
    key: str = DIRECT_KEY,
    variables: dict[str, Any] | None = None,
    **fields: Any,
) -> Contract:
    """A draft of a shipped template, its variables validated (defaults filled in)."""
    from mindlinks.contracts.templates import validate_variables

    template = shipped_template(session, key)
    values = validate_variables(template, variables or SHIPPED_VARIABLES[key])
    return make_contract(
        session,
        company=company,
        client=client,
        contractor=contractor,
        template=template,
        variables=values,
        **fields,
    )
