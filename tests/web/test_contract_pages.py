"""The contract pages, driven through TestClient like a browser: drafting with the
live preview, sending, signing (typed and drawn), declining, voiding, and the
admins' countersigning and sealing pages.

Forms are posted form-encoded with the `csrf_token` field echoing the cookie.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import mindlinks.esign.tasks  # noqa: F401  (registers the jobs signing queues)
from mindlinks.contracts.api import PREVIEW_CSP
from mindlinks.contracts.models import Contract
from mindlinks.contracts.repository import move_status, parties_of
from mindlinks.esign.disclosure import sync_disclosures
from mindlinks.esign.notices import SEAL_JOB
from mindlinks.jobs.models import Job
from mindlinks.payments.models import PaymentScheduleItem
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext
from mindlinks.web.contract_forms import major_units, minor_units
from mindlinks.web.signing_pages import disclosure_html
from tests.esign.factories import make_admin
from tests.factories import make_user
from tests.web.contract_factories import (
    Parties,
    browser,
    contract_of,
    create_draft,
    draft_data,
    drawn_data_url,
    field_error,
    form_post,
    hash_each_password_once,  # noqa: F401  (autouse fixture)
    make_parties,
    text_of,
)

ID = "01jzzzzzzzzzzzzzzzzzzzzzzz"


@pytest.fixture(autouse=True)
def disclosure(session: Session) -> None:
    sync_disclosures(session)


@pytest.fixture
def parties(session: Session, app_context: AppContext) -> Parties:
    return make_parties(session, app_context)


@pytest.fixture
def client_browser(app: FastAPI, parties: Parties) -> TestClient:
    return browser(app, parties.client)


@pytest.fixture
def contractor_browser(app: FastAPI, parties: Parties) -> TestClient:
    return browser(app, parties.contractor)


@pytest.fixture
def stranger(app: FastAPI, session: Session, app_context: AppContext) -> TestClient:
    """The owner of another verified company, with a contractor of their own."""
    other = make_parties(session, app_context)
    return browser(app, other.client)


def sent_contract(client: TestClient, parties: Parties, **over: str) -> str:
    contract_id = create_draft(client, parties, **over)
    r = form_post(client, f"/contracts/{contract_id}/send", {}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return contract_id


def sign(client: TestClient, contract_id: str, **fields: str) -> object:
    data = {"consent": "yes", "signature_type": "typed", "typed_name": "Clara Client"}
    data.update(fields)
    return form_post(client, f"/contracts/{contract_id}/sign", data, follow_redirects=False)


# --- money in the form ------------------------------------------------------------------


def test_amounts_typed_in_major_units_become_exact_minor_units() -> None:
    assert minor_units("5000.50", "EUR") == 500050
    assert minor_units(" 12 000 ", "JPY") == 12000
    assert minor_units("1.234", "KWD") == 1234
    assert minor_units("10.505", "EUR") == "EUR amounts have at most 2 decimals"
    assert minor_units("10.5", "JPY") == "JPY amounts have no decimals"
    assert "dot for decimals" in str(minor_units("5000,50", "EUR"))
    assert minor_units("0", "EUR") == "must be more than zero"
    assert minor_units("", "EUR") == "is required"
    assert major_units(500050, "EUR") == "5000.50"
    assert major_units(12000, "JPY") == "12000"


def test_the_disclosure_is_rendered_escaped_with_its_headings_and_lists() -> None:
    html = str(disclosure_html("# Title\n\nA <b>bold</b> claim.\n\n- one\n- two\n  wrapped"))
    assert "<h3>Title</h3>" in html
    assert "<p>A &lt;b&gt;bold&lt;/b&gt; claim.</p>" in html
    assert "<ul><li>one</li><li>two wrapped</li></ul>" in html


# --- who may see what -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/contracts",
        "/contracts/new",
        f"/contracts/{ID}",
        f"/contracts/{ID}/edit",
        f"/contracts/{ID}/sign",
        "/admin/contracts/countersign",
        "/admin/contracts/unsealed",
    ],
)
def test_contract_pages_send_anonymous_visitors_to_sign_in(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize(
    "path",
    [
        "/contracts/new",
        "/contracts/preview",
        f"/contracts/{ID}/edit",
        f"/contracts/{ID}/preview",
        f"/contracts/{ID}/send",
        f"/contracts/{ID}/void",
        f"/contracts/{ID}/sign",
        f"/contracts/{ID}/decline",
        f"/admin/contracts/{ID}/reseal",
    ],
)
def test_contract_forms_send_anonymous_posts_to_sign_in(client: TestClient, path: str) -> None:
    r = form_post(client, path, {"void_reason": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


@pytest.mark.parametrize("suffix", ["", "/edit", "/sign"])
def test_another_companys_contract_is_not_found(
    client_browser: TestClient, stranger: TestClient, parties: Parties, suffix: str
) -> None:
    contract_id = sent_contract(client_browser, parties)
    r = stranger.get(f"/contracts/{contract_id}{suffix}")
    assert r.status_code == 404
    assert "Page not found" in r.text and "Backend development" not in r.text


@pytest.mark.parametrize("action", ["edit", "preview", "send", "void", "sign", "decline"])
def test_another_companys_contract_cannot_be_acted_on(
    client_browser: TestClient,
    stranger: TestClient,
    parties: Parties,
    session: Session,
    action: str,
) -> None:
    contract_id = create_draft(client_browser, parties)
    data = draft_data(parties) | {"void_reason": "mine now", "decline_reason": "no"}
    r = form_post(stranger, f"/contracts/{contract_id}/{action}", data, follow_redirects=False)
    assert r.status_code == 404
    assert contract_of(session, contract_id).status == "draft"


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
    client_browser: TestClient, parties: Parties, session: Session
) -> None:
    contract_id = create_draft(client_browser, parties)
    r = client_browser.post(f"/contracts/{contract_id}/send", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert "This form has expired" in r.text
    r = client_browser.post(
        f"/contracts/{contract_id}/void",
        data={"csrf_token": "x" * 40, "void_reason": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert contract_of(session, contract_id).status == "draft"


def test_only_clients_draft_contracts(contractor_browser: TestClient, parties: Parties) -> None:
    assert contractor_browser.get("/contracts/new").status_code == 403
    r = form_post(contractor_browser, "/contracts/new", draft_data(parties), follow_redirects=False)
    assert r.status_code == 403


def test_only_admins_see_the_admin_contract_pages(
    client_browser: TestClient, stranger: TestClient, parties: Parties
) -> None:
    assert client_browser.get("/admin/contracts/countersign").status_code == 403
    assert client_browser.get("/admin/contracts/unsealed").status_code == 403
    contract_id = create_draft(client_browser, parties)
    # A party may not operate sealing (403); anyone else does not see the contract (404).
    reseal = f"/admin/contracts/{contract_id}/reseal"
    assert form_post(client_browser, reseal, {}).status_code == 403
    assert form_post(stranger, reseal, {}).status_code == 404


# --- drafting ----------------------------------------------------------------------------------


def test_new_contract_starts_with_a_choice_of_templates(
    client_browser: TestClient, parties: Parties
) -> None:
    r = client_browser.get("/contracts/new")
    assert r.status_code == 200
    assert "Independent Contractor Services Agreement" in r.text
    assert f'value="{parties.direct.id}"' in r.text and f'value="{parties.eor.id}"' in r.text
    assert "script-src 'none'" in r.headers["content-security-policy"]


def test_the_draft_form_offers_linked_contractors_typed_variables_and_a_preview(
    client_browser: TestClient, parties: Parties, session: Session, app_context: AppContext
) -> None:
    unlinked = make_user(session, role="contractor", full_name="Nobody Linked")
    r = client_browser.get(f"/contracts/new?template={parties.direct.id}")
    assert r.status_code == 200
    assert f'<option value="{parties.contractor.id}"' in r.text
    assert "Zoë Łukasiewicz" in r.text and unlinked.id not in r.text
    assert 'name="var_notice_days" type="number" value="30"' in r.text
    assert 'name="var_sign_by" type="date"' in r.text
    assert '<select id="f-var_liability_cap"' in r.text
    assert 'formtarget="contract-preview"' in r.text and 'name="contract-preview"' in r.text
    assert '<script src="/static/contract-form.js" defer></script>' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_a_client_without_contractors_is_told_to_invite_one(
    app: FastAPI, session: Session, parties: Parties
) -> None:
    from tests.contracts.factories import client_company

    _, lonely = client_company(session, full_name="Lone Client")
    r = browser(app, lonely).get(f"/contracts/new?template={parties.direct.id}")
    assert r.status_code == 200
    assert (
        "Invite a contractor first" in r.text
        and '<form method="post" action="/contracts/new"' not in r.text
    )


def test_a_client_without_a_verified_company_is_told_what_to_do_first(
    app: FastAPI, session: Session, parties: Parties
) -> None:
    from tests.companies.factories import make_company

    newcomer = make_user(session, role="client", full_name="New Client")
    page = browser(app, newcomer).get(f"/contracts/new?template={parties.direct.id}")
    assert "You need a verified company first" in page.text
    assert 'href="/companies/new"' in page.text
    make_company(session, newcomer, status="pending", legal_name="Pending Ltd")
    page = browser(app, newcomer).get(f"/contracts/new?template={parties.direct.id}")
    assert "Pending Ltd is not verified by the business registry yet" in text_of(page)


def test_a_client_of_several_companies_says_which_one_contracts(
    app: FastAPI, session: Session, app_context: AppContext, parties: Parties
) -> None:
    from tests.companies.factories import make_company
    from tests.contracts.factories import linked_contractor

    second = make_company(session, parties.client, legal_name="Beta Gadgets GmbH")
    other = linked_contractor(session, second, full_name="Otto Other")
    client = browser(app, parties.client)
    page = client.get(f"/contracts/new?template={parties.direct.id}")
    assert '<select id="f-company_id"' in page.text
    assert '<optgroup label="Beta Gadgets GmbH">' in page.text and other.id in page.text
    r = form_post(client, "/contracts/new", draft_data(parties, company_id=""))
    assert r.status_code == 422
    assert "you work for several companies" in field_error(r, "company_id")
    # A contractor of the other company is refused for this one, next to the field.
    r = form_post(client, "/contracts/new", draft_data(parties, contractor_id=other.id))
    assert r.status_code == 422
    assert "is not a contractor linked to your company" in field_error(r, "contractor_id")


def test_saving_the_form_creates_a_draft_with_exact_minor_units(
    client_browser: TestClient, parties: Parties, session: Session
) -> None:
    contract_id = create_draft(client_browser, parties)
    contract = contract_of(session, contract_id)
    assert contract.status == "draft"
    assert contract.contractor_id == parties.contractor.id
    assert contract.payment_terms == {
        "type": "fixed",
        "amount_minor": 500050,
        "currency": "EUR",
        "cycle": "monthly",
    }
    assert contract.variables["notice_days"] == 30  # the template's default
    page = client_browser.get(f"/contracts/{contract_id}")
    assert page.status_code == 200
    assert "Your draft is saved" in page.text
    assert "EUR 5,000.50 per month, paid in arrears" in page.text
    assert f'src="/api/contracts/{contract_id}/preview"' in page.text
    assert "Send for signature" in page.text and "Void this contract" in page.text


@pytest.mark.parametrize(
    ("over", "field", "message"),
    [
        ({"end_date": "2026-12-31"}, "end_date", "must be on or after the start date"),
        ({"amount": "10.505"}, "amount", "EUR amounts have at most 2 decimals"),
        ({"amount": "-5"}, "amount", "must be an amount such as 5000"),
        ({"currency": "XYZ"}, "currency", "XYZ is not an active ISO 4217 currency code"),
        ({"title": ""}, "title", "is required"),
        ({"start_date": "someday"}, "start_date", "choose the date the contract starts"),
        ({"var_notice_days": "thirty"}, "var_notice_days", "must be a whole number"),
        ({"var_liability_cap": "unlimited"}, "var_liability_cap", "must be one of"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_saved(
    client_browser: TestClient,
    parties: Parties,
    session: Session,
    over: dict[str, str],
    field: str,
    message: str,
) -> None:
    before = session.scalar(select(func.count()).select_from(Contract))
    r = form_post(client_browser, "/contracts/new", draft_data(parties, **over))
    assert r.status_code == 422
    assert message in field_error(r, field)
    assert 'role="alert"' in r.text and "There is a problem" in r.text
    assert session.scalar(select(func.count()).select_from(Contract)) == before
    # What was typed is kept.
    assert 'value="Backend development"' in r.text or field == "title"


def test_milestones_are_rows_whose_errors_land_on_their_row(
    client_browser: TestClient, parties: Parties, session: Session
) -> None:
    rows = {
        "payment_type": "milestones",
        "m0_title": "Design",
        "m0_amount": "1000",
        "m0_due": "2027-02-01",
        # Row 1 left empty: ignored. Row 2 falls after the end date.
        "m2_title": "Launch",
        "m2_amount": "2500.25",
        "m2_due": "2028-03-01",
    }
    r = form_post(client_browser, "/contracts/new", draft_data(parties, **rows))
    assert r.status_code == 422
    assert "must be on or before the contract's end date" in field_error(r, "m2_due")
    assert field_error(r, "m0_due") == ""
    rows["m2_due"] = "2027-06-30"
    contract_id = create_draft(client_browser, parties, **rows)
    terms = contract_of(session, contract_id).payment_terms
    assert terms["milestones"] == [
        {"title": "Design", "amount_minor": 100000, "due_date": "2027-02-01"},
        {"title": "Launch", "amount_minor": 250025, "due_date": "2027-06-30"},
    ]


def test_more_milestone_rows_can_be_added_without_scripts(
    client_browser: TestClient, parties: Parties
) -> None:
    data = draft_data(parties, payment_type="milestones", m2_title="Third")
    r = form_post(client_browser, "/contracts/new", data | {"add_milestones": "1"})
    assert r.status_code == 200
    assert 'name="m5_title"' in r.text and 'name="m6_title"' not in r.text
    assert 'value="Third"' in r.text


def test_the_live_preview_renders_the_unsaved_draft_and_saves_nothing(
    client_browser: TestClient, parties: Parties, session: Session
) -> None:
    before = session.scalar(select(func.count()).select_from(Contract))
    data = draft_data(parties, title="Preview only", var_governing_law="the State of New York")
    r = form_post(client_browser, "/contracts/preview", data)
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == PREVIEW_CSP
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    text = text_of(r)
    assert "Preview only" in text and "the State of New York" in text
    assert "Zoë Łukasiewicz" in text and "EUR 5,000.50" in text
    assert '<div class="signature-box" data-role="contractor"' in r.text
    assert session.scalar(select(func.count()).select_from(Contract)) == before


def test_the_preview_lists_what_is_missing_until_the_form_is_complete(
    client_browser: TestClient, parties: Parties
) -> None:
    r = form_post(
        client_browser, "/contracts/preview", draft_data(parties, amount="", currency="EUR")
    )
    assert r.status_code == 422
    assert "The preview appears when the form is complete" in r.text
    assert "Amount : is required" in text_of(r)
    assert "correct the fields marked below" not in text_of(r)
    assert r.headers["x-frame-options"] == "SAMEORIGIN"


def test_a_draft_is_edited_with_a_preview_of_the_changes(
    client_browser: TestClient, parties: Parties, session: Session
) -> None:
    contract_id = create_draft(client_browser, parties)
    form = client_browser.get(f"/contracts/{contract_id}/edit")
    assert form.status_code == 200
    assert 'value="5000.50"' in form.text and 'value="Backend development"' in form.text
    assert "The parties of a draft stay as created" in form.text
    assert '<select id="f-contractor_id"' not in form.text
    preview = form_post(
        client_browser, f"/contracts/{contract_id}/preview", draft_data(parties, title="Renamed")
    )
    assert preview.status_code == 200 and "Renamed" in text_of(preview)
    assert contract_of(session, contract_id).title == "Backend development"
    r = form_post(
        client_browser,
        f"/contracts/{contract_id}/edit",
        draft_data(parties, title="Renamed", end_date="", amount="6000"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    contract = contract_of(session, contract_id)
    assert contract.title == "Renamed" and contract.end_date is None
    assert contract.payment_terms["amount_minor"] == 600000
    bad = form_post(
        client_browser, f"/contracts/{contract_id}/edit", draft_data(parties, amount="abc")
    )
    assert bad.status_code == 422 and "must be an amount" in field_error(bad, "amount")


# --- sending and signing -------------------------------------------------------------------------


def test_sending_fixes_the_document_and_asks_the_client_to_sign_first(
    client_browser: TestClient, parties: Parties, session: Session
) -> None:
    contract_id = create_draft(client_browser, parties)
    r = form_post(client_browser, f"/contracts/{contract_id}/send", {}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/contracts/{contract_id}/sign"
    contract = contract_of(session, contract_id)
    assert contract.status == "sent" and contract.document_sha256
    page = client_browser.get(r.headers["location"])
    assert page.status_code == 200
    assert "Sign it now: it is your turn" in page.text
    assert contract.document_sha256 in page.text
    assert f'href="/api/contracts/{contract_id}/document"' in page.text
    # The disclosure's own title sits below the page's headings.
    assert "<h3>Electronic Records and Signature Disclosure</h3>" in page.text
    assert "Your right to a paper copy" in page.text
    assert 'name="consent" value="yes" required' in page.text
    assert '<canvas class="signature-pad"' in page.text
    assert '<script src="/static/signature-pad.js" defer></script>' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # A sent contract can no longer be edited.
    edit = client_browser.get(f"/contracts/{contract_id}/edit", follow_redirects=False)
    assert edit.status_code == 303 and edit.headers["location"] == f"/contracts/{contract_id}"


def test_signing_without_consent_is_refused_next_to_the_checkbox(
    client_browser: TestClient, parties: Parties, session: Session
) -> None:
    contract_id = sent_contract(client_browser, parties)
    r = sign(client_browser, contract_id, consent="")
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "consent must be true" in field_error(r, "consent")  # type: ignore[arg-type]
    assert contract_of(session, contract_id).status == "sent"


def test_a_drawn_signature_that_is_not_a_png_is_refused(
    client_browser: TestClient, parties: Parties
) -> None:
    contract_id = sent_contract(client_browser, parties)
    r = sign(
        client_browser,
        contract_id,
        signature_type="drawn",
        drawn_signature="data:image/jpeg;base64,/9j/4AAQ",
    )
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "must be a PNG image" in field_error(r, "drawn_signature")  # type: ignore[arg-type]
    assert 'id="f-signature_type-drawn" name="signature_type" value="drawn" checked' in r.text  # type: ignore[attr-defined]


def test_the_contractor_waits_for_the_client_and_must_verify_their_identity(
    app: FastAPI, session: Session, app_context: AppContext
) -> None:
    parties = make_parties(session, app_context, kyc=False)
    client = browser(app, parties.client)
    contractor = browser(app, parties.contractor)
    contract_id = sent_contract(client, parties)

    early = contractor.get(f"/contracts/{contract_id}/sign", follow_redirects=False)
    assert early.status_code == 303 and early.headers["location"] == f"/contracts/{contract_id}"
    page = contractor.get(early.headers["location"])
    assert "It is not your turn to sign: waiting for the client" in page.text
    assert "Waiting for the signature of the client" in page.text

    assert sign(client, contract_id).status_code == 303  # type: ignore[attr-defined]
    assert contract_of(session, contract_id).status == "partially_signed"

    page = contractor.get(f"/contracts/{contract_id}/sign")
    assert page.status_code == 200
    assert "Verify your identity before you sign" in page.text
    assert 'href="/kyc"' in page.text and 'id="sign-form"' not in page.text
    r = sign(contractor, contract_id, typed_name="Zoë Łukasiewicz")
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert r.headers["location"] == f"/contracts/{contract_id}/sign"  # type: ignore[attr-defined]
    assert "must be approved first" in contractor.get(f"/contracts/{contract_id}/sign").text
    assert contract_of(session, contract_id).status == "partially_signed"


def test_both_parties_sign_and_the_contract_is_active_with_its_schedule(
    client_browser: TestClient, contractor_browser: TestClient, parties: Parties, session: Session
) -> None:
    contract_id = sent_contract(client_browser, parties)
    assert sign(client_browser, contract_id).status_code == 303  # type: ignore[attr-defined]

    dashboard = contractor_browser.get("/dashboard")
    assert "Contracts waiting for your signature" in dashboard.text
    assert f'href="/contracts/{contract_id}/sign"' in dashboard.text

    r = sign(
        contractor_browser,
        contract_id,
        signature_type="drawn",
        drawn_signature=drawn_data_url(),
        typed_name="",
    )
    assert r.status_code == 303  # type: ignore[attr-defined]
    contract = contract_of(session, contract_id)
    assert contract.status == "active"
    signed = {p.role: p.signed_at for p in parties_of(session, contract_id)}
    assert all(signed.values())

    page = contractor_browser.get(f"/contracts/{contract_id}")
    text = text_of(page)
    assert "Every party has signed: the contract is active" in text
    assert "Payment schedule" in text
    items = session.scalar(
        select(func.count()).where(PaymentScheduleItem.contract_id == contract_id)
    )
    assert items == 12
    assert page.text.count("EUR 5,000.50") >= 12
    assert "Signed by Clara Client" in text and "Signed by Zoë Łukasiewicz" in text
    assert "being sealed" in text and 'http-equiv="refresh"' in page.text
    assert f'href="/api/contracts/{contract_id}/evidence"' not in page.text


def test_a_sealed_contract_offers_its_evidence_once_a_checkpoint_covers_it(
    client_browser: TestClient,
    contractor_browser: TestClient,
    parties: Parties,
    session: Session,
    app_context: AppContext,
) -> None:
    from mindlinks.ledger.checkpoints import issue_checkpoint, keyring_for
    from tests.factories import run_jobs

    contract_id = sent_contract(client_browser, parties)
    sign(client_browser, contract_id)
    sign(contractor_browser, contract_id, typed_name="Zoë Łukasiewicz")
    run_jobs(session, app_context, names=(SEAL_JOB,))
    contract = contract_of(session, contract_id)
    assert contract.sealed_at is not None
    waiting = client_browser.get(f"/contracts/{contract_id}")
    assert "The evidence bundle is being prepared" in waiting.text
    issue_checkpoint(session, app_context.settings, keyring_for(app_context))
    page = client_browser.get(f"/contracts/{contract_id}")
    assert f'href="/api/contracts/{contract_id}/evidence"' in page.text
    assert "Download the signed PDF" in page.text and contract.sealed_sha256 in page.text
    assert 'http-equiv="refresh"' not in page.text


def test_a_party_declines_with_a_reason(
    client_browser: TestClient, contractor_browser: TestClient, parties: Parties, session: Session
) -> None:
    contract_id = sent_contract(client_browser, parties)
    empty = form_post(
        contractor_browser, f"/contracts/{contract_id}/decline", {"decline_reason": " "}
    )
    assert empty.status_code == 422
    assert "say why you decline" in field_error(empty, "decline_reason")
    r = form_post(
        contractor_browser,
        f"/contracts/{contract_id}/decline",
        {"decline_reason": "The rate is too low."},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert contract_of(session, contract_id).status == "declined"
    page = client_browser.get(f"/contracts/{contract_id}")
    assert "Reason: The rate is too low." in text_of(page)


def test_the_client_voids_before_signatures_are_complete_but_not_after(
    client_browser: TestClient, parties: Parties, session: Session
) -> None:
    contract_id = sent_contract(client_browser, parties)
    empty = form_post(client_browser, f"/contracts/{contract_id}/void", {"void_reason": ""})
    assert empty.status_code == 422 and "must be 1 to 1000" in field_error(empty, "void_reason")
    r = form_post(
        client_browser,
        f"/contracts/{contract_id}/void",
        {"void_reason": "Budget cut."},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert contract_of(session, contract_id).status == "void"

    active_id = sent_contract(client_browser, parties)
    assert move_status(session, active_id, "sent", "active")
    r = form_post(
        client_browser,
        f"/contracts/{active_id}/void",
        {"void_reason": "Too late."},
        follow_redirects=True,
    )
    assert "The contract was not voided" in r.text
    assert contract_of(session, active_id).status == "active"


# --- lists and dashboards ---------------------------------------------------------------------


def test_the_list_shows_statuses_and_filters_by_status(
    client_browser: TestClient, contractor_browser: TestClient, parties: Parties
) -> None:
    draft_id = create_draft(client_browser, parties, title="Still a draft")
    sent_id = sent_contract(client_browser, parties, title="Out for signature")
    page = client_browser.get("/contracts")
    assert page.status_code == 200
    assert (
        f'href="/contracts/{draft_id}"' in page.text and f'href="/contracts/{sent_id}"' in page.text
    )
    assert 'class="badge badge-contract badge-draft">draft<' in page.text
    assert 'class="badge badge-contract badge-sent">awaiting signatures<' in page.text
    only_sent = client_browser.get("/contracts?status=sent")
    assert "Out for signature" in only_sent.text and "Still a draft" not in only_sent.text
    nonsense = client_browser.get("/contracts?status=nonsense")
    assert nonsense.status_code == 200 and "There is no contract status" in nonsense.text
    theirs = contractor_browser.get("/contracts?status=sent")
    assert "Out for signature" in theirs.text


def test_the_client_dashboard_has_a_contracts_section(
    client_browser: TestClient, parties: Parties
) -> None:
    sent_contract(client_browser, parties, title="Dashboard contract")
    page = client_browser.get("/dashboard")
    assert page.status_code == 200
    assert "Dashboard contract" in page.text and 'href="/contracts/new"' in page.text
    assert "Waiting for your signature" in page.text
    assert '<a href="/contracts">Contracts</a>' in page.text  # the nav link


# --- admins: countersigning and sealing ----------------------------------------------------------


def test_an_admin_countersigns_an_eor_contract(
    app: FastAPI,
    client_browser: TestClient,
    contractor_browser: TestClient,
    parties: Parties,
    session: Session,
) -> None:
    admin = browser(app, make_admin(session))
    direct_id = sent_contract(client_browser, parties)
    contract_id = sent_contract(client_browser, parties, template_id=parties.eor.id)
    sign(client_browser, contract_id)
    sign(contractor_browser, contract_id, typed_name="Zoë Łukasiewicz")

    queue = admin.get("/admin/contracts/countersign")
    assert queue.status_code == 200
    assert f'href="/contracts/{contract_id}/sign"' in queue.text
    assert direct_id not in queue.text
    assert admin.get(f"/contracts/{direct_id}").status_code == 404

    page = admin.get(f"/contracts/{contract_id}/sign")
    assert page.status_code == 200
    assert "You sign for the employer of record" in page.text
    r = sign(admin, contract_id, typed_name="Ada Admin")
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert contract_of(session, contract_id).status == "active"
    assert "Nothing to countersign" in admin.get("/admin/contracts/countersign").text


def test_the_admin_dashboard_counts_and_charts_contracts(
    app: FastAPI, client_browser: TestClient, parties: Parties, session: Session
) -> None:
    admin = browser(app, make_admin(session))
    create_draft(client_browser, parties)
    page = admin.get("/dashboard")
    assert page.status_code == 200
    chart = page.text[page.text.index("Contracts by status") :]
    assert re.search(
        r"<th scope=\"row\">draft</th>\s*<td>.*?<span class=\"bar-value\">[1-9]", chart, re.DOTALL
    )
    assert 'href="/admin/contracts/countersign"' in page.text
    assert 'href="/admin/contracts/unsealed"' in page.text


def test_contracts_stuck_unsealed_are_listed_and_can_be_retried(
    app: FastAPI,
    client_browser: TestClient,
    contractor_browser: TestClient,
    parties: Parties,
    session: Session,
) -> None:
    admin = browser(app, make_admin(session))
    contract_id = sent_contract(client_browser, parties)
    sign(client_browser, contract_id)
    sign(contractor_browser, contract_id, typed_name="Zoë Łukasiewicz")
    assert "Every signed contract is sealed" in admin.get("/admin/contracts/unsealed").text

    contract = contract_of(session, contract_id)
    contract.activated_at = now() - timedelta(minutes=6)
    contract.seal_attempts = 2
    contract.seal_error = "RuntimeError: the signing CA is unreadable"
    session.flush()
    page = admin.get("/admin/contracts/unsealed")
    assert page.status_code == 200
    assert "Backend development" in page.text and contract_id in page.text
    assert "the signing CA is unreadable" in page.text
    assert f'href="/contracts/{contract_id}"' not in page.text  # a direct contract: no page

    jobs_before = session.scalar(select(func.count()).where(Job.name == SEAL_JOB))
    r = form_post(admin, f"/admin/contracts/{contract_id}/reseal", {}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/contracts/unsealed"
    assert session.scalar(select(func.count()).where(Job.name == SEAL_JOB)) == jobs_before + 1
    assert form_post(admin, f"/admin/contracts/{ID}/reseal", {}).status_code == 404
    dashboard = admin.get("/dashboard")
    assert re.search(
        r'stat-alert" href="/admin/contracts/unsealed">\s*<span class="stat-value">1<',
        dashboard.text,
    )
