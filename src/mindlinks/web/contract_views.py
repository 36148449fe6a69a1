"""Plain views of contracts for the templates: parties with names, the timeline,
list rows, the payment schedule and a one-line summary of the terms.

Templates get these frozen copies, never ORM rows, so a page renders the same
whatever the session does after the service call (a rolled-back savepoint
expires its rows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy.orm import Session

from mindlinks.companies.repository import get_company, staff_company_ids
from mindlinks.companies.service import linked_contractors
from mindlinks.config import Settings
from mindlinks.contracts import repository
from mindlinks.contracts.models import Contract, ContractTemplate
from mindlinks.contracts.schemas import next_signer_roles
from mindlinks.contracts.states import SIGNABLE_STATUSES, STATUSES
from mindlinks.identity.auth import Actor
from mindlinks.identity.service import get_user
from mindlinks.ledger import repository as ledger_repository
from mindlinks.ledger.checkpoints import latest_checkpoint
from mindlinks.payments.service import schedule_of
from mindlinks.platform.clock import now
from mindlinks.platform.money import UnknownCurrency, format_money

ROLE_LABELS: Final[Mapping[str, str]] = {
    "client": "Client",
    "contractor": "Contractor",
    "eor": "Employer of record",
}
# Which role each kind of account acts for (the signing ceremony's rule, shown).
ROLE_OF_ACCOUNT: Final[Mapping[str, str]] = {
    "client": "client",
    "contractor": "contractor",
    "admin": "eor",
}
STATUS_LABELS: Final[Mapping[str, str]] = {
    "draft": "draft",
    "sent": "awaiting signatures",
    "partially_signed": "partially signed",
    "fully_signed": "fully signed",
    "active": "active",
    "completed": "completed",
    "terminated": "terminated",
    "void": "void",
    "declined": "declined",
}
CYCLE_WORDS: Final[Mapping[str, str]] = {
    "weekly": "week",
    "biweekly": "two weeks",
    "monthly": "month",
}
# While a freshly activated contract is being sealed its page reloads itself;
# past this, something is wrong and the admins' unsealed page says so.
SEALING_WATCH: Final = timedelta(minutes=10)


def contract_url(contract_id: str, suffix: str = "") -> str:
    return f"/contracts/{quote(contract_id, safe='')}{suffix}"


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " "))


def money(amount_minor: object, currency: object) -> str:
    if not isinstance(amount_minor, int) or not isinstance(currency, str):
        return "—"
    try:
        return format_money(amount_minor, currency)
    except UnknownCurrency:
        return f"{currency} {amount_minor} (minor units)"


def terms_summary(terms: Mapping[str, Any]) -> str:
    """`EUR 5,000.00 per month, paid in arrears` and the like."""
    kind = terms.get("type")
    currency = terms.get("currency")
    every = CYCLE_WORDS.get(str(terms.get("cycle")), str(terms.get("cycle")))
    if kind == "fixed":
        return f"{money(terms.get('amount_minor'), currency)} per {every}, paid in arrears"
    if kind == "hourly":
        return f"{money(terms.get('rate_minor'), currency)} per hour, invoiced every {every}"
    if kind == "milestones":
        milestones = terms.get("milestones") or []
        total = sum(int(m.get("amount_minor", 0)) for m in milestones)
        count = len(milestones)
        return f"{count} milestone{'s' if count != 1 else ''}, {money(total, currency)} in all"
    return "—"


def person_name(session: Session, user_id: str | None) -> str | None:
    if user_id is None:
        return None
    user = get_user(session, user_id)
    return user.full_name if user is not None else "(deleted account)"


# --- one contract ----------------------------------------------------------------------


@dataclass(frozen=True)
class PartyView:
    role: str
    label: str
    party_name: str
    signer_name: str | None
    signed_at: datetime | None
    awaiting: bool
    awaiting_since: datetime | None
    is_viewer: bool


@dataclass(frozen=True)
class TimelineStep:
    at: datetime
    text: str


@dataclass(frozen=True)
class ScheduleRow:
    number: int
    title: str | None
    period_start: date
    period_end: date
    due_date: date
    amount: str
    status: str


@dataclass(frozen=True)
class ContractView:
    id: str
    title: str
    status: str
    status_label: str
    template_name: str
    template_kind: str
    template_version: int
    signing_order: str
    company_name: str
    contractor_name: str
    scope: str
    start_date: date
    end_date: date | None
    terms_summary: str
    payment_terms: Mapping[str, Any]
    document_sha256: str | None
    sealed_sha256: str | None
    sealed_at: datetime | None
    activated_at: datetime | None
    void_reason: str | None
    decline_reason: str | None
    parties: list[PartyView]
    viewer_role: str | None
    your_turn: bool
    waiting_for: list[str]
    timeline: list[TimelineStep]

    @property
    def url(self) -> str:
        return contract_url(self.id)

    @property
    def scope_paragraphs(self) -> list[str]:
        text = self.scope.replace("\r\n", "\n")
        return [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]

    @property
    def is_draft(self) -> bool:
        return self.status == "draft"

    @property
    def has_document(self) -> bool:
        return self.document_sha256 is not None

    @property
    def voidable(self) -> bool:
        return self.status in ("draft", *SIGNABLE_STATUSES)

    @property
    def viewer_signed(self) -> bool:
        return any(p.is_viewer and p.signed_at is not None for p in self.parties)

    @property
    def declinable(self) -> bool:
        return (
            self.status in SIGNABLE_STATUSES
            and self.viewer_role is not None
            and not (self.viewer_signed)
        )


def _party_names(
    session: Session, contract: Contract, settings: Settings
) -> tuple[str, str, dict[str, str]]:
    company = get_company(session, contract.company_id)
    contractor = person_name(session, contract.contractor_id) or "The contractor"
    return (
        company.legal_name,
        contractor,
        {"client": company.legal_name, "contractor": contractor, "eor": settings.eor_entity_name},
    )


def _timeline(
    contract: Contract, parties: Sequence[PartyView], template: ContractTemplate
) -> list[TimelineStep]:
    steps = [TimelineStep(contract.created_at, "Draft created")]
    if contract.sent_at:
        steps.append(TimelineStep(contract.sent_at, "Sent for signature; the document is fixed"))
    for party in parties:
        if party.signed_at:
            who = f" by {party.signer_name}" if party.signer_name else ""
            steps.append(
                TimelineStep(party.signed_at, f"Signed for the {party.label.lower()}{who}")
            )
    if contract.declined_at:
        steps.append(TimelineStep(contract.declined_at, "Declined"))
    if contract.voided_at:
        steps.append(TimelineStep(contract.voided_at, "Voided"))
    if contract.activated_at:
        steps.append(
            TimelineStep(contract.activated_at, "Active: every party signed; schedule created")
        )
    if contract.sealed_at:
        steps.append(
            TimelineStep(contract.sealed_at, "Sealed: the signed PDF carries every signature")
        )
    if contract.ended_at:
        steps.append(TimelineStep(contract.ended_at, status_label(contract.status).capitalize()))
    return sorted(steps, key=lambda step: step.at)


def contract_view(
    session: Session, settings: Settings, actor: Actor, contract: Contract
) -> ContractView:
    template = repository.template_of(session, contract)
    parties = repository.parties_of(session, contract.id)
    company_name, contractor_name, names = _party_names(session, contract, settings)
    viewer_role = ROLE_OF_ACCOUNT.get(actor.role)
    awaited = set(next_signer_roles(contract, parties))
    party_views = [
        PartyView(
            role=party.role,
            label=ROLE_LABELS.get(party.role, party.role),
            party_name=names.get(party.role, party.role),
            signer_name=person_name(session, party.user_id),
            signed_at=party.signed_at,
            awaiting=party.role in awaited,
            awaiting_since=party.awaiting_since if party.signed_at is None else None,
            is_viewer=party.role == viewer_role,
        )
        for party in parties
    ]
    return ContractView(
        id=contract.id,
        title=contract.title,
        status=contract.status,
        status_label=status_label(contract.status),
        template_name=template.name,
        template_kind=template.kind,
        template_version=template.version,
        signing_order=template.signing_order,
        company_name=company_name,
        contractor_name=contractor_name,
        scope=contract.scope,
        start_date=contract.start_date,
        end_date=contract.end_date,
        terms_summary=terms_summary(contract.payment_terms or {}),
        payment_terms=dict(contract.payment_terms or {}),
        document_sha256=contract.document_sha256,
        sealed_sha256=contract.sealed_sha256,
        sealed_at=contract.sealed_at,
        activated_at=contract.activated_at,
        void_reason=contract.void_reason,
        decline_reason=contract.decline_reason,
        parties=party_views,
        viewer_role=viewer_role,
        your_turn=viewer_role in awaited,
        waiting_for=[ROLE_LABELS.get(role, role).lower() for role in sorted(awaited)],
        timeline=_timeline(contract, party_views, template),
    )


def schedule_rows(session: Session, contract: Contract) -> list[ScheduleRow]:
    rows = []
    for item in schedule_of(session, contract.id):
        if item.kind == "hourly":
            amount = f"{money(item.rate_minor, item.currency)} per hour"
        else:
            amount = money(item.amount_minor, item.currency)
        rows.append(
            ScheduleRow(
                number=item.position + 1,
                title=item.title,
                period_start=item.period_start,
                period_end=item.period_end,
                due_date=item.due_date,
                amount=amount,
                status=item.status,
            )
        )
    return rows


def evidence_ready(session: Session, contract: Contract) -> bool:
    """Sealed, and the latest signed checkpoint covers every ledger entry of the
    contract (what `GET /api/contracts/{id}/evidence` waits for)."""
    if contract.sealed_at is None:
        return False
    newest = ledger_repository.entries(
        session, subject=f"contract:{contract.id}", newest_first=True, limit=1
    )
    checkpoint = latest_checkpoint(session)
    if not newest or checkpoint is None:
        return False
    return checkpoint.tree_size > newest[0].seq


def _recent(moment: datetime | None) -> bool:
    if moment is None:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return now() - moment < SEALING_WATCH


def still_sealing(contract: Contract) -> bool:
    """Activated a moment ago and not sealed yet: the page watches for the seal."""
    return contract.sealed_at is None and _recent(contract.activated_at)


def watch_for_evidence(contract: Contract, ready: bool) -> bool:
    """Whether the contract page reloads itself: sealing or the checkpoint that
    completes the evidence is due within seconds. Past `SEALING_WATCH` something
    is wrong (the admins' unsealed page shows it) and the page stops reloading."""
    if ready:
        return False
    return still_sealing(contract) or _recent(contract.sealed_at)


# --- lists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractRow:
    id: str
    title: str
    status: str
    status_label: str
    company_name: str
    contractor_name: str
    start_date: date
    end_date: date | None
    terms_summary: str
    updated_at: datetime
    your_turn: bool

    @property
    def url(self) -> str:
        return contract_url(self.id)


def contract_rows(
    session: Session, actor: Actor, contracts: Sequence[Contract]
) -> list[ContractRow]:
    parties = repository.parties_by_contract(session, [c.id for c in contracts])
    viewer_role = ROLE_OF_ACCOUNT.get(actor.role)
    companies: dict[str, str] = {}
    people: dict[str, str] = {}
    rows = []
    for contract in contracts:
        if contract.company_id not in companies:
            companies[contract.company_id] = get_company(session, contract.company_id).legal_name
        if contract.contractor_id not in people:
            people[contract.contractor_id] = person_name(session, contract.contractor_id) or "—"
        awaited = next_signer_roles(contract, parties.get(contract.id, []))
        rows.append(
            ContractRow(
                id=contract.id,
                title=contract.title,
                status=contract.status,
                status_label=status_label(contract.status),
                company_name=companies[contract.company_id],
                contractor_name=people[contract.contractor_id],
                start_date=contract.start_date,
                end_date=contract.end_date,
                terms_summary=terms_summary(contract.payment_terms or {}),
                updated_at=contract.updated_at,
                your_turn=viewer_role in awaited,
            )
        )
    return rows


def status_options() -> list[tuple[str, str]]:
    return [(status, status_label(status)) for status in STATUSES]


# --- who a client can contract with ------------------------------------------------------


@dataclass(frozen=True)
class CompanyChoice:
    id: str
    legal_name: str
    verification_status: str
    contractors: list[tuple[str, str, str]]  # (user id, name, email)


def company_choices(session: Session, actor: Actor) -> list[CompanyChoice]:
    """The companies the client works for, each with its linked contractors.

    `drafts._linked_contractor` stays the rule that decides on create.
    """
    companies = [
        get_company(session, company_id)
        for company_id in session.scalars(staff_company_ids(actor.id)).all()
    ]
    companies.sort(key=lambda c: (c.legal_name.casefold(), c.id))
    by_company: dict[str, list[tuple[str, str, str]]] = {c.id: [] for c in companies}
    for linked in linked_contractors(session, [c.id for c in companies]):
        by_company[linked.company_id].append((linked.user_id, linked.full_name, linked.email))
    return [
        CompanyChoice(c.id, c.legal_name, c.verification_status, by_company[c.id])
        for c in companies
    ]
