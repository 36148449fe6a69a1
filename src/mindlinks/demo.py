"""The demo seed: an admin, a client with a verified company, a linked contractor, and
a draft contract between them, ready to preview, send and sign.

Running it again is harmless: existing accounts are kept and printed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

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
        contract_title = _ensure_draft_contract(session, client, users["contractor"], company_id)
    lines = ["Demo accounts (development only):"]
    lines += [f"  {a.role:<10} {a.email:<32} password: {a.password}" for a in DEMO_ACCOUNTS]
    lines.append(f"  company    {company_name} (verified), contractor linked")
    lines.append(f"  contract   {contract_title!r}: a draft to preview, send and sign")
    lines.append(f"Open {ctx.settings.base_url}/ and sign in; emails appear at /dev/mailbox")
    return lines


DEMO_CONTRACT_TITLE = "Robot fleet software: backend development"


def _ensure_draft_contract(
    session: Session, client: User, contractor: User, company_id: str
) -> str:
    from mindlinks.contracts.drafts import create_draft
    from mindlinks.contracts.service import list_contracts
    from mindlinks.contracts.templates import sync_templates
    from mindlinks.platform.pagination import PageParams

    actor = Actor(user=client, family_id="demo-seed")
    existing, _ = list_contracts(session, actor, PageParams(limit=100, cursor=None))
    if any(c.title == DEMO_CONTRACT_TITLE for c in existing):
        return DEMO_CONTRACT_TITLE
    direct = next(t for t in sync_templates(session) if t.kind == "direct")
    start = date.today().replace(day=1) + timedelta(days=32)
    create_draft(
        session,
        actor,
        template_id=direct.id,
        contractor_id=contractor.id,
        title=DEMO_CONTRACT_TITLE,
        scope=(
            "Design, build and maintain the fleet-management backend: the telemetry "
            "ingestion API, the job scheduler and their test suites."
        ),
        start_date=start.replace(day=1),
        end_date=None,
        payment_terms={
            "type": "fixed",
            "amount_minor": 850_000,
            "currency": "EUR",
            "cycle": "monthly",
        },
        variables={"governing_law": "England and Wales"},
        company_id=company_id,
    )
    return DEMO_CONTRACT_TITLE
