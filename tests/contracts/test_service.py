"""The contracts service: drafting, freezing the PDF at send, voiding, notices, documents."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mindlinks.contracts import repository
from mindlinks.contracts.documents import (
    ContractDocumentCorrupt,
    ContractDocumentExists,
    document_binding,
    read_document,
    store_document,
)
from mindlinks.contracts.errors import (
    ContractEditConflict,
    ContractNotEditable,
    ContractNotFound,
    ContractTransitionNotAllowed,
)
from mindlinks.contracts.models import Contract, ContractTemplate
from mindlinks.contracts.service import (
    NOTIFY_SENT_JOB,
    NOTIFY_VOIDED_JOB,
    create_draft,
    edit_draft,
    send_contract,
    void_contract,
)
from mindlinks.jobs.models import Job
from mindlinks.ledger import repository as ledger_repository
from mindlinks.notifications.models import DevMailboxMessage, Notification
from mindlinks.platform.blobs import BlobIntegrityError, blob_store_for
from mindlinks.platform.context import AppContext
from mindlinks.platform.errors import RoleNotAllowed
from tests.companies.factories import actor
from tests.contracts.conftest import Tenant
from tests.contracts.factories import (
    DIRECT_KEY,
    EOR_KEY,
    MONTHLY_EUR,
    SHIPPED_VARIABLES,
    make_contract,
    make_shipped_contract,
    make_template,
)
from tests.contracts.pdf_helpers import signature_fields
from tests.factories import make_user, run_jobs


def _draft(session: Session, tenant: Tenant, key: str = DIRECT_KEY) -> Contract:
    return make_shipped_contract(
        session, company=tenant.company, client=tenant.owner, contractor=tenant.contractor, key=key
    )


def _ledger(session: Session, contract: Contract, kind: str) -> list[dict[str, Any]]:
    rows = ledger_repository.entries(
        session, subject=f"contract:{contract.id}", kind=kind, limit=10
    )
    return [json.loads(row.entry_bytes) for row in rows]


def _create(session: Session, tenant: Tenant, template: ContractTemplate) -> Contract:
    return create_draft(
        session,
        actor(tenant.owner),
        template_id=template.id,
        contractor_id=tenant.contractor.id,
        title="  Payments API  ",
        scope="Build it.",
        start_date=date(2027, 1, 1),
        end_date=None,
        payment_terms=dict(MONTHLY_EUR),
        variables=SHIPPED_VARIABLES.get(template.key, {"governing_law": "Scotland"}),
    )


def test_a_draft_gets_its_parties_in_the_template_order(
    session: Session, tenant: Tenant, templates: dict[str, ContractTemplate]
) -> None:
    contract = _create(session, tenant, templates[EOR_KEY])
    assert contract.status == "draft"
    assert contract.title == "Payments API"
    assert contract.variables["notice_days"] == 30  # the default, stored with the draft
    parties = [(p.role, p.user_id, p.position) for p in repository.parties_of(session, contract.id)]
    assert parties == [
        ("client", tenant.owner.id, 0),
        ("contractor", tenant.contractor.id, 1),
        ("eor", None, 2),
    ]


def test_a_parallel_template_puts_every_party_first(session: Session, tenant: Tenant) -> None:
    template = make_template(session, signing_order="parallel")
    contract = _create(session, tenant, template)
    assert {p.position for p in repository.parties_of(session, contract.id)} == {0}


def test_only_client_staff_draft(
    session: Session, tenant: Tenant, templates: dict[str, ContractTemplate]
) -> None:
    with pytest.raises(RoleNotAllowed):
        _create(
            session,
            Tenant(tenant.company, tenant.contractor, tenant.contractor),
            templates[DIRECT_KEY],
        )


def test_sending_freezes_the_pdf_and_starts_the_first_turn(
    session: Session, app_context: AppContext, tenant: Tenant
) -> None:
    contract = _draft(session, tenant)
    sent = send_contract(session, app_context, actor(tenant.owner), contract)
    assert sent.status == "sent"
    assert sent.sent_at is not None
    document = repository.document_of(session, contract.id, "sent")
    assert document is not None
    pdf = read_document(app_context, document)
    assert hashlib.sha256(pdf).hexdigest() == sent.document_sha256 == document.sha256
    assert document.size_bytes == len(pdf)
    assert set(signature_fields(pdf)) == {"client", "contractor"}
    parties = {p.role: p for p in repository.parties_of(session, contract.id)}
    assert parties["client"].awaiting_since == sent.sent_at
    assert parties["contractor"].awaiting_since is None  # sequential: the client first

    (entry,) = _ledger(session, contract, "contract.sent")
    assert entry["actor"] == f"user:{tenant.owner.id}"
    template = repository.template_of(session, contract)
    assert entry["payload"] == {
        "contract_id": contract.id,
        "template_id": template.id,
        "template_version": template.version,
        "document_sha256": sent.document_sha256,
    }
    job = session.scalar(select(Job).where(Job.name == NOTIFY_SENT_JOB))
    assert job is not None and job.payload["contract_id"] == contract.id


def test_a_parallel_contract_awaits_every_party_at_once(
    session: Session, app_context: AppContext, tenant: Tenant
) -> None:
    contract = make_contract(
        session,
        company=tenant.company,
        client=tenant.owner,
        contractor=tenant.contractor,
        signing_order="parallel",
    )
    send_contract(session, app_context, actor(tenant.owner), contract)
    assert all(p.awaiting_since is not None for p in repository.parties_of(session, contract.id))


def test_a_contract_is_sent_once(session: Session, app_context: AppContext, tenant: Tenant) -> None:
    contract = _draft(session, tenant)
    send_contract(session, app_context, actor(tenant.owner), contract)
    with pytest.raises(ContractTransitionNotAllowed) as exc:
        send_contract(session, app_context, actor(tenant.owner), contract)
    assert exc.value.extra["current_status"] == "sent"


def test_an_edit_that_lands_during_a_send_makes_the_send_fail(
    session: Session, app_context: AppContext, tenant: Tenant
) -> None:
    contract = _draft(session, tenant)
    stale_revision = contract.revision
    # Another request edits the row after this one read it (this object keeps its revision).
    assert repository.bump_draft(session, contract.id, stale_revision, title="Changed")
    assert contract.revision == stale_revision
    with pytest.raises(ContractTransitionNotAllowed, match="changed while it was being sent"):
        send_contract(session, app_context, actor(tenant.owner), contract)
    session.refresh(contract)
    assert contract.status == "draft"
    assert repository.document_of(session, contract.id, "sent") is None


def test_another_company_cannot_send_it(
    session: Session, app_context: AppContext, tenant: Tenant, other_tenant: Tenant
) -> None:
    contract = _draft(session, tenant)
    with pytest.raises(ContractNotFound):
        send_contract(session, app_context, actor(other_tenant.owner), contract)


def test_edits_are_revalidated_and_refused_after_send(
    session: Session, app_context: AppContext, tenant: Tenant
) -> None:
    contract = _draft(session, tenant)
    edited = edit_draft(
        session,
        actor(tenant.owner),
        contract,
        {"title": "New title", "end_date": None, "variables": {"notice_days": 60}},
    )
    assert (edited.title, edited.end_date, edited.variables["notice_days"]) == (
        "New title",
        None,
        60,
    )
    assert edited.revision == 2
    edited = edit_draft(
        session, actor(tenant.owner), contract, {"variables": {"notice_days": None}}
    )
    assert edited.variables["notice_days"] == 30  # back to the template's default
    send_contract(session, app_context, actor(tenant.owner), contract)
    with pytest.raises(ContractNotEditable) as exc:
        edit_draft(session, actor(tenant.owner), contract, {"title": "Too late"})
    assert exc.value.extra["current_status"] == "sent"


def test_an_edit_racing_another_edit_loses(session: Session, tenant: Tenant) -> None:
    contract = _draft(session, tenant)
    # Another request edits the row after this one read it (this object keeps revision 1).
    assert repository.bump_draft(session, contract.id, contract.revision, title="Theirs")
    with pytest.raises(ContractEditConflict):
        edit_draft(session, actor(tenant.owner), contract, {"title": "Mine"})


def test_voiding_records_a_hash_of_the_reason_and_tells_the_others(
    session: Session, app_context: AppContext, tenant: Tenant
) -> None:
    contract = _draft(session, tenant)
    send_contract(session, app_context, actor(tenant.owner), contract)
    voided = void_contract(session, actor(tenant.owner), contract, reason="Budget cut for Q1")
    assert (voided.status, voided.void_reason) == ("void", "Budget cut for Q1")
    assert voided.voided_at is not None
    (entry,) = _ledger(session, contract, "contract.voided")
    assert entry["payload"]["previous_status"] == "sent"
    assert entry["payload"]["reason_sha256"] == hashlib.sha256(b"Budget cut for Q1").hexdigest()
    assert "Budget" not in str(entry["payload"])
    assert session.scalar(select(Job).where(Job.name == NOTIFY_VOIDED_JOB)) is not None


def test_voiding_a_draft_tells_nobody(session: Session, tenant: Tenant) -> None:
    contract = _draft(session, tenant)
    void_contract(session, actor(tenant.owner), contract, reason="Wrong contractor")
    assert len(_ledger(session, contract, "contract.voided")) == 1
    assert session.scalar(select(Job).where(Job.name == NOTIFY_VOIDED_JOB)) is None


@pytest.mark.parametrize("status", ["fully_signed", "active", "completed", "declined", "void"])
def test_voiding_is_refused_once_fully_signed_or_final(
    session: Session, tenant: Tenant, status: str
) -> None:
    contract = _draft(session, tenant)
    assert repository.move_status(session, contract.id, "draft", status)
    session.refresh(contract)
    with pytest.raises(ContractTransitionNotAllowed) as exc:
        void_contract(session, actor(tenant.owner), contract, reason="Too late")
    assert exc.value.extra["current_status"] == status
    assert status in exc.value.detail


def test_the_sent_notices_reach_the_client_in_app_and_the_contractor_by_email(
    session: Session, app_context: AppContext, tenant: Tenant
) -> None:
    contract = _draft(session, tenant)
    send_contract(session, app_context, actor(tenant.owner), contract)
    run_jobs(session, app_context, names=(NOTIFY_SENT_JOB,))
    run_jobs(session, app_context, names=(NOTIFY_SENT_JOB,))  # nothing twice
    notices = {
        n.user_id: n
        for n in session.scalars(
            select(Notification).where(Notification.link == f"/contracts/{contract.id}")
        )
    }
    assert notices[tenant.owner.id].title == "A contract is ready for your signature"
    assert "awaits you" in notices[tenant.contractor.id].title
    (mail,) = session.scalars(
        select(DevMailboxMessage).where(DevMailboxMessage.recipient == tenant.contractor.email)
    ).all()
    assert contract.title in mail.subject
    assert f"http://testserver/contracts/{contract.id}" in mail.text_body
    assert "once the parties before you" in mail.text_body  # the client signs first


def test_the_voided_notice_reaches_everyone_but_the_voider(
    session: Session, app_context: AppContext, tenant: Tenant
) -> None:
    contract = _draft(session, tenant)
    send_contract(session, app_context, actor(tenant.owner), contract)
    colleague = make_user(session, role="client")
    from mindlinks.companies.service import link_member

    link_member(session, tenant.company.id, colleague.id)
    void_contract(session, actor(colleague), contract, reason="Hired in-house")
    run_jobs(session, app_context, names=(NOTIFY_VOIDED_JOB,))
    told = {
        n.user_id
        for n in session.scalars(select(Notification).where(Notification.kind == "contract.voided"))
    }
    assert told == {tenant.owner.id, tenant.contractor.id}
    mails = session.scalars(
        select(DevMailboxMessage).where(DevMailboxMessage.subject.contains(contract.title))
    ).all()
    assert {m.recipient for m in mails} == {tenant.owner.email, tenant.contractor.email}
    assert all("Hired in-house" in m.text_body for m in mails)


def test_a_frozen_document_is_stored_once_per_kind_and_bound_to_its_contract(
    session: Session, app_context: AppContext, tenant: Tenant
) -> None:
    first = _draft(session, tenant)
    second = _draft(session, tenant)
    document = store_document(session, app_context, first.id, "sent", b"%PDF-1.7 one")
    assert document.blob_key.startswith(f"contracts/{first.id}/sent-")
    assert document.blob_key.endswith(".pdf.enc")
    with pytest.raises(ContractDocumentExists):
        store_document(session, app_context, first.id, "sent", b"%PDF-1.7 two")
    # The bytes at rest are ciphertext.
    store = blob_store_for(app_context)
    assert b"%PDF" not in store.read_sealed(document.blob_key)  # type: ignore[attr-defined]
    # A row moved onto another contract does not open: the blob is bound to its own.
    document.contract_id = second.id
    with pytest.raises(BlobIntegrityError):
        read_document(app_context, document)
    document.contract_id = first.id
    assert read_document(app_context, document) == b"%PDF-1.7 one"
    store.get(document.blob_key, associated_data=document_binding(first.id, "sent"))


def test_a_document_whose_hash_does_not_match_is_refused(
    session: Session, app_context: AppContext, tenant: Tenant
) -> None:
    contract = _draft(session, tenant)
    document = store_document(session, app_context, contract.id, "sealed", b"%PDF-1.7 sealed")
    document.sha256 = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ContractDocumentCorrupt, match="was recorded"):
        read_document(app_context, document)
