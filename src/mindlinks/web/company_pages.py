"""Dashboard, company registration and detail (with invites), and invite links.

Every rule lives in `companies.service`; these handlers call it inside a
savepoint and show a refusal next to the form it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from sqlalchemy.orm import Session

from mindlinks.companies import service as companies
from mindlinks.companies.providers import registry_for
from mindlinks.identity.auth import Actor, require_role
from mindlinks.jobs.service import status_counts as job_status_counts
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.errors import Problem
from mindlinks.platform.pagination import PageParams
from mindlinks.web import contract_pages, kyc_pages
from mindlinks.web.charts import bar_chart
from mindlinks.web.shell import (
    CSRF_CHECKED,
    PageActor,
    SignedInActor,
    WebRoute,
    flash,
    form_errors,
    login_url,
    redirect,
    render,
    savepoint,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

COMPANY_FIELDS = ("legal_name", "jurisdiction_code", "registration_number", "country")
INVITE_FIELDS = ("email", "full_name", "message")
INVITES_PER_PAGE = 50
DASHBOARD_COMPANIES = 100

FormStr = Annotated[str, Form(max_length=320)]
LongFormStr = Annotated[str, Form(max_length=2000)]


def _company_url(company_id: str, anchor: str = "") -> str:
    return f"/companies/{quote(company_id, safe='')}{anchor}"


def _invite_url(token: str) -> str:
    return f"/invites/{quote(token, safe='')}"


# --- invite previews (also used by the registration page) -------------------------


def invite_problem_message(problem: Problem) -> str:
    status = problem.extra.get("invite_status")
    if status == "expired":
        return "This invite has expired. Ask the company that invited you to send a new one."
    if status == "accepted":
        return "This invite has already been used."
    if status == "revoked":
        return "This invite was withdrawn by the company that sent it."
    if problem.status == 404:
        return "This invite link is not valid. Check that you opened the whole link from the email."
    return problem.detail


@dataclass(frozen=True)
class InviteLookup:
    """An invite link's public preview, or a polite reason it can't be used."""

    preview: companies.InvitePreview | None
    problem: str | None = None
    status: int = 200


def look_up_invite(session: Session, token: str) -> InviteLookup:
    try:
        return InviteLookup(companies.preview_invite(session, token))
    except Problem as problem:
        return InviteLookup(None, invite_problem_message(problem), problem.status)


# --- dashboard ----------------------------------------------------------------------


@router.get("/dashboard")
def dashboard(request: Request, session: SessionDep, actor: SignedInActor) -> Response:
    accesses, more = companies.list_companies(session, actor, PageParams(limit=DASHBOARD_COMPANIES))
    if actor.role == "client":
        template = "dashboard_client.html"
    elif actor.role == "contractor":
        template = "dashboard_contractor.html"
    else:
        template = "dashboard_admin.html"
    context: dict[str, object] = {"accesses": accesses, "more": more is not None}
    if actor.role == "contractor":
        context["kyc_card"] = kyc_pages.kyc_card(session, actor)
    if actor.role == "admin":
        kyc_counts = kyc_pages.status_counts(session)
        context["kyc_reviews_waiting"] = kyc_counts.get("review", 0)
        context["charts"] = [
            kyc_pages.status_chart(kyc_counts),
            bar_chart(
                "Companies by verification status",
                companies.verification_counts(session, actor),
                ("verified", "pending", "rejected"),
            ),
            bar_chart(
                "Background jobs by status",
                job_status_counts(session),
                ("queued", "running", "done", "dead"),
            ),
        ]
    context.update(contract_pages.dashboard_context(request, session, actor))
    return render(request, template, context)


# --- registering a company ------------------------------------------------------------


def _new_company_page(
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "company_new.html",
        {"values": values or {}, "errors": errors or {}, "form_error": form_error},
        status_code=status_code,
    )


@router.get("/companies/new")
def new_company_page(request: Request, actor: SignedInActor) -> Response:
    require_role(actor, "client")
    return _new_company_page(request)


@router.post("/companies/new", dependencies=CSRF_CHECKED)
def new_company_submit(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    actor: SignedInActor,
    legal_name: FormStr = "",
    jurisdiction_code: FormStr = "",
    registration_number: FormStr = "",
    country: FormStr = "",
) -> Response:
    values = {
        "legal_name": legal_name,
        "jurisdiction_code": jurisdiction_code,
        "registration_number": registration_number,
        "country": country,
    }
    try:
        with savepoint(session):
            company = companies.register_company(
                session,
                actor,
                legal_name=legal_name,
                jurisdiction_code=jurisdiction_code,
                registration_number=registration_number,
                country=country,
                registry=registry_for(ctx),
            )
    except Problem as problem:
        errors, message = form_errors(problem, COMPANY_FIELDS)
        return _new_company_page(
            request, values=values, errors=errors, form_error=message, status_code=problem.status
        )
    messages = {
        "verified": "the business registry confirmed it: it is verified.",
        "rejected": "the business registry did not confirm it: it is rejected.",
        "pending": "the registry check is still pending; we will keep checking.",
    }
    outcome = messages.get(company.verification_status, company.verification_status)
    flash(
        request,
        f"{company.legal_name} is registered; {outcome}",
        "success" if company.verification_status == "verified" else "info",
    )
    return redirect(request, _company_url(company.id))


# --- one company -------------------------------------------------------------------


def _company_page(
    request: Request,
    session: Session,
    actor: Actor,
    company_id: str,
    *,
    cursor: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    access = companies.get_company_for_actor(session, actor, company_id)
    invites: list[dict[str, Any]] = []
    next_cursor: str | None = None
    if access.is_staff:
        rows, next_cursor = companies.list_invites(
            session, actor, company_id, PageParams(cursor=cursor, limit=INVITES_PER_PAGE)
        )
        invites = [{"invite": i, "status": companies.invite_status(i)} for i in rows]
    return render(
        request,
        "company_detail.html",
        {
            "access": access,
            "company": access.company,
            "invites": invites,
            "next_cursor": next_cursor,
            "values": values or {},
            "errors": errors or {},
            "form_error": form_error,
        },
        status_code=status_code,
    )


@router.get("/companies/{company_id}")
def company_page(
    request: Request,
    session: SessionDep,
    actor: SignedInActor,
    company_id: str,
    cursor: str | None = None,
) -> Response:
    return _company_page(request, session, actor, company_id, cursor=cursor)


@router.post("/companies/{company_id}/invites", dependencies=CSRF_CHECKED)
def invite_submit(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    actor: SignedInActor,
    company_id: str,
    email: FormStr = "",
    full_name: FormStr = "",
    message: LongFormStr = "",
) -> Response:
    try:
        with savepoint(session):
            invite = companies.create_invite(
                session,
                actor,
                company_id,
                email=email,
                full_name=full_name or None,
                message=message or None,
                settings=ctx.settings,
                limiter=ctx.limiter,
            )
    except Problem as problem:
        if problem.status == 404:
            raise
        errors, summary = form_errors(problem, INVITE_FIELDS)
        return _company_page(
            request,
            session,
            actor,
            company_id,
            values={"email": email, "full_name": full_name, "message": message},
            errors=errors,
            form_error=summary,
            status_code=problem.status,
        )
    flash(request, f"Invite sent to {invite.email}.")
    return redirect(request, _company_url(company_id, "#invites"))


@router.post("/companies/{company_id}/invites/{invite_id}/resend", dependencies=CSRF_CHECKED)
def invite_resend(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    actor: SignedInActor,
    company_id: str,
    invite_id: str,
) -> Response:
    try:
        with savepoint(session):
            invite = companies.resend_invite(
                session, actor, company_id, invite_id, settings=ctx.settings, limiter=ctx.limiter
            )
    except Problem as problem:
        if problem.status == 404:
            raise
        flash(request, f"The invite was not resent: {problem.detail}", "error")
    else:
        flash(
            request,
            f"A new invite link was sent to {invite.email}; the old link no longer works.",
        )
    return redirect(request, _company_url(company_id, "#invites"))


@router.post("/companies/{company_id}/invites/{invite_id}/revoke", dependencies=CSRF_CHECKED)
def invite_revoke(
    request: Request,
    session: SessionDep,
    actor: SignedInActor,
    company_id: str,
    invite_id: str,
) -> Response:
    try:
        with savepoint(session):
            invite = companies.revoke_invite(session, actor, company_id, invite_id)
    except Problem as problem:
        if problem.status == 404:
            raise
        flash(request, f"The invite was not revoked: {problem.detail}", "error")
    else:
        flash(request, f"The invite to {invite.email} was revoked; its link no longer works.")
    return redirect(request, _company_url(company_id, "#invites"))


@router.post("/companies/{company_id}/registry-check", dependencies=CSRF_CHECKED)
def registry_check(
    request: Request, session: SessionDep, actor: SignedInActor, company_id: str
) -> Response:
    try:
        with savepoint(session):
            companies.request_registry_check(session, actor, company_id)
    except Problem as problem:
        if problem.status == 404:
            raise
        flash(request, problem.detail, "error")
    else:
        flash(request, "We will ask the business registry again shortly.", "info")
    return redirect(request, _company_url(company_id))


# --- invite links (contractors) -----------------------------------------------------------


def _invite_page(
    request: Request,
    session: Session,
    actor: Actor | None,
    token: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    lookup = look_up_invite(session, token)
    preview = lookup.preview
    if status_code == 200:
        status_code = lookup.status
    same_email = (
        actor is not None
        and preview is not None
        and actor.user.email.lower() == preview.email.lower()
    )
    return render(
        request,
        "invite.html",
        {
            "token": token,
            "preview": preview,
            "problem": lookup.problem,
            "error": error,
            "same_email": same_email,
            "register_url": "/register?invite=" + quote(token, safe=""),
            "login_url": login_url(_invite_url(token)),
            "accept_url": _invite_url(token) + "/accept",
        },
        status_code=status_code,
    )


@router.get("/invites/{token}")
def invite_page(request: Request, session: SessionDep, actor: PageActor, token: str) -> Response:
    return _invite_page(request, session, actor, token)


@router.post("/invites/{token}/accept", dependencies=CSRF_CHECKED)
def invite_accept(request: Request, session: SessionDep, actor: PageActor, token: str) -> Response:
    if actor is None:
        flash(request, "Sign in to accept the invite.", "info")
        return redirect(request, login_url(_invite_url(token)))
    try:
        with savepoint(session):
            invite = companies.accept_invite(session, actor, token)
            company = companies.get_company_for_actor(session, actor, invite.company_id).company
    except Problem as problem:
        message = (
            invite_problem_message(problem) if problem.status in (404, 410) else problem.detail
        )
        return _invite_page(
            request, session, actor, token, error=message, status_code=problem.status
        )
    flash(request, f"You are now working with {company.legal_name}.")
    return redirect(request, "/dashboard")
