"""Landing, registration, sign-in and -out, session refresh, email verification.

Every business rule stays in `identity.service` (and `companies.service` for
invites); these handlers parse a form, call the service inside a savepoint and
render the result or the problem next to the fields.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response

from mindlinks.identity import service
from mindlinks.identity.auth import REFRESH_COOKIE
from mindlinks.identity.passwords import MIN_LENGTH
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.errors import Problem
from mindlinks.platform.ratelimit import client_address
from mindlinks.web.company_pages import InviteLookup, look_up_invite
from mindlinks.web.shell import (
    CSRF_CHECKED,
    REFRESH_PATH,
    PageActor,
    SignedInActor,
    WebRoute,
    clear_session_cookies,
    flash,
    form_errors,
    login_url,
    redirect,
    render,
    rotate_csrf,
    safe_next,
    savepoint,
    set_session_cookies,
    viewer_of,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

REGISTER_FIELDS = ("full_name", "email", "password", "role")
LOGIN_FIELDS = ("email", "password")
PASSWORD_HINT = (
    f"At least {MIN_LENGTH} characters. A few unrelated words make a good password; "
    "common passwords and ones built from your name or email are refused."
)

FormStr = Annotated[str, Form(max_length=1024)]


@router.get("/")
def landing(request: Request, actor: PageActor) -> Response:
    if actor is not None:
        return redirect(request, "/dashboard")
    return render(request, "landing.html")


# --- registration -------------------------------------------------------------


def _register_page(
    request: Request,
    *,
    invite_token: str | None,
    lookup: InviteLookup | None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    values = dict(values or {})
    invitation = lookup.preview if lookup is not None else None
    if invitation is not None:
        values.setdefault("email", invitation.email)
        values["role"] = "contractor"
    context: dict[str, Any] = {
        "invite_token": invite_token if invitation is not None else None,
        "invitation": invitation,
        "invite_problem": lookup.problem if lookup is not None else None,
        "values": values,
        "errors": errors or {},
        "form_error": form_error,
        "password_hint": PASSWORD_HINT,
    }
    return render(request, "register.html", context, status_code=status_code, headers=headers)


@router.get("/register")
def register_page(
    request: Request,
    session: SessionDep,
    actor: PageActor,
    invite: str | None = None,
    role: str | None = None,
) -> Response:
    if actor is not None:
        return redirect(request, f"/invites/{quote(invite, safe='')}" if invite else "/dashboard")
    values = {"role": role} if role in service.SELF_SERVICE_ROLES else {}
    return _register_page(
        request,
        invite_token=invite,
        lookup=look_up_invite(session, invite) if invite else None,
        values=values,
    )


@router.post("/register", dependencies=CSRF_CHECKED)
def register_submit(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    full_name: FormStr = "",
    email: FormStr = "",
    password: FormStr = "",
    role: FormStr = "",
    invite_token: FormStr = "",
) -> Response:
    settings = ctx.settings
    token = invite_token.strip() or None
    values = {"full_name": full_name, "email": email, "role": role}
    try:
        with savepoint(session):
            address = client_address(request, settings.trusted_proxies)
            ctx.limiter.hit(settings.rate_limit_register, "register", address)
            user = service.register_account(
                session,
                email=email,
                password=password,
                full_name=full_name,
                role=role,
                invite_token=token,
            )
    except Problem as problem:
        errors, message = form_errors(problem, REGISTER_FIELDS)
        if token and "invite_token" in {e.get("field") for e in problem.errors or []}:
            message = (
                "This invite can't be used with this email address: it may have expired, "
                "been used or revoked, or be meant for another address."
            )
        headers = {k: v for k, v in problem.headers.items() if k.lower() == "retry-after"}
        return _register_page(
            request,
            invite_token=token,
            lookup=look_up_invite(session, token) if token else None,
            values=values,
            errors=errors,
            form_error=message,
            status_code=problem.status,
            headers=headers,
        )
    if token is not None:
        # The invite proved the address: sign the new contractor in and take
        # them straight to the invite they came for.
        pair = service.start_session(session, settings, ctx.signing_key, user)
        set_session_cookies(request, pair)
        rotate_csrf(request)
        flash(request, f"Welcome, {user.full_name}. Your account is ready.")
        return redirect(request, f"/invites/{quote(token, safe='')}")
    flash(
        request,
        f"Your account is ready. We sent a verification link to {user.email}: open it to "
        "verify your address, then sign in.",
    )
    return redirect(request, "/login")


# --- sign in and out ------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, actor: PageActor, next: str | None = None) -> Response:
    if actor is not None:
        return redirect(request, safe_next(next))
    return render(request, "login.html", {"next": safe_next(next, ""), "values": {}})


@router.post("/login", dependencies=CSRF_CHECKED)
def login_submit(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    email: FormStr = "",
    password: FormStr = "",
    next: FormStr = "",
) -> Response:
    settings = ctx.settings
    try:
        with savepoint(session):
            user = service.authenticate_rate_limited(
                session,
                ctx.limiter,
                settings,
                email=email,
                password=password,
                address=client_address(request, settings.trusted_proxies),
            )
            pair = service.start_session(session, settings, ctx.signing_key, user)
    except Problem as problem:
        errors, message = form_errors(problem, LOGIN_FIELDS)
        headers = {k: v for k, v in problem.headers.items() if k.lower() == "retry-after"}
        return render(
            request,
            "login.html",
            {
                "next": safe_next(next, ""),
                "values": {"email": email},
                "errors": errors,
                "form_error": message,
            },
            # A refused sign-in is not an HTTP authentication challenge.
            status_code=400 if problem.status == 401 else problem.status,
            headers=headers,
        )
    set_session_cookies(request, pair)
    rotate_csrf(request)
    flash(request, f"Signed in as {user.full_name}.")
    return redirect(request, safe_next(next))


@router.post("/logout", dependencies=CSRF_CHECKED)
def logout(request: Request, session: SessionDep, actor: PageActor) -> Response:
    if actor is not None:
        service.logout(session, actor.id, actor.family_id, None)
    clear_session_cookies(request)
    flash(request, "You have signed out.", "info")
    return redirect(request, "/")


def _refresh(
    request: Request, session: SessionDep, ctx: ContextDep, next_path: str | None
) -> Response:
    is_get = request.method in ("GET", "HEAD")
    target = safe_next(next_path)
    presented = request.cookies.get(REFRESH_COOKIE)
    pair: service.TokenPair | None = None
    if presented:
        try:
            with savepoint(session):
                pair = service.rotate_refresh_token(
                    session, ctx.settings, ctx.signing_key, presented
                )
        except Problem:
            pair = None
    if pair is None:
        clear_session_cookies(request)
        flash(request, "Your session has ended. Please sign in again.", "info")
        return redirect(request, login_url(target if is_get else None))
    set_session_cookies(request, pair)
    return redirect(request, target, 303 if is_get else 307)


@router.get(REFRESH_PATH)
def refresh_get(
    request: Request, session: SessionDep, ctx: ContextDep, next: str | None = None
) -> Response:
    return _refresh(request, session, ctx, next)


@router.post(REFRESH_PATH, dependencies=CSRF_CHECKED)
def refresh_post(
    request: Request, session: SessionDep, ctx: ContextDep, next: str | None = None
) -> Response:
    return _refresh(request, session, ctx, next)


# --- email verification -----------------------------------------------------------


@router.get("/verify-email")
def verify_email_page(request: Request, actor: PageActor, token: str = "") -> Response:
    # Never verify on GET: mail scanners fetch links; a person presses the button.
    return render(request, "verify_email.html", {"token": token, "outcome": None})


@router.post("/verify-email/resend", dependencies=CSRF_CHECKED)
def verify_email_resend(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor
) -> Response:
    try:
        service.resend_verification_email(session, ctx.limiter, ctx.settings, actor.user)
    except Problem as problem:
        flash(request, problem.detail, "error")
    else:
        flash(request, f"We sent a new verification link to {actor.user.email}.")
    return redirect(request, "/dashboard")


@router.post("/verify-email", dependencies=CSRF_CHECKED)
def verify_email_submit(
    request: Request, session: SessionDep, actor: PageActor, token: FormStr = ""
) -> Response:
    try:
        with savepoint(session):
            user = service.verify_email(session, token.strip())
    except Problem as problem:
        return render(
            request,
            "verify_email.html",
            {"token": "", "outcome": "failed", "detail": problem.detail},
            status_code=problem.status,
        )
    viewer = viewer_of(request)
    if viewer is not None and viewer.id == user.id:
        request.state.viewer = replace(viewer, email_verified=True)
    return render(request, "verify_email.html", {"token": "", "outcome": "verified"})
