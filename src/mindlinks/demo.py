"""The demo seed: an admin, a client with a verified company, a linked contractor.

Running it again is harmless: existing accounts are kept and printed again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from mindlinks.identity.auth import Actor
from mindlinks.identity.models import User
from mindlinks.identity.service import create_user, find_user_by_email
from mindlinks.platform.context import AppContext


class DemoRefusedInProduction(RuntimeError):
    pass


@dataclass(frozen=True)
class DemoAccount:
    role: str
    email: str
    password: str
    full_name: str


DEMO_ACCOUNTS = (
    DemoAccount("admin", "demo-admin@example.com", "demo admin passphrase", "Ada Admin"),
    DemoAccount("client", "demo-client@example.com", "demo client passphrase", "Clara Client"),
    DemoAccount(
        "contractor", "demo-contractor@example.com", "demo contractor passphrase", "Zoë Łukasiewicz"
    ),
)
DEMO_COMPANY = {
    "legal_name": "Acme Robotics Ltd",
    "jurisdiction_code": "gb",
    "registration_number": "09876543",
    "country": "GB",
}


def _ensure_user(session: Session, account: DemoAccount) -> User:
    existing = find_user_by_email(session, account.email)
    if existing is not None:
        return existing
    return create_user(
        session,
        email=account.email,
        password=account.password,
        full_name=account.full_name,
        role=account.role,
        verified=True,
        allowed_roles=("admin", "client", "contractor"),
    )


def seed_demo(ctx: AppContext) -> list[str]:
    from mindlinks.companies.providers import get_registry
    from mindlinks.companies.service import companies_for_user, link_contractor, register_company

    if not ctx.settings.is_development:
        raise DemoRefusedInProduction("the demo seed only runs in development mode")
    with ctx.session_factory() as session, session.begin():
        users = {a.role: _ensure_user(session, a) for a in DEMO_ACCOUNTS}
        session.flush()
        client = users["client"]
        owned = [c for c in companies_for_user(session, client.id) if c.relation == "owner"]
        if owned:
            company_id, company_name = owned[0].id, owned[0].legal_name
        else:
            company = register_company(
                session,
                Actor(user=client, family_id="demo-seed"),
                registry=get_registry(ctx.settings),
                **DEMO_COMPANY,
            )
            company_id, company_name = company.id, company.legal_name
        link_contractor(session, company_id, users["contractor"].id)
    lines = ["Demo accounts (development only):"]
    lines += [f"  {a.role:<10} {a.email:<32} password: {a.password}" for a in DEMO_ACCOUNTS]
    lines.append(f"  company    {company_name} (verified), contractor linked")
    lines.append(f"Open {ctx.settings.base_url}/ and sign in; emails appear at /dev/mailbox")
    return lines
