"""Drafting a contract: creating it from a template, and editing it until it is sent.

Who: staff (owner or member) of a *verified* client company, with a verified
email. Every field is checked and every problem answered at once (422 with
`errors: [{field, message}]`):

- `template_id`: a published template version;
- `contractor_id`: a contractor linked to the company (unknown and unlinked
  answer alike, so the field reveals nothing about other companies' people);
- `end_date` not before `start_date`;
- `payment_terms` through `terms.parse_payment_terms` (`payment_terms.*`);
- `variables` against the template's typed variables (`variables.<name>`).

Parties are created with the contract: the client (the author), the contractor,
and for an `eor` template the employer-of-record entity (no user until an admin
countersigns). Sequential templates number them 0, 1, 2; parallel ones give all 0.

An edit is a conditional UPDATE on (status = draft, revision = the one read): an
edit racing another edit or a send loses with 409 instead of changing a contract
whose PDF is being frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.orm import Session

from mindlinks.companies.errors import CompanyNotVerified, NotCompanyStaff
from mindlinks.companies.repository import get_company, relation_of, staff_company_ids
from mindlinks.contracts import repository
from mindlinks.contracts.errors import ContractEditConflict, ContractNotEditable
from mindlinks.contracts.models import Contract, ContractParty, ContractTemplate
from mindlinks.contracts.templates import signing_roles, validate_variables
from mindlinks.contracts.terms import dump_payment_terms, parse_payment_terms
from mindlinks.identity.auth import require_role, require_verified
from mindlinks.identity.service import get_user
from mindlinks.platform.clock import now
from mindlinks.platform.errors import InvalidFields

if TYPE_CHECKING:
    from mindlinks.companies.models import Company
    from mindlinks.identity.auth import Actor

log = structlog.get_logger(__name__)

MAX_TITLE = 200
MAX_SCOPE = 20_000
# The fields `edit_draft` accepts.
EDITABLE_FIELDS = frozenset(
    {"title", "scope", "start_date", "end_date", "payment_terms", "variables"}
)


@dataclass(frozen=True)
class DraftFields:
    """What a draft holds besides its parties, validated together."""

    title: str
    scope: str
    start_date: date
    end_date: date | None
    payment_terms: dict[str, Any]
    variables: dict[str, Any]


def _field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _raise_if_any(errors: list[dict[str, str]]) -> None:
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        if len(errors) > 5:
            detail += f" (and {len(errors) - 5} more)"
        raise InvalidFields(detail, errors=errors)


def _check_fields(
    template: ContractTemplate | None,
    *,
    title: str,
    scope: str,
    start_date: date,
    end_date: date | None,
    payment_terms: object,
    variables: object,
    errors: list[dict[str, str]],
) -> DraftFields | None:
    """Validate the draft's own fields, appending problems to `errors`."""
    title = " ".join(str(title).split())
    scope = str(scope).strip()
    if not 1 <= len(title) <= MAX_TITLE:
        errors.append(_field_error("title", f"must be 1 to {MAX_TITLE} characters"))
    if not 1 <= len(scope) <= MAX_SCOPE:
        errors.append(_field_error("scope", f"must be 1 to {MAX_SCOPE} characters"))
    period_end = end_date
    if end_date is not None and end_date < start_date:
        errors.append(
            _field_error("end_date", f"must be on or after the start date ({start_date})")
        )
        period_end = None  # judge the terms against the start only: one problem, one error
    terms: dict[str, Any] | None = None
    try:
        terms = dump_payment_terms(parse_payment_terms(payment_terms, start_date, period_end))
    except InvalidFields as exc:
        errors.extend(exc.errors or [])
    values: dict[str, Any] | None = None
    if template is not None:
        try:
            values = validate_variables(template, variables)
        except InvalidFields as exc:
            errors.extend(exc.errors or [])
    if errors or terms is None or values is None:
        return None
    return DraftFields(title, scope, start_date, end_date, terms, values)


def _client_company(
    session: Session, actor: Actor, company_id: str | None, errors: list[dict[str, str]]
) -> Company | None:
    staff_of = list(session.scalars(staff_company_ids(actor.id)).all())
    if company_id is not None:
        if company_id not in staff_of:
            errors.append(_field_error("company_id", "is not a company you work for"))
            return None
        chosen = company_id
    elif not staff_of:
        raise NotCompanyStaff("Register your company (or join one) before creating contracts.")
    elif len(staff_of) > 1:
        errors.append(
            _field_error("company_id", "you work for several companies: say which one contracts")
        )
        return None
    else:
        chosen = staff_of[0]
    company = get_company(session, chosen)
    if company.verification_status != "verified":
        raise CompanyNotVerified(
            f"{company.legal_name} is {company.verification_status}: only a verified company "
            "can create contracts.",
            extra={"company_id": company.id, "verification_status": company.verification_status},
        )
    return company


