"""Queries of the companies module.

`readable_by(actor)` is the one statement that decides which companies an actor
may see: those they are linked to (owner, member or contractor), and every
company for an admin. Everything that loads a company for someone goes through
it, so "not visible" and "does not exist" always answer alike (404).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks.companies.errors import CompanyNotFound
from mindlinks.companies.models import Company, CompanyLink, Invite
from mindlinks.identity.models import User
from mindlinks.platform.hashing import token_hash

if TYPE_CHECKING:
    from mindlinks.identity.auth import Actor

STAFF_RELATIONS = ("owner", "member")
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class CompanyAccess:
    """A company as one actor sees it: `relation` is theirs (None for an unlinked admin)."""

    company: Company
    relation: str | None

    @property
    def is_staff(self) -> bool:
        return self.relation in STAFF_RELATIONS


def readable_by(actor: Actor) -> Select[Company]:
    stmt = select(Company)
    if actor.is_admin:
        return stmt
    linked = select(CompanyLink.company_id).where(CompanyLink.user_id == actor.id)
    return stmt.where(Company.id.in_(linked))


def staff_company_ids(user_id: str) -> Select[str]:
    """Companies the user works for (owner or member), as a subquery for other
    modules' `readable_by` statements."""
    return select(CompanyLink.company_id).where(
        CompanyLink.user_id == user_id, CompanyLink.relation.in_(STAFF_RELATIONS)
    )


def relation_of(session: Session, company_id: str, user_id: str) -> str | None:
    return session.scalar(
        select(CompanyLink.relation).where(
            CompanyLink.company_id == company_id, CompanyLink.user_id == user_id
        )
    )


def relations_of(session: Session, user_id: str, company_ids: Iterable[str]) -> dict[str, str]:
    rows = session.execute(
        select(CompanyLink.company_id, CompanyLink.relation).where(
            CompanyLink.user_id == user_id, CompanyLink.company_id.in_(list(company_ids))
        )
    )
    return {company_id: relation for company_id, relation in rows}


def load_readable(session: Session, actor: Actor, company_id: str) -> CompanyAccess:
    """The company with the actor's relation to it; 404 when they may not see it."""
    company = session.scalar(readable_by(actor).where(Company.id == company_id))
    if company is None:
        raise CompanyNotFound(f"No company {company_id} is visible to you.")
    return CompanyAccess(company, relation_of(session, company.id, actor.id))


def links_of_user(session: Session, user_id: str) -> list[tuple[Company, str]]:
    rows = session.execute(
        select(Company, CompanyLink.relation)
        .join(CompanyLink, CompanyLink.company_id == Company.id)
        .where(CompanyLink.user_id == user_id)
        .order_by(Company.legal_name, Company.id)
    )
    return [(company, relation) for company, relation in rows]


def get_company(session: Session, company_id: str) -> Company:
    """A company by id, for code that already knows the caller may see it."""
    return session.get_one(Company, company_id)


def find_link(session: Session, company_id: str, user_id: str) -> CompanyLink | None:
    return session.scalar(
        select(CompanyLink).where(
            CompanyLink.company_id == company_id, CompanyLink.user_id == user_id
        )
    )


def ensure_link(session: Session, company_id: str, user_id: str, relation: str) -> CompanyLink:
    """Link a user to a company unless already linked (any relation); answer the link."""
    existing = find_link(session, company_id, user_id)
    if existing is not None:
        return existing
    link = CompanyLink(company_id=company_id, user_id=user_id, relation=relation)
    try:
        with session.begin_nested():
            session.add(link)
    except IntegrityError:  # a concurrent link of the same pair won; it is the link
        found = find_link(session, company_id, user_id)
        if found is None:
            raise
        return found
    return link


def find_invite_by_token(session: Session, token: str) -> Invite | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return session.scalar(select(Invite).where(Invite.token_hash == token_hash(token)))


def find_invite(session: Session, company_id: str, invite_id: str) -> Invite | None:
    return session.scalar(
        select(Invite).where(Invite.id == invite_id, Invite.company_id == company_id)
    )


def pending_invite_for(session: Session, company_id: str, email_normalized: str) -> Invite | None:
    return session.scalar(
        select(Invite).where(
            Invite.company_id == company_id,
            Invite.email_normalized == email_normalized,
            Invite.status == "pending",
        )
    )


def invites_of(company_id: str) -> Select[Invite]:
    return select(Invite).where(Invite.company_id == company_id)


def linked_contractors(
    session: Session, company_ids: Sequence[str]
) -> Sequence[tuple[str, str, str, str]]:
    """(company id, user id, full name, email) of each contractor linked to these
    companies, by name."""
    rows = session.execute(
        select(CompanyLink.company_id, User.id, User.full_name, User.email)
        .join(User, User.id == CompanyLink.user_id)
        .where(
            CompanyLink.company_id.in_(list(company_ids)),
            CompanyLink.relation == "contractor",
            User.role == "contractor",
        )
        .order_by(func.lower(User.full_name), User.id)
    ).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows]
