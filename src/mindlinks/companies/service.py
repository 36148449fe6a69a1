"""Companies: registration with a business-registry check, links, and invites.

Registration asks the registry synchronously (the adapter has a short timeout).
What can happen:

- an answer with a verdict: the company is `verified` or `rejected` at once;
- no usable answer (`RegistryUnavailable`: downtime, timeout, 429/5xx, bad API
  token) or any unexpected adapter error: the company is created `pending`
  and a `companies.check_registry` job (one per company, by idempotency key)
  asks again; the handler raises while the registry is down, so the job
  system's backoff spaces the retries. Registration never fails because the
  registry is down;
- an answer that cannot decide yet (`undecided`, e.g. the sandbox's `PEND…`
  numbers, or a status word we do not recognise): the company stays `pending`
  and *no* retry is queued, since asking again on a backoff schedule would get
  the same answer until something changes at the registry. An owner or member
  can ask again with `request_registry_check` (at most once an hour).

The invite functions live in `companies.invites` (a sub-domain of this
module) and are re-exported here, so other modules only ever import
`companies.service`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mindlinks.companies import repository
from mindlinks.companies.errors import CompanyNotPending
from mindlinks.companies.invites import (
    InvitePreview,
    accept_invite,
    check_invite_for_registration,
    create_invite,
    invite_status,
    issue_invite_token,
    list_invites,
    preview_invite,
    resend_invite,
    revoke_invite,
    staff_access,
)
from mindlinks.companies.models import Company, CompanyLink
from mindlinks.companies.providers import BusinessRegistry, RegistryResult, RegistryUnavailable
from mindlinks.companies.repository import CompanyAccess
from mindlinks.companies.validation import validate_company_fields
from mindlinks.identity.auth import require_role, require_verified
from mindlinks.jobs.service import enqueue
from mindlinks.platform.clock import now
from mindlinks.platform.ids import new_id
from mindlinks.platform.pagination import PageParams, paginate

if TYPE_CHECKING:
    from mindlinks.identity.auth import Actor

__all__ = [
    "CHECK_REGISTRY_JOB",
    "CompanyAccess",
    "CompanyRelation",
    "InvitePreview",
    "accept_invite",
    "check_invite_for_registration",
    "check_registry",
    "companies_for_user",
    "create_invite",
    "get_company_for_actor",
    "invite_status",
    "issue_invite_token",
    "link_contractor",
    "link_member",
    "list_companies",
    "list_invites",
    "preview_invite",
    "register_company",
    "request_registry_check",
    "resend_invite",
    "revoke_invite",
]

log = structlog.get_logger(__name__)

CHECK_REGISTRY_JOB = "companies.check_registry"
_STATUS_FOR_VERDICT = {"verified": "verified", "rejected": "rejected", "undecided": "pending"}


@dataclass(frozen=True)
class CompanyRelation:
    """One company a user is linked to, as `/api/me` lists it."""

    id: str
    legal_name: str
    relation: str


def _registry_values(result: RegistryResult) -> dict[str, Any]:
    return {
        "verification_status": _STATUS_FOR_VERDICT[result.verdict],
        "registry_found": result.found,
        "registry_name": result.name[:300] if result.name else None,
        "registry_status": result.status[:200] if result.status else None,
        "registry_incorporation_date": result.incorporation_date,
        "registry_address": result.registered_address,
        "registry_source": result.source[:50],
        "registry_url": result.url[:500] if result.url else None,
        "registry_checked_at": now(),
    }


def _ask_registry(registry: BusinessRegistry, company: Company) -> RegistryResult | None:
    """The registry's answer, or None when it gave none we can use (never raises)."""
    bound = log.bind(company_id=company.id, registry=getattr(registry, "name", "?"))
    try:
        return registry.lookup(company.jurisdiction_code, company.registration_number)
    except RegistryUnavailable as exc:
        bound.warning("registry_unavailable", reason=str(exc))
    except Exception:
        bound.exception("registry_failed")
    return None


