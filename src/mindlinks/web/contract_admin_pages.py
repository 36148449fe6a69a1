"""The admins' contract pages: EOR contracts awaiting the employer of record's
countersignature, contracts whose sealing is stuck (with a button that queues a
new sealing round), and the contracts numbers of the admin dashboard.

Countersigning itself is the ordinary signing page (`signing_pages`): an admin
acts for the `eor` role of EOR contracts, and only of those.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from mindlinks.companies.repository import get_company
from mindlinks.contracts import service as contracts_service
from mindlinks.contracts.models import Contract
from mindlinks.contracts.repository import eor_contract_ids, load_readable
from mindlinks.contracts.states import STATUSES
from mindlinks.esign import service as esign
from mindlinks.esign.seal_job import unsealed_contracts
from mindlinks.esign.seal_runs import retry_sealing_now
from mindlinks.identity.auth import Actor, require_role
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.errors import NotFound
from mindlinks.platform.pagination import PageParams
from mindlinks.web import contract_views as views
from mindlinks.web.charts import BarChart, bar_chart
from mindlinks.web.shell import CSRF_CHECKED, SignedInActor, WebRoute, flash, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

QUEUE_PAGE_SIZE: Final = 25
# The order a contract moves through, so the chart reads like its life.
CHART_ORDER: Final = STATUSES
UNSEALED_URL: Final = "/admin/contracts/unsealed"


def _waiting(seconds: int) -> str:
    minutes = max(0, seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"


# --- countersignature -------------------------------------------------------------------


@dataclass(frozen=True)
class CountersignRow:
    id: str
    title: str
    company_name: str
    contractor_name: str
    waiting_since: datetime | None

    @property
    def sign_url(self) -> str:
        return views.contract_url(self.id, "/sign")

    @property
    def url(self) -> str:
        return views.contract_url(self.id)


@router.get("/admin/contracts/countersign")
def countersign_queue(
    request: Request,
    session: SessionDep,
    actor: SignedInActor,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    require_role(actor, "admin")
    found, next_cursor = esign.awaiting_countersignature(
        session, actor, PageParams(cursor=cursor, limit=QUEUE_PAGE_SIZE)
    )
    rows = [
        CountersignRow(
            id=contract.id,
            title=contract.title,
            company_name=get_company(session, contract.company_id).legal_name,
            contractor_name=views.person_name(session, contract.contractor_id) or "—",
            waiting_since=since,
        )
        for contract, since in found
    ]
    return render(
        request,
        "contract_admin_countersign.html",
        {"rows": rows, "next_cursor": next_cursor, "cursor": cursor},
    )


# --- stuck sealing --------------------------------------------------------------------------


@dataclass(frozen=True)
class UnsealedRow:
    id: str
    title: str
    company_name: str
    status: str
    signed_at: datetime
    waiting: str
    seal_attempts: int
    seal_error: str | None
    is_eor: bool

    @property
    def url(self) -> str:
        return views.contract_url(self.id)


def _unsealed_rows(session: Session, older_than_seconds: int) -> list[UnsealedRow]:
    found = unsealed_contracts(session, older_than_seconds)
    # An admin reads EOR contracts only: the others get no link.
    eor_ids = set(
        session.scalars(
            eor_contract_ids().where(Contract.id.in_([item.contract_id for item in found]))
        ).all()
    )
    return [
        UnsealedRow(
            id=item.contract_id,
            title=item.title,
            company_name=get_company(session, item.company_id).legal_name,
            status=item.status,
            signed_at=item.signed_at,
            waiting=_waiting(item.waiting_seconds),
            seal_attempts=item.seal_attempts,
            seal_error=item.seal_error,
            is_eor=item.contract_id in eor_ids,
        )
        for item in found
    ]


@router.get(UNSEALED_URL)
def unsealed_page(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor
) -> Response:
    require_role(actor, "admin")
    after = ctx.settings.seal_stuck_after_seconds
    return render(
        request,
        "contract_admin_unsealed.html",
        {"rows": _unsealed_rows(session, after), "after_minutes": max(1, after // 60)},
    )


@router.post("/admin/contracts/{contract_id}/reseal", dependencies=CSRF_CHECKED)
def reseal(
    request: Request, session: SessionDep, actor: SignedInActor, contract_id: str
) -> Response:
    if not actor.is_admin:
        # 404 before 403: a contract this person may not see does not exist for them.
        load_readable(session, actor, contract_id)
        require_role(actor, "admin")
    # Admins operate the sealing of every contract, not only the EOR ones they read.
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(f"There is no contract {contract_id}.")
    if not retry_sealing_now(session, contract):
        flash(request, f"“{contract.title}” is sealed already.", "info")
        return redirect(request, UNSEALED_URL)
    flash(request, f"A new sealing attempt for “{contract.title}” is queued.")
    return redirect(request, UNSEALED_URL)


# --- the admin dashboard's numbers ----------------------------------------------------------


def status_chart(counts: Mapping[str, int]) -> BarChart:
    return bar_chart("Contracts by status", counts, CHART_ORDER)


def dashboard_context(
    session: Session, actor: Actor, *, stuck_after_seconds: int
) -> dict[str, Any]:
    """The contracts numbers of the admin dashboard."""
    require_role(actor, "admin")
    waiting, _ = esign.awaiting_countersignature(session, actor, PageParams(limit=100))
    return {
        "contracts_awaiting_countersignature": len(waiting),
        "contracts_unsealed": len(unsealed_contracts(session, stuck_after_seconds)),
        "contract_chart": status_chart(contracts_service.status_counts(session)),
    }
