from __future__ import annotations

from fastapi import APIRouter, Request, Response

from mindlinks.identity import service
from mindlinks.identity.auth import CurrentActor
from mindlinks.identity.models import User
from mindlinks.identity.schemas import (
    LoginIn,
    LogoutIn,
    MeCompany,
    MeOut,
    RefreshIn,
    RegisterIn,
    ResendOut,
    TokenPairOut,
    UserOut,
    VerifyEmailIn,
    VerifyEmailOut,
)
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.ratelimit import client_address

router = APIRouter(prefix="/api", tags=["identity"])


def _user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, role=user.role, email_verified=user.email_verified)


@router.post("/auth/register", status_code=201, response_model=UserOut)
def register(body: RegisterIn, request: Request, session: SessionDep, ctx: ContextDep) -> UserOut:
    address = client_address(request, ctx.settings.trusted_proxies)
    ctx.limiter.hit(ctx.settings.rate_limit_register, "register", address)
    user = service.register_account(
        session,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        role=body.role,
        invite_token=body.invite_token,
    )
    return _user_out(user)


@router.post("/auth/verify-email", response_model=VerifyEmailOut)
def verify_email(body: VerifyEmailIn, session: SessionDep) -> VerifyEmailOut:
    service.verify_email(session, body.token)
    return VerifyEmailOut()


@router.post("/auth/resend-verification", status_code=202, response_model=ResendOut)
def resend_verification(actor: CurrentActor, session: SessionDep, ctx: ContextDep) -> ResendOut:
    """Email a new verification link to the signed-in, unverified account."""
    service.resend_verification_email(session, ctx.limiter, ctx.settings, actor.user)
    return ResendOut()


@router.post("/auth/login", response_model=TokenPairOut)
def login(body: LoginIn, request: Request, session: SessionDep, ctx: ContextDep) -> TokenPairOut:
    address = client_address(request, ctx.settings.trusted_proxies)
    user = service.authenticate_rate_limited(
        session,
        ctx.limiter,
        ctx.settings,
        email=body.email,
        password=body.password,
        address=address,
    )
    pair = service.start_session(session, ctx.settings, ctx.signing_key, user)
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
    from mindlinks.kyc.service import kyc_status_of

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
        kyc_status=kyc_status_of(session, user.id) if user.role == "contractor" else None,
    )
