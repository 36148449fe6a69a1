"""The admin's ledger explorer: entries with filters, the latest checkpoint, and a
button that re-derives the whole ledger and shows the result."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from mindlinks.identity.auth import require_role
from mindlinks.ledger import checkpoints, repository
from mindlinks.ledger.service import verify_ledger
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.web.shell import CSRF_CHECKED, SignedInActor, WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
EXPLORER_PAGE_SIZE = 50


def _explorer(
    request: Request,
    session: SessionDep,
    *,
    kind: str | None,
    subject: str | None,
    before: int | None,
    verification: object | None = None,
) -> Response:
    rows = repository.entries(
        session,
        subject=subject or None,
        kind=kind or None,
        before_seq=before,
        newest_first=True,
        limit=EXPLORER_PAGE_SIZE + 1,
    )
    older = rows[EXPLORER_PAGE_SIZE - 1].seq if len(rows) > EXPLORER_PAGE_SIZE else None
    entries = [
        {
            "seq": r.seq,
            "kind": r.kind,
            "subject": r.subject,
            "actor": r.actor,
            "recorded_at": r.recorded_at,
            "leaf_hash": r.leaf_hash.hex(),
            "entry_text": r.entry_bytes.decode("utf-8", "replace"),
            "entry_b64": base64.b64encode(r.entry_bytes).decode("ascii"),
        }
        for r in rows[:EXPLORER_PAGE_SIZE]
    ]
    return render(
        request,
        "ledger_explorer.html",
        {
            "entries": entries,
            "older": older,
            "kind": kind or "",
            "subject": subject or "",
            "head": repository.head_size(session),
            "checkpoint": checkpoints.latest_checkpoint(session),
            "verification": verification,
        },
    )


@router.get("/admin/ledger")
def ledger_explorer(
    request: Request,
    session: SessionDep,
    actor: SignedInActor,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    before: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    require_role(actor, "admin")
    return _explorer(request, session, kind=kind, subject=subject, before=before)


@router.post("/admin/ledger/verify", dependencies=CSRF_CHECKED)
def ledger_verify(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor
) -> Response:
    require_role(actor, "admin")
    with ctx.session_factory() as snapshot:
        report = verify_ledger(snapshot, trusted_keys=checkpoints.trusted_vkeys(ctx))
    return _explorer(request, session, kind=None, subject=None, before=None, verification=report)
