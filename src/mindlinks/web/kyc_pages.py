"""Identity verification pages: the contractor's status, the sandbox capture page and
the result; the admins' review queue and review page.

Every rule lives in `kyc.service`; these handlers call it inside a savepoint and
turn its refusals into flash messages or form errors. The capture form is the one
page that posts files: it is checked for its owner before its body is parsed, and
the body-size middleware lets its path through (`kyc.api.UPLOAD_PATHS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, BinaryIO, Final
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from mindlinks.identity.auth import Actor, CsrfFailed, csrf_ok, require_role
from mindlinks.identity.errors import EmailNotVerified
from mindlinks.identity.service import get_user
from mindlinks.kyc import repository as kyc_repository
from mindlinks.kyc import service as kyc
from mindlinks.kyc.capture import FIELD_OF_SIDE, open_capture_session
from mindlinks.kyc.errors import KycSessionInProgress, KycSessionNotOpen
from mindlinks.kyc.providers import kyc_provider_for, sandbox_provider_for
from mindlinks.kyc.sealing import keyring_for
from mindlinks.platform.blobs import blob_store_for
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext, ContextDep, SessionDep
from mindlinks.platform.errors import InvalidInput, Problem
from mindlinks.platform.pagination import PageParams
from mindlinks.web.charts import BarChart, bar_chart
from mindlinks.web.shell import (
    CSRF_CHECKED,
    CSRF_FIELD,
    SignedInActor,
    WebRoute,
    flash,
    form_errors,
    redirect,
    render,
    savepoint,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CAPTURE_FIELDS: Final = ("document_number", *FIELD_OF_SIDE.values())
DECISION_FIELDS: Final = ("decision", "reason")
QUEUE_PAGE_SIZE: Final = 25
# The capture form: a CSRF token, the document number, three files.
MAX_CAPTURE_FIELDS: Final = 4
MAX_TEXT_PART_BYTES: Final = 64 * 1024

STATUS_LABELS: Final[Mapping[str, str]] = {
    "none": "not started",
    "created": "not finished",
    "submitted": "checking",
    "review": "in review",
    "approved": "approved",
    "declined": "declined",
    "expired": "expired",
}
RESULT_HEADINGS: Final[Mapping[str, str]] = {
    "created": "We are waiting for your photos",
    "submitted": "We are checking your photos",
    "review": "Your documents are being reviewed",
    "approved": "Your identity is verified",
    "declined": "Your verification was declined",
    "expired": "Your verification expired",
}
# The order a session moves through, so the chart reads left to right like the flow.
CHART_ORDER: Final = ("created", "submitted", "review", "approved", "declined", "expired")
SIDE_LABELS: Final[Mapping[str, str]] = {
    "front": "Document front",
    "back": "Document back",
    "selfie": "Selfie",
}

ReasonStr = Annotated[str, Form(max_length=2000)]
DecisionStr = Annotated[str, Form(max_length=32)]


def _session_url(session_id: str) -> str:
    return f"/kyc/sessions/{quote(session_id, safe='')}"


def _capture_url(session_id: str) -> str:
    return f"/kyc/sandbox/{quote(session_id, safe='')}"


def _admin_session_url(session_id: str) -> str:
    return f"/admin/kyc/sessions/{quote(session_id, safe='')}"


def _max_upload_mb(ctx: AppContext) -> int:
    return max(1, ctx.settings.kyc_max_upload_bytes // (1024 * 1024))


# --- the contractor's status card -------------------------------------------------


@dataclass(frozen=True)
class KycCard:
    """What the status card shows: the latest session, read for its contractor."""

    status: str
    session_id: str | None = None
    reason: str | None = None
    expires_at: datetime | None = None
    decided_at: datetime | None = None

    @property
    def label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def action(self) -> str | None:
        """start | resume | wait | start_again, or None once approved."""
        return {
            "none": "start",
            "created": "resume",
            "submitted": "wait",
            "review": "wait",
            "declined": "start_again",
            "expired": "start_again",
        }.get(self.status)

    @property
    def action_label(self) -> str:
        return {
            "start": "Start verification",
            "resume": "Resume verification",
            "start_again": "Start again",
        }.get(self.action or "", "")


def kyc_card(session: Session, actor: Actor) -> KycCard:
    latest = kyc_repository.latest_of_user(session, actor.id)
    if latest is None:
        return KycCard(status="none")
    status = kyc.session_status(latest)
    return KycCard(
        status=status,
        session_id=latest.id,
        # The contractor sees why a verification ended, not an admin's note on an approval.
        reason=latest.reason if status in ("declined", "expired") else None,
        expires_at=latest.expires_at if status == "created" else None,
        decided_at=latest.decided_at,
    )


# --- admin dashboard numbers ----------------------------------------------------------


def status_counts(session: Session) -> dict[str, int]:
    return kyc.status_counts(session)


def status_chart(counts: Mapping[str, int]) -> BarChart:
    return bar_chart("KYC sessions by status", counts, CHART_ORDER)


# --- the contractor's pages -------------------------------------------------------------


@router.get("/kyc")
def kyc_page(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor
) -> Response:
    require_role(actor, "contractor")
    return render(
        request,
        "kyc_status.html",
        {"card": kyc_card(session, actor), "max_upload_mb": _max_upload_mb(ctx)},
    )


@router.post("/kyc/start", dependencies=CSRF_CHECKED)
def kyc_start(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor
) -> Response:
    require_role(actor, "contractor")
    try:
        with savepoint(session):
            started = kyc.start_verification(
                session,
                actor,
                provider=kyc_provider_for(ctx),
                settings=ctx.settings,
                limiter=ctx.limiter,
                keyring=keyring_for(ctx),
            )
    except KycSessionInProgress as problem:
        flash(request, problem.detail, "info")
        session_id = problem.extra.get("session_id")
        return redirect(request, _session_url(session_id) if session_id else "/kyc")
    except EmailNotVerified:
        flash(
            request,
            "Verify your email address before you start identity verification: "
            "open the link we emailed you, or send it again.",
            "error",
        )
        return redirect(request, "/kyc")
    except Problem as problem:
        flash(request, problem.detail, "error")
        return redirect(request, "/kyc")
    if started.resumed:
        flash(request, "You are continuing the verification you started.", "info")
    return redirect(request, started.session.verification_url)


def _capture_page(
    request: Request,
    ctx: AppContext,
    session_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "kyc_sandbox.html",
        {
            "session_id": session_id,
            "max_upload_mb": _max_upload_mb(ctx),
            "values": values or {},
            "errors": errors or {},
            "form_error": form_error,
        },
        status_code=status_code,
    )


@router.get("/kyc/sandbox/{session_id}")
def capture_page(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor, session_id: str
) -> Response:
    try:
        open_capture_session(session, actor, session_id)
    except KycSessionNotOpen as problem:
        # Back from the result page, say: show where the verification stands.
        flash(request, problem.detail, "info")
        return redirect(request, _session_url(session_id))
    return _capture_page(request, ctx, session_id)


def _upload(value: UploadFile | str | None, field: str) -> BinaryIO | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise InvalidInput(field, "must be a file upload")
    if not value.filename and not value.size:
        return None  # an optional file input left empty is still sent, empty
    return value.file


@router.post("/kyc/sandbox/{session_id}")
async def capture_submit(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor, session_id: str
) -> Response:
    # Who is asking, and about which open session, is settled before the body
    # (up to three 10 MB files) is parsed, so a misdirected upload costs nothing.
    try:
        await run_in_threadpool(open_capture_session, session, actor, session_id)
    except KycSessionNotOpen as problem:
        flash(request, problem.detail, "error")
        return redirect(request, _session_url(session_id))
    form = await request.form(
        max_files=len(FIELD_OF_SIDE),
        max_fields=MAX_CAPTURE_FIELDS,
        max_part_size=MAX_TEXT_PART_BYTES,
    )
    try:
        token = form.get(CSRF_FIELD)
        if not isinstance(token, str) or not csrf_ok(request, token):
            raise CsrfFailed(
                "This form has expired or was sent from another site. "
                "Go back, reload the page and try again."
            )
        raw_number = form.get("document_number")
        number = raw_number if isinstance(raw_number, str) else None
        values = {"document_number": number or ""}
        try:
            files = {side: _upload(form.get(name), name) for side, name in FIELD_OF_SIDE.items()}
            with savepoint(session):
                await run_in_threadpool(
                    kyc.submit_sandbox_capture,
                    session,
                    actor,
                    session_id,
                    files=files,
                    document_number=number,
                    sandbox=sandbox_provider_for(ctx),
                    store=blob_store_for(ctx),
                    keyring=keyring_for(ctx),
                    max_upload_bytes=ctx.settings.kyc_max_upload_bytes,
                )
        except KycSessionNotOpen as problem:
            flash(request, problem.detail, "error")
            return redirect(request, _session_url(session_id))
        except Problem as problem:
            if problem.status != 422:
                raise
            errors, summary = form_errors(problem, CAPTURE_FIELDS)
            summary = f"{summary} Choose the photos again: a refused form keeps none of them."
            return _capture_page(
                request,
                ctx,
                session_id,
                values=values,
                errors=errors,
                form_error=summary,
                status_code=422,
            )
    finally:
        await form.close()
    flash(request, "Thank you: your photos were sent for verification.")
    return redirect(request, _session_url(session_id))


@dataclass(frozen=True)
class ResultView:
    id: str
    status: str
    heading: str
    reason: str | None
    verification_url: str
    created_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None


@router.get("/kyc/sessions/{session_id}")
def result_page(
    request: Request, session: SessionDep, actor: SignedInActor, session_id: str
) -> Response:
    found = kyc.get_session_for_actor(session, actor, session_id)
    if actor.is_admin:
        return redirect(request, _admin_session_url(found.id))
    status = kyc.session_status(found)
    view = ResultView(
        id=found.id,
        status=status,
        heading=RESULT_HEADINGS.get(status, "Your identity verification"),
        reason=found.reason if status in ("declined", "expired") else None,
        verification_url=found.verification_url,
        created_at=found.created_at,
        submitted_at=found.submitted_at,
        decided_at=found.decided_at,
    )
    return render(request, "kyc_result.html", {"result": view})


# --- the admins' review ---------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    id: str
    provider: str
    contractor_name: str
    contractor_email: str
    submitted_at: datetime | None
    waiting: str


def _waiting(since: datetime) -> str:
    minutes = max(0, int((now() - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"


def _person(session: Session, user_id: str | None) -> tuple[str, str]:
    user = get_user(session, user_id) if user_id else None
    if user is None:
        return "(deleted account)", ""
    return user.full_name, user.email


@router.get("/admin/kyc")
def review_queue_page(
    request: Request,
    session: SessionDep,
    actor: SignedInActor,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    require_role(actor, "admin")
    items, next_cursor = kyc.review_queue(
        session, actor, PageParams(cursor=cursor, limit=QUEUE_PAGE_SIZE)
    )
    rows = []
    for item in items:
        name, email = _person(session, item.user_id)
        rows.append(
            QueueRow(
                id=item.id,
                provider=item.provider,
                contractor_name=name,
                contractor_email=email,
                submitted_at=item.submitted_at,
                waiting=_waiting(item.submitted_at or item.created_at),
            )
        )
    return render(
        request,
        "kyc_admin_queue.html",
        {"rows": rows, "next_cursor": next_cursor, "cursor": cursor},
    )


@dataclass(frozen=True)
class ImageView:
    side: str
    label: str
    url: str | None
    content_type: str
    width: int
    height: int
    size_text: str
    sha256: str
    purged_at: datetime | None


@dataclass(frozen=True)
class TimelineStep:
    at: datetime
    text: str


@dataclass(frozen=True)
class ReviewView:
    id: str
    status: str
    provider: str
    provider_reference: str
    reason: str | None
    contractor_name: str
    contractor_email: str
    document_number: str | None
    extracted: list[tuple[str, str]]
    images: list[ImageView]
    timeline: list[TimelineStep]
    decided_at: datetime | None
    decided_by: str | None
    urls_expire_at: datetime | None


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def _review_view(session: Session, view: kyc.AdminSessionView) -> ReviewView:
    found = view.session
    status = kyc.session_status(found)
    name, email = _person(session, found.user_id)
    decided_by = _person(session, found.decided_by)[0] if found.decided_by else None
    order = {side: i for i, side in enumerate(SIDE_LABELS)}
    images = [
        ImageView(
            side=d.side,
            label=SIDE_LABELS.get(d.side, d.side),
            url=d.url,
            content_type=d.content_type,
            width=d.width,
            height=d.height,
            size_text=_size_text(d.size_bytes),
            sha256=d.sha256,
            purged_at=d.purged_at,
        )
        for d in sorted(view.documents, key=lambda d: order.get(d.side, len(order)))
    ]
    timeline = [TimelineStep(found.created_at, f"started with the {found.provider} provider")]
    if found.submitted_at:
        timeline.append(TimelineStep(found.submitted_at, "documents submitted"))
    if found.decided_at:
        who = f" by {decided_by}" if decided_by else " by the provider"
        timeline.append(TimelineStep(found.decided_at, f"{status}{who}"))
    elif status in ("created", "submitted"):
        timeline.append(TimelineStep(found.expires_at, "expires unless completed"))
    return ReviewView(
        id=found.id,
        status=status,
        provider=found.provider,
        provider_reference=found.provider_reference,
        reason=found.reason,
        contractor_name=name,
        contractor_email=email,
        document_number=view.document_number,
        extracted=sorted((str(k), str(v)) for k, v in (found.extracted or {}).items()),
        images=images,
        timeline=timeline,
        decided_at=found.decided_at,
        decided_by=decided_by,
        urls_expire_at=view.urls_expire_at if any(i.url for i in images) else None,
    )


def _review_page(
    request: Request,
    session: Session,
    ctx: AppContext,
    actor: Actor,
    session_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    # Seen by its contractor or nobody else: 404 before the admin check's 403.
    kyc.get_session_for_actor(session, actor, session_id)
    view = kyc.session_for_admin(
        session,
        actor,
        session_id,
        settings=ctx.settings,
        store=blob_store_for(ctx),
        keyring=keyring_for(ctx),
    )
    return render(
        request,
        "kyc_admin_session.html",
        {
            "review": _review_view(session, view),
            "values": values or {},
            "errors": errors or {},
            "form_error": form_error,
        },
        status_code=status_code,
    )


@router.get("/admin/kyc/sessions/{session_id}")
def review_page(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor, session_id: str
) -> Response:
    return _review_page(request, session, ctx, actor, session_id)


@router.post("/admin/kyc/sessions/{session_id}/decision", dependencies=CSRF_CHECKED)
def review_decision(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    actor: SignedInActor,
    session_id: str,
    decision: DecisionStr = "",
    reason: ReasonStr = "",
) -> Response:
    found = kyc.get_session_for_actor(session, actor, session_id)
    require_role(actor, "admin")
    try:
        with savepoint(session):
            decided = kyc.decide_review(session, actor, found.id, decision=decision, reason=reason)
    except Problem as problem:
        if problem.status == 422:
            errors, summary = form_errors(problem, DECISION_FIELDS)
            return _review_page(
                request,
                session,
                ctx,
                actor,
                session_id,
                values={"decision": decision, "reason": reason},
                errors=errors,
                form_error=summary,
                status_code=422,
            )
        if problem.status != 409:
            raise
        flash(request, problem.detail, "error")
        return redirect(request, _admin_session_url(session_id))
    name = _person(session, decided.user_id)[0]
    flash(request, f"{name}'s verification is {decided.status}.")
    return redirect(request, "/admin/kyc")
