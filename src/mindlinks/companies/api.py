"""The companies and invites endpoints (API.md, "Companies and invites").

Thin routers: parse, load the company for the actor (`companies.auth`), one
service call, shape the answer. Every rule lives in `companies.service`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from mindlinks.companies import service
from mindlinks.companies.auth import ReadableCompany, StaffCompany
from mindlinks.companies.providers import registry_for
from mindlinks.companies.schemas import (
    AcceptedCompanyOut,
    CompanyIn,
    CompanyOut,
    InviteAcceptedOut,
    InviteCompanyOut,
    InviteIn,
    InviteOut,
    InvitePreviewOut,
)
from mindlinks.identity.auth import CurrentActor
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api", tags=["companies"])

Paging = Annotated[PageParams, Depends(page_params)]


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Not signed in",
        403: "Not allowed (role, relation, or email not verified)",
        404: "Unknown, or not visible to the caller",
        409: "Conflicts with the current state",
        410: "Used, expired or revoked",
        422: "Invalid input, with `errors` per field",
        429: "Rate-limited; see Retry-After",
    }
    return {
        code: {"description": described[code], "content": {"application/problem+json": {}}}
        for code in codes
    }


@router.post(
    "/companies",
    status_code=201,
    response_model=CompanyOut,
    responses=_problems(401, 403, 422),
)
def register_company(
    body: CompanyIn, actor: CurrentActor, session: SessionDep, ctx: ContextDep
) -> CompanyOut:
    """Register the caller's company; it is checked against the business registry."""
    company = service.register_company(
        session,
        actor,
        legal_name=body.legal_name,
        jurisdiction_code=body.jurisdiction_code,
        registration_number=body.registration_number,
        country=body.country,
        registry=registry_for(ctx),
    )
    return CompanyOut.of(company, "owner")


@router.get("/companies", response_model=Page[CompanyOut], responses=_problems(401))
def list_companies(actor: CurrentActor, session: SessionDep, paging: Paging) -> Page[CompanyOut]:
    """The companies the caller is linked to, newest first."""
    items, cursor = service.list_companies(session, actor, paging)
    return Page(items=[CompanyOut.of(a.company, a.relation) for a in items], next_cursor=cursor)


@router.get("/companies/{company_id}", response_model=CompanyOut, responses=_problems(401, 404))
def get_company(access: ReadableCompany) -> CompanyOut:
    """A company its owners, members and linked contractors may read."""
    return CompanyOut.of(access.company, access.relation)


@router.post(
    "/companies/{company_id}/registry-check",
    status_code=202,
    response_model=CompanyOut,
    responses=_problems(401, 403, 404, 409),
)
def request_registry_check(
    access: StaffCompany, actor: CurrentActor, session: SessionDep
) -> CompanyOut:
    """Ask the registry again about a pending company (at most one check an hour)."""
    company = service.request_registry_check(session, actor, access.company.id)
    return CompanyOut.of(company, access.relation)


@router.post(
    "/companies/{company_id}/invites",
    status_code=201,
    response_model=InviteOut,
    responses=_problems(401, 403, 404, 409, 422, 429),
)
def create_invite(
    body: InviteIn,
    access: StaffCompany,
    actor: CurrentActor,
    session: SessionDep,
    ctx: ContextDep,
) -> InviteOut:
    """Invite a contractor by email; the one-time link goes only into the email."""
    invite = service.create_invite(
        session,
        actor,
        access.company.id,
        email=body.email,
        full_name=body.full_name,
        message=body.message,
        settings=ctx.settings,
        limiter=ctx.limiter,
    )
    return InviteOut.of(invite)


@router.get(
    "/companies/{company_id}/invites",
    response_model=Page[InviteOut],
    responses=_problems(401, 403, 404, 422),
)
def list_invites(
    access: StaffCompany,
    actor: CurrentActor,
    session: SessionDep,
    paging: Paging,
    status: Literal["pending", "accepted", "revoked", "expired"] | None = Query(default=None),
) -> Page[InviteOut]:
    """The company's invites, newest first, for its owners and members."""
    items, cursor = service.list_invites(session, actor, access.company.id, paging, status=status)
    return Page(items=[InviteOut.of(i) for i in items], next_cursor=cursor)


@router.post(
    "/companies/{company_id}/invites/{invite_id}/resend",
    response_model=InviteOut,
    responses=_problems(401, 403, 404, 409, 429),
)
def resend_invite(
    invite_id: str,
    access: StaffCompany,
    actor: CurrentActor,
    session: SessionDep,
    ctx: ContextDep,
) -> InviteOut:
    """Email a new link with a new expiry; the previous link stops working."""
    invite = service.resend_invite(
        session, actor, access.company.id, invite_id, settings=ctx.settings, limiter=ctx.limiter
    )
    return InviteOut.of(invite)


@router.post(
    "/companies/{company_id}/invites/{invite_id}/revoke",
    response_model=InviteOut,
    responses=_problems(401, 403, 404, 409),
)
def revoke_invite(
    invite_id: str, access: StaffCompany, actor: CurrentActor, session: SessionDep
) -> InviteOut:
    """Revoke an invite: its link answers 410 from now on."""
    return InviteOut.of(service.revoke_invite(session, actor, access.company.id, invite_id))


@router.get("/invites/{token}", response_model=InvitePreviewOut, responses=_problems(404, 410))
def preview_invite(token: str, session: SessionDep) -> InvitePreviewOut:
    """Public: what an invite link is for, before signing in or registering."""
    preview = service.preview_invite(session, token)
    return InvitePreviewOut(
        company=InviteCompanyOut(legal_name=preview.company_legal_name),
        email=preview.email,
        full_name=preview.full_name,
        status="pending",
        expires_at=preview.expires_at,
    )


@router.post(
    "/invites/{token}/accept",
    response_model=InviteAcceptedOut,
    responses=_problems(401, 403, 404, 410),
)
def accept_invite(token: str, actor: CurrentActor, session: SessionDep) -> InviteAcceptedOut:
    """The invited contractor accepts and is linked to the company."""
    invite = service.accept_invite(session, actor, token)
    access = service.get_company_for_actor(session, actor, invite.company_id)
    return InviteAcceptedOut(
        company=AcceptedCompanyOut(id=access.company.id, legal_name=access.company.legal_name)
    )
