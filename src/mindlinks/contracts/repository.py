"""Queries of the contracts module.

`readable_by(actor)` is the one statement that decides which contracts an actor
may see: the staff (owner, members) of the client company, the contractor (once
it is sent), and
for an `eor` contract the admins who countersign for the employer-of-record
entity. Everything that loads a contract for someone goes through it, so "not
yours" and "does not exist" answer alike (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, false, func, select, update
from sqlalchemy.orm import Session

from mindlinks.companies.repository import staff_company_ids
from mindlinks.contracts.errors import ContractNotFound
from mindlinks.contracts.models import Contract, ContractDocument, ContractParty, ContractTemplate

if TYPE_CHECKING:
    from mindlinks.identity.auth import Actor


def eor_contract_ids() -> Select[str]:
    return (
        select(Contract.id)
        .join(ContractTemplate, ContractTemplate.id == Contract.template_id)
        .where(ContractTemplate.kind == "eor")
    )


def readable_by(actor: Actor) -> Select[Contract]:
    stmt = select(Contract)
    if actor.is_admin:
        return stmt.where(Contract.id.in_(eor_contract_ids()))
    if actor.role == "client":
        return stmt.where(Contract.company_id.in_(staff_company_ids(actor.id)))
    if actor.role == "contractor":
        # A draft is the client's working copy: the contractor sees it once sent.
        return stmt.where(Contract.contractor_id == actor.id, Contract.status != "draft")
    return stmt.where(false())


def load_readable(session: Session, actor: Actor, contract_id: str) -> Contract:
    found = session.scalar(readable_by(actor).where(Contract.id == contract_id))
    if found is None:
        raise ContractNotFound(f"No contract {contract_id} is visible to you.")
    return found


def lock_contract(session: Session, contract_id: str) -> Contract:
    """The contract row locked for this transaction (FOR UPDATE on PostgreSQL;
    SQLite's write transaction is already exclusive). Signing and activation take
    it so that two last signatures cannot both activate."""
    found = session.scalar(
        select(Contract)
        .where(Contract.id == contract_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise ContractNotFound(f"No contract {contract_id}.")
    return found


def parties_of(session: Session, contract_id: str) -> Sequence[ContractParty]:
    return session.scalars(
        select(ContractParty)
        .where(ContractParty.contract_id == contract_id)
        .order_by(ContractParty.position, ContractParty.role)
    ).all()


def template_of(session: Session, contract: Contract) -> ContractTemplate:
    template = session.get(ContractTemplate, contract.template_id)
    assert template is not None  # a foreign key guarantees it
    return template


def document_of(session: Session, contract_id: str, kind: str) -> ContractDocument | None:
    return session.scalar(
        select(ContractDocument).where(
            ContractDocument.contract_id == contract_id, ContractDocument.kind == kind
        )
    )


def move_status(
    session: Session, contract_id: str, expected: str, target: str, **values: Any
) -> bool:
    """Conditional status change: true when the contract was `expected` and is now
    `target`; false when someone else moved it first."""
    result = session.execute(
        update(Contract)
        .where(Contract.id == contract_id, Contract.status == expected)
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    moved: bool = result.rowcount == 1  # type: ignore[attr-defined]
    return moved


def is_party(session: Session, contract: Contract, actor: Actor) -> bool:
    """Whether the actor may act for one of the contract's roles (readability, not
    whose turn it is: that is the signing ceremony's business)."""
    if actor.is_admin:
        return template_of(session, contract).kind == "eor"
    if actor.role == "contractor":
        return contract.contractor_id == actor.id
    if actor.role == "client":
        staff = session.scalars(staff_company_ids(actor.id)).all()
        return contract.company_id in staff
    return False


# --- templates -------------------------------------------------------------------


def latest_template_version(session: Session, key: str) -> ContractTemplate | None:
    return session.scalar(
        select(ContractTemplate)
        .where(ContractTemplate.key == key)
        .order_by(ContractTemplate.version.desc())
        .limit(1)
    )


def latest_template_ids() -> Select[str]:
    """The id of the newest version of every template key."""
    newest = (
        select(ContractTemplate.key, func.max(ContractTemplate.version).label("version"))
        .group_by(ContractTemplate.key)
        .subquery()
    )
    return select(ContractTemplate.id).join(
        newest,
        (newest.c.key == ContractTemplate.key) & (newest.c.version == ContractTemplate.version),
    )


def templates_listed(*, all_versions: bool = False) -> Select[ContractTemplate]:
    stmt = select(ContractTemplate)
    if not all_versions:
        stmt = stmt.where(ContractTemplate.id.in_(latest_template_ids()))
    return stmt


def get_template(session: Session, template_id: str) -> ContractTemplate | None:
    return session.get(ContractTemplate, template_id)


def is_latest_version(session: Session, template: ContractTemplate) -> bool:
    latest = latest_template_version(session, template.key)
    return latest is not None and latest.id == template.id


# --- contracts -------------------------------------------------------------------


def party_of_role(session: Session, contract_id: str, role: str) -> ContractParty | None:
    return session.scalar(
        select(ContractParty).where(
            ContractParty.contract_id == contract_id, ContractParty.role == role
        )
    )


def parties_by_contract(
    session: Session, contract_ids: Sequence[str]
) -> dict[str, list[ContractParty]]:
    """Parties of several contracts in one query (for list pages)."""
    found: dict[str, list[ContractParty]] = {cid: [] for cid in contract_ids}
    if not contract_ids:
        return found
    rows = session.scalars(
        select(ContractParty)
        .where(ContractParty.contract_id.in_(list(contract_ids)))
        .order_by(ContractParty.position, ContractParty.role)
    )
    for party in rows:
        found[party.contract_id].append(party)
    return found


def templates_by_id(session: Session, template_ids: Sequence[str]) -> dict[str, ContractTemplate]:
    if not template_ids:
        return {}
    rows = session.scalars(
        select(ContractTemplate).where(ContractTemplate.id.in_(list(set(template_ids))))
    )
    return {template.id: template for template in rows}


def bump_draft(session: Session, contract_id: str, expected_revision: int, **values: Any) -> bool:
    """Change a draft only if nobody changed or sent it since it was read: true
    when this write won."""
    result = session.execute(
        update(Contract)
        .where(
            Contract.id == contract_id,
            Contract.status == "draft",
            Contract.revision == expected_revision,
        )
        .values(revision=expected_revision + 1, **values)
        .execution_options(synchronize_session=False)
    )
    changed: bool = result.rowcount == 1  # type: ignore[attr-defined]
    return changed


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Contract.status, func.count()).group_by(Contract.status)).all()
    return {status: count for status, count in rows}


def open_ended_active(session: Session) -> Sequence[tuple[str, date, dict[str, Any]]]:
    """(id, start date, payment terms) of every active contract without an end date."""
    rows = session.execute(
        select(Contract.id, Contract.start_date, Contract.payment_terms)
        .where(Contract.status == "active", Contract.end_date.is_(None))
        .order_by(Contract.id)
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]
