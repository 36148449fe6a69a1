"""Contract pages: the list, one contract for each of its parties, and the client's
drafting (choose a template, fill the form beside a live preview, edit, send, void).

Every rule lives in `contracts.service`; these handlers call it inside a
savepoint and show its refusals next to the form or as a flash message.

The live preview renders an unsaved draft exactly as the PDF will be made: the
posted form goes through `create_draft` (or `edit_draft`) inside a savepoint
that is always rolled back, and `render_contract_html` renders the result. So
the preview checks the same rules as saving and shows the very HTML the PDF is
laid out from; nothing of it stays in the database. The form posts into the
preview frame (`formtarget`), which works without scripts; `contract-form.js`
only presses that button for the user when the form changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from mindlinks.companies.repository import get_company
from mindlinks.contracts import repository
from mindlinks.contracts import service as contracts
from mindlinks.contracts.api import PREVIEW_CSP
from mindlinks.contracts.models import Contract, ContractTemplate
from mindlinks.contracts.rendering import render_contract_html
from mindlinks.contracts.states import SIGNABLE_STATUSES, STATUSES
from mindlinks.identity.auth import Actor, require_role
from mindlinks.platform.context import AppContext, ContextDep, SessionDep
from mindlinks.platform.errors import InvalidInput, Problem
from mindlinks.platform.pagination import PageParams
from mindlinks.web import contract_admin_pages
from mindlinks.web import contract_forms as forms
from mindlinks.web import contract_views as views
from mindlinks.web.shell import (
    CSP,
    CSRF_CHECKED,
    SignedInActor,
    WebRoute,
    flash,
    redirect,
    render,
    savepoint,
    templates,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

LIST_PAGE_SIZE: Final = 25
REASON_MAX: Final = 1000
# Pages with the preview frame or the signature pad run our own scripts (and
# nothing else: no inline script, no other origin).
SCRIPTED_CSP: Final = CSP.replace("script-src 'none'", "script-src 'self'")
# The preview is a document of its own, shown in a frame of our pages only.
PREVIEW_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": PREVIEW_CSP,
    "X-Frame-Options": "SAMEORIGIN",
    "Cache-Control": "private, no-store",
}
PREVIEW_PROBLEM_CSP: Final = (
    "default-src 'none'; style-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
    "form-action 'none'"
)


async def posted_form(request: Request) -> FormData:
    """The form a page posted (parsed once; the CSRF check reads the same copy)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


def load_contract(session: Session, actor: Actor, contract_id: str) -> Contract:
    """The contract as the actor may see it: 404 for anyone who is not a party."""
    return repository.load_readable(session, actor, contract_id)


def _client_contract(session: Session, actor: Actor, contract_id: str) -> Contract:
    contract = load_contract(session, actor, contract_id)
    require_role(actor, "client")
    return contract


# --- the list ---------------------------------------------------------------------------


