"""Fixtures of the contracts tests: two tenants (a verified client company with a
linked contractor each), signed-in headers without the password hash's cost, and
the contracts' email templates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from mindlinks.companies.models import Company
from mindlinks.contracts.models import ContractTemplate
from mindlinks.identity.models import User
from mindlinks.identity.service import start_session
from mindlinks.platform.context import AppContext
from tests.contracts.factories import client_company, linked_contractor, shipped_templates

Headers = dict[str, str]


@dataclass(frozen=True)
class Tenant:
    company: Company
    owner: User
    contractor: User


@pytest.fixture
def headers_for(session: Session, app_context: AppContext) -> Callable[[User], Headers]:
    """Bearer headers of a fresh sign-in (a real token family; no argon2 round)."""

    def make(user: User) -> Headers:
        pair = start_session(session, app_context.settings, app_context.signing_key, user)
        return {"Authorization": f"Bearer {pair.access_token}"}

    return make


@pytest.fixture
def templates(session: Session) -> dict[str, ContractTemplate]:
    return shipped_templates(session)


@pytest.fixture
def tenant(session: Session) -> Tenant:
    company, owner = client_company(session, full_name="Ada Client")
    return Tenant(company, owner, linked_contractor(session, company, full_name="Grace Hopper"))


@pytest.fixture
def other_tenant(session: Session) -> Tenant:
    company, owner = client_company(session, full_name="Eve Other")
    company.legal_name = "Other Tenant GmbH"
    session.flush()
    return Tenant(company, owner, linked_contractor(session, company, full_name="Mallory"))
