"""HTTP routes of the signing ceremony (API.md, "Contracts and signatures").

Thin routers: load the contract for the actor (`esign.auth`: 401, then 404),
parse, one service call, shape the answer. A drawn signature makes the sign
body larger than the global limit: `SIGN_PATHS` and `sign_body_limit` give the
body-size middleware this path's limit, and its refusal is the same 422 as a
PNG just over the image limit (`SignatureTooLarge`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request

from mindlinks.contracts.schemas import ContractOut, contract_out
from mindlinks.esign import service
from mindlinks.esign.auth import PartyContract
from mindlinks.esign.schemas import (
    AwaitingCountersignatureOut,
    DeclineIn,
    DisclosureOut,
    SignIn,
)
from mindlinks.identity.auth import AdminActor, CurrentActor
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.pagination import Page, PageParams, page_params
from mindlinks.platform.ratelimit import client_address

router = APIRouter(prefix="/api", tags=["esign"])

Paging = Annotated[PageParams, Depends(page_params)]

# The API's sign call and the signing page's form both carry a drawn PNG.
SIGN_PATHS: Final = (re.compile(r"(/api)?/contracts/[^/]+/sign"),)


def sign_body_limit(max_signature_png_bytes: int) -> int:
    """Twice the image limit (2 MB by default): base64 of an image at the limit is
    4/3 of it, plus JSON framing, and an image somewhat over the limit (up to ~1.5x)
    still reaches the signature check, whose 422 names the limit."""
    return 2 * max_signature_png_bytes


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Not signed in",
        403: "Not your role, email not verified, or (contractor) identity not verified",
        404: "Unknown, or not visible to the caller",
        409: "Not signable now (already signed, not your turn, or its status); see detail",
        422: "Invalid input, with `errors` per field (consent, signature.value, reason)",
    }
    return {
        code: {"description": described[code], "content": {"application/problem+json": {}}}
        for code in codes
    }


def _client_of(request: Request, ctx: ContextDep) -> service.SigningClient:
    return service.SigningClient(
        ip=client_address(request, ctx.settings.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
    )


@router.get("/esign/disclosure", response_model=DisclosureOut)
def disclosure(session: SessionDep) -> DisclosureOut:
    """The current electronic records and signature disclosure (public)."""
    return DisclosureOut.of(service.current_disclosure(session))


@router.post(
    "/contracts/{contract_id}/sign",
    response_model=ContractOut,
    responses=_problems(401, 403, 404, 409, 422),
)
def sign(
    body: SignIn,
    contract: PartyContract,
    actor: CurrentActor,
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
) -> ContractOut:
    """Sign the sent document's hash as your own role; the last signature answers
    the contract `active` (schedule created, sealing queued)."""
    signed = service.sign_contract(
        session,
        actor,
        contract.id,
        service.SignRequest(
            consent=body.consent,
            signature_type=body.signature.type,
            signature_value=body.signature.value,
            disclosure_version=body.disclosure_version,
            role=body.role,
        ),
        client=_client_of(request, ctx),
        max_png_bytes=ctx.settings.max_signature_png_bytes,
    )
    return contract_out(session, signed.contract)


@router.post(
    "/contracts/{contract_id}/decline",
    response_model=ContractOut,
    responses=_problems(401, 403, 404, 409, 422),
)
def decline(
    body: DeclineIn, contract: PartyContract, actor: CurrentActor, session: SessionDep
) -> ContractOut:
    """Decline the contract with a reason, before your role has signed."""
    declined = service.decline_contract(
        session, actor, contract.id, reason=body.reason, role=body.role
    )
    return contract_out(session, declined)


@router.get(
    "/admin/contracts/awaiting-countersignature",
    response_model=Page[AwaitingCountersignatureOut],
    responses=_problems(401, 403),
)
def awaiting_countersignature(
    actor: AdminActor, session: SessionDep, paging: Paging
) -> Page[AwaitingCountersignatureOut]:
    """EOR contracts whose turn is the employer of record's, oldest first."""
    rows, cursor = service.awaiting_countersignature(session, actor, paging)
    return Page(
        items=[AwaitingCountersignatureOut.of(c, since) for c, since in rows],
        next_cursor=cursor,
    )
