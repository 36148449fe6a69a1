"""HTTP routes of the contracts module (API.md, "Contracts and signatures").

Thin routers: load the contract for the actor (`contracts.auth`: 401, then 404
for a contract the caller may not see, then 403 for the wrong role), parse, one
service call, shape the answer with `schemas.contract_out`. Signing and
declining are the esign module's routes.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from mindlinks.contracts import repository, service
from mindlinks.contracts.auth import ClientContract, ReadableContract
from mindlinks.contracts.models import ContractTemplate
from mindlinks.contracts.schemas import (
    ContractIn,
    ContractOut,
    ContractPatch,
    ContractTemplateOut,
    VoidIn,
    contract_out,
    contract_outs,
)
from mindlinks.contracts.states import STATUSES
from mindlinks.identity.auth import CurrentActor
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.pagination import Page, PageParams, page_params, paginate

router = APIRouter(prefix="/api", tags=["contracts"])

Paging = Annotated[PageParams, Depends(page_params)]

# The preview is HTML from our templates with every value escaped; this policy
# still forbids scripts, frames, forms and any fetch, should anything slip by.
PREVIEW_CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Not signed in",
        403: "Not allowed (role, company relation, or email not verified)",
        404: "Unknown, or not visible to the caller",
        409: "Conflicts with the contract's (or the company's) current state; named in detail",
        422: "Invalid input, with `errors` per field",
    }
    return {
        code: {"description": described[code], "content": {"application/problem+json": {}}}
        for code in codes
    }


# --- templates ------------------------------------------------------------------------


@router.get(
    "/contract-templates",
    response_model=Page[ContractTemplateOut],
    responses=_problems(401),
)
def list_templates(
    actor: CurrentActor,
    session: SessionDep,
    paging: Paging,
    all_versions: Annotated[
        bool, Query(description="Include the older versions of every template")
    ] = False,
) -> Page[ContractTemplateOut]:
    """The published contract templates: the latest version of each by default."""
    rows, cursor = paginate(
        session,
        repository.templates_listed(all_versions=all_versions),
        ContractTemplate.id,
        paging,
    )
    latest = set(session.scalars(repository.latest_template_ids()).all()) if all_versions else None
    return Page(
        items=[ContractTemplateOut.of(t, latest=latest is None or t.id in latest) for t in rows],
        next_cursor=cursor,
    )


# --- contracts ------------------------------------------------------------------------


@router.post(
    "/contracts",
    status_code=201,
    response_model=ContractOut,
    responses=_problems(401, 403, 409, 422),
)
def create_contract(body: ContractIn, actor: CurrentActor, session: SessionDep) -> ContractOut:
    """A draft contract from a template, for a contractor linked to the client's
    verified company."""
    contract = service.create_draft(
        session,
        actor,
        template_id=body.template_id,
        contractor_id=body.contractor_id,
        title=body.title,
        scope=body.scope,
        start_date=body.start_date,
        end_date=body.end_date,
        payment_terms=body.payment_terms,
        variables=body.variables,
        company_id=body.company_id,
    )
    return contract_out(session, contract)


@router.get("/contracts", response_model=Page[ContractOut], responses=_problems(401, 422))
def list_contracts(
    actor: CurrentActor,
    session: SessionDep,
    paging: Paging,
    status: Annotated[
        str | None, Query(description=f"Only contracts in this status: {', '.join(STATUSES)}")
    ] = None,
) -> Page[ContractOut]:
    """The caller's contracts, newest first."""
    rows, cursor = service.list_contracts(session, actor, paging, status=status)
    return Page(items=contract_outs(session, rows), next_cursor=cursor)


@router.get("/contracts/{contract_id}", response_model=ContractOut, responses=_problems(401, 404))
def get_contract(contract: ReadableContract, session: SessionDep) -> ContractOut:
    """A contract, for its parties."""
    return contract_out(session, contract)


@router.patch(
    "/contracts/{contract_id}",
    response_model=ContractOut,
    responses=_problems(401, 403, 404, 409, 422),
)
def edit_contract(
    body: ContractPatch, contract: ClientContract, actor: CurrentActor, session: SessionDep
) -> ContractOut:
    """Change a draft; 409 `contract-not-editable` once it was sent."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    edited = service.edit_draft(session, actor, contract, changes)
    return contract_out(session, edited)


@router.post(
    "/contracts/{contract_id}/send",
    response_model=ContractOut,
    responses=_problems(401, 403, 404, 409),
)
def send_contract(
    contract: ClientContract, actor: CurrentActor, session: SessionDep, ctx: ContextDep
) -> ContractOut:
    """Freeze the PDF (its SHA-256 becomes `document_sha256`) and send it for signature."""
    sent = service.send_contract(session, ctx, actor, contract)
    return contract_out(session, sent)


@router.post(
    "/contracts/{contract_id}/void",
    response_model=ContractOut,
    responses=_problems(401, 403, 404, 409, 422),
)
def void_contract(
    body: VoidIn, contract: ClientContract, actor: CurrentActor, session: SessionDep
) -> ContractOut:
    """Void a contract that is not fully signed yet; 409 after."""
    voided = service.void_contract(session, actor, contract, reason=body.reason)
    return contract_out(session, voided)


@router.get(
    "/contracts/{contract_id}/document",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The sent or sealed PDF"},
        304: {"description": "Unchanged since the ETag given in If-None-Match"},
        **_problems(401, 404, 409),
    },
)
def get_document(
    request: Request, contract: ReadableContract, session: SessionDep, ctx: ContextDep
) -> Response:
    """The PDF: the sent one until sealing is done, the sealed one after. Its ETag
    is its SHA-256."""
    found = service.contract_document(session, ctx, contract)
    etag = f'"{found.document.sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        "X-Document-Kind": found.document.kind,
    }
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{found.filename}"'
    return Response(content=found.data, media_type="application/pdf", headers=headers)


@router.get(
    "/contracts/{contract_id}/preview",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "The HTML the PDF is made from"},
        **_problems(401, 404),
    },
)
def preview(contract: ReadableContract, session: SessionDep) -> HTMLResponse:
    """The contract rendered as HTML (live for a draft)."""
    html = service.contract_preview_html(session, contract)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": PREVIEW_CSP,
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
