"""The KYC endpoints (API.md, "KYC").

Thin routers: parse, load the session for the actor (`kyc.auth`), one service
call, shape the answer. Two handlers read the request themselves:

- the sandbox capture parses its multipart body only after the caller and the
  session were checked, so an anonymous or misdirected upload is refused before
  a byte of it is spooled (the body may be up to 3 x 10 MB: see `UPLOAD_PATHS`);
- the provider webhook takes the raw bytes, because the signature covers them
  exactly, and verifies it before anything else looks at the body.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, BinaryIO, Final

import structlog
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from mindlinks.identity.auth import AdminActor, CurrentActor
from mindlinks.kyc import service
from mindlinks.kyc.auth import AdminKycSession, CaptureKycSession, ReadableKycSession
from mindlinks.kyc.capture import FIELD_OF_SIDE
from mindlinks.kyc.errors import KycWebhookPayloadInvalid, KycWebhookSignatureInvalid
from mindlinks.kyc.providers import (
    WebhookPayloadInvalid,
    WebhookSignatureInvalid,
    kyc_provider_for,
    sandbox_provider_for,
    webhook_parser_for,
)
from mindlinks.kyc.schemas import (
    AdminKycSessionOut,
    DecisionIn,
    KycReviewItemOut,
    KycSessionCreatedOut,
    KycSessionOut,
    WebhookAckOut,
)
from mindlinks.kyc.sealing import keyring_for
from mindlinks.platform.blobs import blob_store_for
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.errors import InvalidInput
from mindlinks.platform.pagination import Page, PageParams, page_params

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api", tags=["kyc"])

Paging = Annotated[PageParams, Depends(page_params)]

# Paths whose bodies may exceed the global limit: the API's capture and the capture
# page's own form post (web module). See `upload_body_limit`.
UPLOAD_PATHS: Final = (
    re.compile(r"/api/kyc/sandbox/[^/]+/submit"),
    re.compile(r"/kyc/sandbox/[^/]+"),
)
FORM_OVERHEAD_BYTES: Final = 64 * 1024
MAX_FORM_FIELDS: Final = 8


def upload_body_limit(max_upload_bytes: int) -> int:
    """Three images at the per-file limit plus the multipart framing and fields."""
    return 3 * max_upload_bytes + FORM_OVERHEAD_BYTES


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The multipart body cannot be parsed",
        401: "Not signed in, or a webhook without a valid signature",
        403: "Not allowed (role, or email not verified)",
        404: "Unknown, or not visible to the caller",
        409: "Conflicts with the session's current status (named in `status`)",
        413: "The body is larger than the upload limit",
        422: "Invalid input, with `errors` per field",
        429: "Rate-limited; see Retry-After",
        503: "The identity-verification provider is not answering",
    }
    return {
        code: {"description": described[code], "content": {"application/problem+json": {}}}
        for code in codes
    }


@router.post(
    "/kyc/sessions",
    status_code=201,
    response_model=KycSessionCreatedOut,
    responses=_problems(401, 403, 409, 429, 503),
)
def start_session(
    actor: CurrentActor, session: SessionDep, ctx: ContextDep
) -> KycSessionCreatedOut:
    """Start identity verification, or resume the open session (`resumed: true`)."""
    keyring = keyring_for(ctx)
    started = service.start_verification(
        session,
        actor,
        provider=kyc_provider_for(ctx),
        settings=ctx.settings,
        limiter=ctx.limiter,
        keyring=keyring,
    )
    kyc = started.session
    return KycSessionCreatedOut(
        id=kyc.id,
        provider=kyc.provider,
        status="created",
        verification_url=kyc.verification_url,
        resumed=started.resumed,
        expires_at=kyc.expires_at,
        sdk_token=started.client_token or service.client_token_of(kyc, keyring),
    )


@router.get(
    "/kyc/sessions/{session_id}", response_model=KycSessionOut, responses=_problems(401, 404)
)
def get_session(kyc: ReadableKycSession) -> KycSessionOut:
    """A verification session, for its contractor and admins."""
    return KycSessionOut.of(kyc)


_CAPTURE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["document_front", "selfie", "document_number"],
                    "properties": {
                        "document_front": {"type": "string", "format": "binary"},
                        "document_back": {"type": "string", "format": "binary"},
                        "selfie": {"type": "string", "format": "binary"},
                        "document_number": {"type": "string", "maxLength": 64},
                    },
                }
            }
        },
    }
}


def _file_field(value: UploadFile | str | None, field: str) -> BinaryIO | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise InvalidInput(field, "must be a file upload")
    if not value.filename and not value.size:
        return None  # a browser's empty file input
    return value.file


@router.post(
    "/kyc/sandbox/{session_id}/submit",
    status_code=202,
    response_model=KycSessionOut,
    responses=_problems(400, 401, 404, 409, 413, 422),
    openapi_extra=_CAPTURE_BODY,
)
async def submit_sandbox_capture(
    request: Request,
    kyc: CaptureKycSession,
    actor: CurrentActor,
    session: SessionDep,
    ctx: ContextDep,
) -> KycSessionOut:
    """Upload the sandbox capture: ID front, optional back, selfie and document number.

    Answers 202 with status `submitted`; the decision arrives by webhook."""
    form = await request.form(
        max_files=len(FIELD_OF_SIDE), max_fields=MAX_FORM_FIELDS, max_part_size=64 * 1024
    )
    try:
        files = {side: _file_field(form.get(field), field) for side, field in FIELD_OF_SIDE.items()}
        number = form.get("document_number")
        if number is not None and not isinstance(number, str):
            raise InvalidInput("document_number", "must be text, not a file")
        submitted = await run_in_threadpool(
            service.submit_sandbox_capture,
            session,
            actor,
            kyc.id,
            files=files,
            document_number=number,
            sandbox=sandbox_provider_for(ctx),
            store=blob_store_for(ctx),
            keyring=keyring_for(ctx),
            max_upload_bytes=ctx.settings.kyc_max_upload_bytes,
        )
    finally:
        await form.close()
    return KycSessionOut.of(submitted)


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


@router.post(
    "/webhooks/kyc/{provider}",
    response_model=WebhookAckOut,
    responses=_problems(401, 404, 422),
)
def provider_webhook(
    provider: str, body: RawBody, request: Request, session: SessionDep, ctx: ContextDep
) -> WebhookAckOut:
    """A provider's decision: signature on the raw body first; 200 once committed.

    A repeated event, or one about a session this provider does not have, is a 200
    no-op (logged), so the provider stops retrying it."""
    parser = webhook_parser_for(ctx, provider)
    try:
        decision = parser.parse_webhook(body, request.headers)
    except WebhookSignatureInvalid as exc:
        log.warning("kyc_webhook_signature_invalid", provider=provider)
        raise KycWebhookSignatureInvalid(str(exc)) from None
    except WebhookPayloadInvalid as exc:
        log.warning("kyc_webhook_payload_invalid", provider=provider, error=str(exc))
        raise KycWebhookPayloadInvalid(str(exc)) from None
    result = service.apply_provider_decision(session, provider, decision)
    return WebhookAckOut(status=result)


@router.get(
    "/admin/kyc/reviews",
    response_model=Page[KycReviewItemOut],
    responses=_problems(401, 403),
)
def review_queue(actor: AdminActor, session: SessionDep, paging: Paging) -> Page[KycReviewItemOut]:
    """Sessions waiting for an admin's decision, oldest first."""
    items, cursor = service.review_queue(session, actor, paging)
    return Page(items=[KycReviewItemOut.of(kyc) for kyc in items], next_cursor=cursor)


@router.get(
    "/admin/kyc/sessions/{session_id}",
    response_model=AdminKycSessionOut,
    responses=_problems(401, 403, 404),
)
def admin_session(
    kyc: AdminKycSession, actor: CurrentActor, session: SessionDep, ctx: ContextDep
) -> AdminKycSessionOut:
    """A session with one-hour signed URLs to its images."""
    view = service.session_for_admin(
        session,
        actor,
        kyc.id,
        settings=ctx.settings,
        store=blob_store_for(ctx),
        keyring=keyring_for(ctx),
    )
    return AdminKycSessionOut.of(view)


@router.post(
    "/admin/kyc/sessions/{session_id}/decision",
    response_model=KycSessionOut,
    responses=_problems(401, 403, 404, 409, 422),
)
def decide(
    body: DecisionIn, kyc: AdminKycSession, actor: CurrentActor, session: SessionDep
) -> KycSessionOut:
    """Approve or decline a session in review, with the reason."""
    decided = service.decide_review(
        session, actor, kyc.id, decision=body.decision, reason=body.reason
    )
    return KycSessionOut.of(decided)