@router.get("/contracts")
def contract_list(
    request: Request,
    session: SessionDep,
    actor: SignedInActor,
    status: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    chosen = status if status in STATUSES else None
    if status and chosen is None:
        flash(request, f"There is no contract status {status!r}: showing every contract.", "info")
    rows, next_cursor = contracts.list_contracts(
        session, actor, PageParams(cursor=cursor, limit=LIST_PAGE_SIZE), status=chosen
    )
    return render(
        request,
        "contract_list.html",
        {
            "rows": views.contract_rows(session, actor, rows),
            "status": chosen or "",
            "status_label": views.status_label(chosen) if chosen else "",
            "statuses": views.status_options(),
            "next_cursor": next_cursor,
            "cursor": cursor,
        },
    )


# --- one contract -----------------------------------------------------------------------


@router.get("/contracts/new")
def new_contract(
    request: Request,
    session: SessionDep,
    actor: SignedInActor,
    template: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    require_role(actor, "client")
    chosen = repository.get_template(session, template) if template else None
    if chosen is None:
        if template:
            flash(request, "That template is not available; choose one of these.", "error")
        return _template_choice(request, session)
    return _draft_page(request, session, actor, chosen, forms.initial_values(chosen))


@router.get("/contracts/{contract_id}")
def contract_page(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor, contract_id: str
) -> Response:
    contract = load_contract(session, actor, contract_id)
    view = views.contract_view(session, ctx.settings, actor, contract)
    schedule = views.schedule_rows(session, contract) if contract.activated_at else []
    ready = views.evidence_ready(session, contract)
    return render(
        request,
        "contract_detail.html",
        {
            "contract": view,
            "schedule": schedule,
            "evidence_ready": ready,
            "watch": views.watch_for_evidence(contract, ready),
            "values": {},
            "errors": {},
        },
    )


def _template_choice(request: Request, session: Session) -> Response:
    listed = sorted(
        session.scalars(repository.templates_listed()).all(), key=lambda t: (t.kind, t.name)
    )
    return render(request, "contract_templates.html", {"templates": listed})


# --- drafting -----------------------------------------------------------------------------


def _draft_page(
    request: Request,
    session: Session,
    actor: Actor,
    template: ContractTemplate,
    values: dict[str, str],
    *,
    contract: Contract | None = None,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    add_rows: bool = False,
    status_code: int = 200,
) -> Response:
    choices = views.company_choices(session, actor)
    verified = [c for c in choices if c.verification_status == "verified"]
    party_names: dict[str, str] = {}
    if contract is not None:
        party_names = {
            "company": get_company(session, contract.company_id).legal_name,
            "contractor": views.person_name(session, contract.contractor_id) or "—",
        }
    return render(
        request,
        "contract_form.html",
        {
            "template": template,
            "contract": contract,
            "values": values,
            "errors": errors or {},
            "form_error": form_error,
            "companies": verified,
            "unverified_companies": [c for c in choices if c.verification_status != "verified"],
            "several_companies": len(verified) > 1,
            "party_names": party_names,
            "variables": forms.variable_inputs(template),
            "milestone_rows": forms.milestone_row_count(values, add=add_rows),
            "cycles": forms.cycles(),
            "currencies": forms.COMMON_CURRENCIES,
            "action": views.contract_url(contract.id, "/edit") if contract else "/contracts/new",
            "preview_action": (
                views.contract_url(contract.id, "/preview") if contract else "/contracts/preview"
            ),
        },
        status_code=status_code,
        headers={"Content-Security-Policy": SCRIPTED_CSP},
    )


def _template_of_form(session: Session, form: FormData) -> ContractTemplate:
    template_id = form.get("template_id")
    template = (
        repository.get_template(session, template_id) if isinstance(template_id, str) else None
    )
    if template is None:
        raise InvalidInput("template_id", "is not a published contract template")
    return template


def _create(
    session: Session, actor: Actor, template: ContractTemplate, draft: forms.DraftForm
) -> Contract:
    company_id = draft.values.get("company_id") or None
    return contracts.create_draft(
        session,
        actor,
        template_id=template.id,
        contractor_id=draft.values.get("contractor_id", ""),
        company_id=company_id,
        **draft.service_fields(),
    )


def _problem_summary(draft: forms.DraftForm, problem: Problem) -> str:
    if problem.status == 422:
        return draft.absorb(problem)
    return problem.detail


def _save(
    session: Session, draft: forms.DraftForm, make: Callable[[], Contract]
) -> tuple[Contract | None, str | None]:
    """Run `make()` (the service call) for a form: kept when the form and the
    service both accept it; otherwise undone, with every problem placed on the
    form (the service still judges a form this page found fault with, so all
    problems show at once)."""
    if draft.start_date is None:
        return None, None
    keep = draft.ok
    nested = session.begin_nested()
    try:
        made: Contract = make()
    except Problem as problem:
        nested.rollback()
        if problem.status == 404:
            raise
        return None, _problem_summary(draft, problem)
    except BaseException:
        nested.rollback()
        raise
    if keep:
        nested.commit()
        return made, None
    nested.rollback()
    return None, None


@router.post("/contracts/new", dependencies=CSRF_CHECKED)
def create_contract(
    request: Request, session: SessionDep, actor: SignedInActor, form: PostedForm
) -> Response:
    require_role(actor, "client")
    template = _template_of_form(session, form)
    draft = forms.read_draft_form(form, template)
    if "add_milestones" in form:
        return _draft_page(request, session, actor, template, draft.values, add_rows=True)
    contract, summary = _save(session, draft, lambda: _create(session, actor, template, draft))
    if contract is not None:
        flash(request, "Your draft is saved. Review it, then send it for signature.")
        return redirect(request, views.contract_url(contract.id))
    return _draft_page(
        request,
        session,
        actor,
        template,
        draft.values,
        errors=draft.errors,
        form_error=summary or forms.FIELDS_MARKED,
        status_code=422,
    )


@router.get("/contracts/{contract_id}/edit")
def edit_contract(
    request: Request, session: SessionDep, actor: SignedInActor, contract_id: str
) -> Response:
    contract = _client_contract(session, actor, contract_id)
    if contract.status != "draft":
        flash(request, "Only a draft can be edited; this contract was sent already.", "info")
        return redirect(request, views.contract_url(contract.id))
    template = repository.template_of(session, contract)
    values = forms.values_of_contract(contract, template)
    return _draft_page(request, session, actor, template, values, contract=contract)


@router.post("/contracts/{contract_id}/edit", dependencies=CSRF_CHECKED)
def update_contract(
    request: Request, session: SessionDep, actor: SignedInActor, contract_id: str, form: PostedForm
) -> Response:
    contract = _client_contract(session, actor, contract_id)
    template = repository.template_of(session, contract)
    draft = forms.read_draft_form(form, template)
    draft.values["template_id"] = template.id
    if "add_milestones" in form:
        return _draft_page(
            request, session, actor, template, draft.values, contract=contract, add_rows=True
        )
    saved, summary = _save(
        session,
        draft,
        lambda: contracts.edit_draft(session, actor, contract, draft.service_fields()),
    )
    if saved is not None:
        flash(request, "Your changes to the draft are saved.")
        return redirect(request, views.contract_url(contract_id))
    if summary is not None and not draft.errors and contract.status != "draft":
        flash(request, summary, "error")
        return redirect(request, views.contract_url(contract_id))
    session.refresh(contract)
    return _draft_page(
        request,
        session,
        actor,
        template,
        draft.values,
        contract=contract,
        errors=draft.errors,
        form_error=summary or forms.FIELDS_MARKED,
        status_code=422,
    )


# --- the live preview -----------------------------------------------------------------------


def _input_label(name: str) -> str:
    """`m0_due` -> `Milestone 1 due`, `var_notice_days` -> `notice days`."""
    if name.startswith("m") and name[1:2].isdigit():
        row, _, part = name[1:].partition("_")
        return f"milestone {int(row) + 1} {part}"
    return name.removeprefix("var_").replace("_", " ")


def _preview_problems(request: Request, draft: forms.DraftForm, summary: str | None) -> Response:
    problems = [(_input_label(name), message) for name, message in draft.errors.items()]
    if summary == forms.FIELDS_MARKED:
        summary = None  # the frame has no fields to mark: the list below says it all
    response = templates.TemplateResponse(
        request,
        "contract_preview_problems.html",
        {"problems": problems, "summary": summary},
        status_code=422,
        headers={
            "Content-Security-Policy": PREVIEW_PROBLEM_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "private, no-store",
        },
    )
    return response


def _render_unsaved(
    request: Request,
    session: Session,
    draft: forms.DraftForm,
    make: Callable[[], Contract],
) -> Response:
    """Render what `make()` drafts, then undo it (see the module docstring)."""
    summary: str | None = None
    html: str | None = None
    if draft.start_date is not None:
        nested = session.begin_nested()
        try:
            contract = make()
            html = render_contract_html(session, contract)
        except Problem as problem:
            summary = _problem_summary(draft, problem)
        finally:
            nested.rollback()
    if html is None or not draft.ok:
        return _preview_problems(request, draft, summary)
    return HTMLResponse(html, headers=dict(PREVIEW_HEADERS))


@router.post("/contracts/preview", dependencies=CSRF_CHECKED)
def preview_new(
    request: Request, session: SessionDep, actor: SignedInActor, form: PostedForm
) -> Response:
    require_role(actor, "client")
    template = _template_of_form(session, form)
    draft = forms.read_draft_form(form, template)
    return _render_unsaved(
        request, session, draft, lambda: _create(session, actor, template, draft)
    )


@router.post("/contracts/{contract_id}/preview", dependencies=CSRF_CHECKED)
def preview_edit(
    request: Request, session: SessionDep, actor: SignedInActor, contract_id: str, form: PostedForm
) -> Response:
    contract = _client_contract(session, actor, contract_id)
    template = repository.template_of(session, contract)
    draft = forms.read_draft_form(form, template)
    return _render_unsaved(
        request,
        session,
        draft,
        lambda: contracts.edit_draft(session, actor, contract, draft.service_fields()),
    )


# --- send and void ------------------------------------------------------------------------------


@router.post("/contracts/{contract_id}/send", dependencies=CSRF_CHECKED)
def send_contract(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor, contract_id: str
) -> Response:
    contract = _client_contract(session, actor, contract_id)
    try:
        with savepoint(session):
            contracts.send_contract(session, ctx, actor, contract)
    except Problem as problem:
        if problem.status == 404:
            raise
        flash(request, f"The contract was not sent: {problem.detail}", "error")
        return redirect(request, views.contract_url(contract_id))
    view = views.contract_view(session, ctx.settings, actor, contract)
    if view.your_turn:
        flash(
            request, "The contract is sent and its document is fixed. Sign it now: it is your turn."
        )
        return redirect(request, views.contract_url(contract_id, "/sign"))
    flash(request, "The contract is sent for signature; its document is now fixed.")
    return redirect(request, views.contract_url(contract_id))


def _void_reason(form: FormData) -> str:
    reason = form.get("void_reason")
    return reason if isinstance(reason, str) else ""


@router.post("/contracts/{contract_id}/void", dependencies=CSRF_CHECKED)
def void_contract(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    actor: SignedInActor,
    contract_id: str,
    form: PostedForm,
) -> Response:
    contract = _client_contract(session, actor, contract_id)
    reason = _void_reason(form)
    try:
        with savepoint(session):
            contracts.void_contract(session, actor, contract, reason=reason[: REASON_MAX + 1])
    except Problem as problem:
        if problem.status == 404:
            raise
        if problem.status == 422:
            return detail_with_errors(
                request,
                session,
                ctx,
                actor,
                contract_id,
                values={"void_reason": reason},
                errors={"void_reason": _first_message(problem, "reason")},
            )
        flash(request, f"The contract was not voided: {problem.detail}", "error")
        return redirect(request, views.contract_url(contract_id))
    flash(request, "The contract is void. The other parties have been told.")
    return redirect(request, views.contract_url(contract_id))


def _first_message(problem: Problem, field: str) -> str:
    for error in problem.errors or []:
        if error.get("field") == field:
            return str(error.get("message", problem.detail))
    return problem.detail


def detail_with_errors(
    request: Request,
    session: Session,
    ctx: AppContext,
    actor: Actor,
    contract_id: str,
    *,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    contract = load_contract(session, actor, contract_id)
    view = views.contract_view(session, ctx.settings, actor, contract)
    return render(
        request,
        "contract_detail.html",
        {
            "contract": view,
            "schedule": views.schedule_rows(session, contract) if contract.activated_at else [],
            "evidence_ready": views.evidence_ready(session, contract),
            "watch": False,
            "values": values,
            "errors": errors,
        },
        status_code=422,
    )


# --- dashboards ---------------------------------------------------------------------------

DASHBOARD_ROWS: Final = 5
AWAITING_ROWS: Final = 20


def dashboard_context(request: Request, session: Session, actor: Actor) -> dict[str, Any]:
    """The contracts part of every dashboard: for clients and contractors the latest
    contracts and those waiting for their signature; for admins the countersigning
    and sealing queues and the chart of contracts by status."""
    if actor.is_admin:
        ctx: AppContext = request.app.state.ctx
        return contract_admin_pages.dashboard_context(
            session, actor, stuck_after_seconds=ctx.settings.seal_stuck_after_seconds
        )
    if actor.role not in ("client", "contractor"):
        return {}
    rows, more = contracts.list_contracts(session, actor, PageParams(limit=DASHBOARD_ROWS))
    waiting: list[Contract] = []
    for status in sorted(SIGNABLE_STATUSES):
        found, _ = contracts.list_contracts(
            session, actor, PageParams(limit=AWAITING_ROWS), status=status
        )
        waiting.extend(found)
    return {
        "contract_rows": views.contract_rows(session, actor, rows),
        "more_contracts": more is not None,
        "contracts_your_turn": [
            row for row in views.contract_rows(session, actor, waiting) if row.your_turn
        ],
    }
