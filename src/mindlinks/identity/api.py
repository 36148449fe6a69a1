from __future__ import annotations

import structlog
from fastapi import APIRouter, Request, Response

from mindlinks.identity import service
from mindlinks.identity.auth import CurrentActor
from mindlinks.identity.errors import InvalidCredentials
from mindlinks.identity.models import User
from mindlinks.identity.schemas import (
    LoginIn,
    LogoutIn,
    MeCompany,
    MeOut,
    RefreshIn,
    RegisterIn,
    TokenPairOut,
    UserOut,
    VerifyEmailIn,
    VerifyEmailOut,
)
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.emails import InvalidEmail, normalize_email
from mindlinks.platform.ratelimit import client_address

router = APIRouter(prefix="/api", tags=["identity"])
log = structlog.get_logger(__name__)


def _user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, role=user.role, email_verified=user.email_verified)


@router.post("/auth/register", status_code=201, response_model=UserOut)
def register(body: RegisterIn, request: Request, session: SessionDep, ctx: ContextDep) -> UserOut:
    from mindlinks.companies.service import check_invite_for_registration

    address = client_address(request, ctx.settings.trusted_proxies)
    ctx.limiter.hit(ctx.settings.rate_limit_register, "register", address)
    service.validate_new_account(
        body.email,
        body.password,
        body.full_name,
        body.role,
        allowed_roles=service.SELF_SERVICE_ROLES,
    )
    invited = False
    if body.invite_token is not None:
        _, normalized = normalize_email(body.email)
        check_invite_for_registration(session, body.invite_token, normalized)
        invited = True
    user = service.create_user(
        session,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        role=body.role,
        verified=invited,
    )
    if not invited:
        service.queue_verification_email(session, user)
    return _user_out(user)


@router.post("/auth/verify-email", response_model=VerifyEmailOut)
def verify_email(body: VerifyEmailIn, session: SessionDep) -> VerifyEmailOut:
    service.verify_email(session, body.token)
    return VerifyEmailOut()


def _login_keys(email: str, address: str) -> tuple[str, str]:
    try:
        _, normalized = normalize_email(email)
    except InvalidEmail:
        normalized = email.strip().lower()
    return normalized, address


@router.post("/auth/login", response_model=TokenPairOut)
def login(body: LoginIn, request: Request, session: SessionDep, ctx: ContextDep) -> TokenPairOut:
    settings = ctx.settings
    address = client_address(request, settings.trusted_proxies)
    account, _ = _login_keys(body.email, address)
    ctx.limiter.hit(settings.rate_limit_login_attempts, "login-address", address)
    # While the failure budget is spent, even the right password is refused, so
    # guessing cannot continue by watching for a different answer.
    ctx.limiter.check(settings.rate_limit_login_failures, "login-failures", account, address)
    try:
        user = service.authenticate(session, body.email, body.password)
    except InvalidCredentials:
        # The email is masked by the logging processor; it is here so that
        # operators can correlate repeated failures without reading it whole.
        log.info("login_failed", email=body.email, client_address=address)
        ctx.limiter.hit(settings.rate_limit_login_failures, "login-failures", account, address)
        raise
    pair = service.start_session(session, settings, ctx.signing_key, user)
    log.info("login_succeeded", user_id=user.id, email=user.email, client_address=address)
    return TokenPairOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/auth/refresh", response_model=TokenPairOut)
def refresh(body: RefreshIn, session: SessionDep, ctx: ContextDep) -> TokenPairOut:
    pair = service.rotate_refresh_token(session, ctx.settings, ctx.signing_key, body.refresh_token)
    return TokenPairOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(actor: CurrentActor, session: SessionDep, body: LogoutIn | None = None) -> Response:
    service.logout(
        session, actor.id, actor.family_id, body.refresh_token if body is not None else None
    )
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
def me(actor: CurrentActor, session: SessionDep) -> MeOut:
    from mindlinks.companies.service import companies_for_user

    user = actor.user
    return MeOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        email_verified=user.email_verified,
        companies=[
            MeCompany(id=c.id, legal_name=c.legal_name, relation=c.relation)
            for c in companies_for_user(session, user.id)
        ],
        # No KYC session can exist before the KYC module lands (issue 4).
        kyc_status="none" if user.role == "contractor" else None,
    )
