"""Payments test data: contracts in the state a schedule needs (built with the
contracts factories; activation itself is the signing ceremony's, so these set
the status directly)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from mindlinks.companies.models import Company
from mindlinks.contracts.models import Contract
from mindlinks.identity.models import User
from mindlinks.platform.ids import new_id
from tests.contracts.factories import (
    client_company,
    linked_contractor,
    make_contract,
    make_template,
)

HOURLY: dict[str, Any] = {
    "type": "hourly",
    "rate_minor": 9_000,
    "currency": "USD",
    "cycle": "weekly",
}
MILESTONES: dict[str, Any] = {
    "type": "milestones",
    "currency": "EUR",
    "milestones": [
        {"title": "Design", "amount_minor": 100_000, "due_date": "2027-03-01"},
        {"title": "Build", "amount_minor": 250_000, "due_date": "2027-09-30"},
    ],
}


def contract_for(
    session: Session,
    *,
    status: str = "active",
    payment_terms: dict[str, Any] | None = None,
    start_date: date = date(2027, 1, 1),
    end_date: date | None = date(2027, 12, 31),
    kind: str = "direct",
) -> tuple[Contract, Company, User, User]:
    """A contract with `status` between a fresh client company and its contractor:
    (contract, company, client, contractor)."""
    company, client = client_company(session)
    contractor = linked_contractor(session, company)
    contract = make_contract(
        session,
        company=company,
        client=client,
        contractor=contractor,
        # A key of its own: the contracts factory derives one from the body, and
        # several contracts per test would collide on (key, version).
        template=make_template(session, kind=kind, key=f"payments-{kind}-{new_id()}"),
        start_date=start_date,
        end_date=end_date,
        payment_terms=payment_terms,
    )
    contract.status = status
    session.flush()
    return contract, company, client, contractor