def _linked_contractor(
    session: Session, company: Company | None, contractor_id: str, errors: list[dict[str, str]]
) -> str | None:
    message = "is not a contractor linked to your company (invite them first)"
    if company is None:
        return None
    user = get_user(session, contractor_id)
    if (
        user is None
        or user.role != "contractor"
        or relation_of(session, company.id, user.id) != "contractor"
    ):
        errors.append(_field_error("contractor_id", message))
        return None
    return user.id


def create_draft(
    session: Session,
    actor: Actor,
    *,
    template_id: str,
    contractor_id: str,
    title: str,
    scope: str,
    start_date: date,
    end_date: date | None,
    payment_terms: object,
    variables: Mapping[str, Any] | None = None,
    company_id: str | None = None,
) -> Contract:
    """A new draft contract with its parties (flushed, not committed)."""
    require_role(actor, "client")
    require_verified(actor)
    errors: list[dict[str, str]] = []
    company = _client_company(session, actor, company_id, errors)
    template = repository.get_template(session, template_id)
    if template is None:
        errors.append(_field_error("template_id", "is not a published contract template"))
    contractor = _linked_contractor(session, company, contractor_id, errors)
    fields = _check_fields(
        template,
        title=title,
        scope=scope,
        start_date=start_date,
        end_date=end_date,
        payment_terms=payment_terms,
        variables=variables,
        errors=errors,
    )
    _raise_if_any(errors)
    assert company is not None
    assert template is not None
    assert contractor is not None
    assert fields is not None
    moment = now()
    contract = Contract(
        company_id=company.id,
        template_id=template.id,
        contractor_id=contractor,
        created_by=actor.id,
        title=fields.title,
        scope=fields.scope,
        start_date=fields.start_date,
        end_date=fields.end_date,
        payment_terms=fields.payment_terms,
        variables=fields.variables,
        status="draft",
        revision=1,
        created_at=moment,
        updated_at=moment,
    )
    session.add(contract)
    session.flush()
    users = {"client": actor.id, "contractor": contractor, "eor": None}
    sequential = template.signing_order == "sequential"
    for position, role in enumerate(signing_roles(template.kind)):
        session.add(
            ContractParty(
                contract_id=contract.id,
                role=role,
                user_id=users[role],
                position=position if sequential else 0,
            )
        )
    session.flush()
    log.info(
        "contract_drafted",
        contract_id=contract.id,
        company_id=company.id,
        template_id=template.id,
        template_version=template.version,
    )
    return contract


def edit_draft(
    session: Session, actor: Actor, contract: Contract, changes: Mapping[str, Any]
) -> Contract:
    """Apply `changes` (a subset of EDITABLE_FIELDS) to a draft, revalidating the
    whole draft; 409 `contract-not-editable` once it was sent."""
    require_role(actor, "client")
    require_verified(actor)
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if contract.status != "draft":
        raise ContractNotEditable(contract.status)
    template = repository.template_of(session, contract)
    variables: dict[str, Any] = dict(contract.variables or {})
    if "variables" in changes:
        patch = changes["variables"]
        if patch is not None and not isinstance(patch, Mapping):
            _raise_if_any([_field_error("variables", "must be an object of variable values")])
        for name, value in (patch or {}).items():
            if value is None:
                variables.pop(name, None)  # back to the template's default
            else:
                variables[name] = value
    errors: list[dict[str, str]] = []
    fields = _check_fields(
        template,
        title=changes.get("title") or contract.title,
        scope=changes.get("scope") or contract.scope,
        start_date=changes.get("start_date") or contract.start_date,
        end_date=changes.get("end_date", contract.end_date),
        payment_terms=changes.get("payment_terms") or contract.payment_terms,
        variables=variables,
        errors=errors,
    )
    _raise_if_any(errors)
    assert fields is not None
    moved = repository.bump_draft(
        session,
        contract.id,
        contract.revision,
        title=fields.title,
        scope=fields.scope,
        start_date=fields.start_date,
        end_date=fields.end_date,
        payment_terms=fields.payment_terms,
        variables=fields.variables,
        updated_at=now(),
    )
    session.refresh(contract)
    if not moved:
        if contract.status != "draft":
            raise ContractNotEditable(contract.status)
        raise ContractEditConflict()
    log.info("contract_draft_edited", contract_id=contract.id, revision=contract.revision)
    return contract