def register_company(
    session: Session,
    actor: Actor,
    *,
    legal_name: str,
    jurisdiction_code: str,
    registration_number: str,
    country: str,
    registry: BusinessRegistry,
) -> Company:
    """Register a company owned by the calling client and check it against the registry.

    403 for another role or an unverified email; 422 (`InvalidFields`) naming
    every bad field. The company is `verified`, `rejected` or `pending` (see
    the module docs for when a check is queued).
    """
    require_role(actor, "client")
    require_verified(actor)
    fields = validate_company_fields(
        legal_name=legal_name,
        jurisdiction_code=jurisdiction_code,
        registration_number=registration_number,
        country=country,
    )
    company = Company(
        id=new_id(),
        legal_name=fields.legal_name,
        jurisdiction_code=fields.jurisdiction_code,
        registration_number=fields.registration_number,
        country=fields.country,
        verification_status="pending",
        created_by=actor.id,
    )
    # No row is written before the registry call, so on PostgreSQL no lock is held
    # while we wait. (SQLite takes its one write lock at BEGIN anyway; the embedded
    # mode's sandbox registry answers at once.)
    result = _ask_registry(registry, company)
    if result is not None:
        for key, value in _registry_values(result).items():
            setattr(company, key, value)
    session.add(company)
    session.flush()
    session.add(CompanyLink(company_id=company.id, user_id=actor.id, relation="owner"))
    if result is None:
        enqueue(
            session,
            CHECK_REGISTRY_JOB,
            {"company_id": company.id},
            key=f"{CHECK_REGISTRY_JOB}:{company.id}",
        )
    session.flush()
    log.info("company_registered", company_id=company.id, status=company.verification_status)
    return company


def check_registry(session: Session, company_id: str, registry: BusinessRegistry) -> str | None:
    """Ask the registry again about a pending company (the job's work).

    Raises `RegistryUnavailable` so the job is retried with backoff; answers the
    company's status, or None when the company is gone.
    """
    company = session.get(Company, company_id)
    if company is None:
        return None
    if company.verification_status != "pending":
        return company.verification_status
    result = registry.lookup(company.jurisdiction_code, company.registration_number)
    # Conditional: a concurrent check that already decided is not overwritten.
    session.execute(
        update(Company)
        .where(Company.id == company.id, Company.verification_status == "pending")
        .values(**_registry_values(result))
        .execution_options(synchronize_session=False)
    )
    session.refresh(company)
    log.info("company_registry_checked", company_id=company.id, status=company.verification_status)
    return company.verification_status


def request_registry_check(session: Session, actor: Actor, company_id: str) -> Company:
    """Queue another registry check of a pending company (owners and members).

    Checks are keyed by company and hour, so asking repeatedly queues at most
    one check an hour. A company already decided answers 409 `company-not-pending`.
    """
    access = staff_access(session, actor, company_id)
    require_verified(actor)
    company = access.company
    if company.verification_status != "pending":
        raise CompanyNotPending(f"The company is already {company.verification_status}.")
    hour = int(now().timestamp()) // 3600
    enqueue(
        session,
        CHECK_REGISTRY_JOB,
        {"company_id": company.id},
        key=f"{CHECK_REGISTRY_JOB}:{company.id}:manual:{hour}",
    )
    session.flush()
    return company


def get_company_for_actor(session: Session, actor: Actor, company_id: str) -> CompanyAccess:
    """The company and the actor's relation to it; 404 unless they may read it."""
    return repository.load_readable(session, actor, company_id)


def list_companies(
    session: Session, actor: Actor, params: PageParams
) -> tuple[list[CompanyAccess], str | None]:
    """One page (newest first) of the companies the actor may read."""
    rows, cursor = paginate(session, repository.readable_by(actor), Company.id, params)
    relations = repository.relations_of(session, actor.id, [c.id for c in rows])
    return [CompanyAccess(c, relations.get(c.id)) for c in rows], cursor


def link_contractor(session: Session, company_id: str, user_id: str) -> CompanyLink:
    """Link a contractor to a company (idempotent: an existing link is returned as is)."""
    return repository.ensure_link(session, company_id, user_id, "contractor")


def link_member(session: Session, company_id: str, user_id: str) -> CompanyLink:
    """Make a client user a member of a company (idempotent), e.g. for the demo seed."""
    return repository.ensure_link(session, company_id, user_id, "member")


def companies_for_user(session: Session, user_id: str) -> list[CompanyRelation]:
    """Every company the user is linked to, with their relation, by name."""
    return [
        CompanyRelation(id=company.id, legal_name=company.legal_name, relation=relation)
        for company, relation in repository.links_of_user(session, user_id)
    ]


def verification_counts(session: Session, actor: Actor) -> dict[str, int]:
    """Companies per verification status, over the whole platform (admins only)."""
    require_role(actor, "admin")
    rows = session.execute(
        select(Company.verification_status, func.count()).group_by(Company.verification_status)
    ).all()
    return {status: count for status, count in rows}


@dataclass(frozen=True)
class LinkedContractor:
    company_id: str
    user_id: str
    full_name: str
    email: str


def linked_contractors(session: Session, company_ids: Sequence[str]) -> list[LinkedContractor]:
    """The contractors linked to these companies, by name: whom a client may put on
    a contract."""
    return [
        LinkedContractor(company_id, user_id, full_name, email)
        for company_id, user_id, full_name, email in repository.linked_contractors(
            session, company_ids
        )
    ]
