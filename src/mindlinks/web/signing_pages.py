"""The signing page: the document, the electronic records and signature disclosure,
and a typed or drawn signature; and declining with a reason.

Every rule is the signing ceremony's (`esign.service.sign_contract`): who may
sign, whose turn it is, the consent, the contractor's verified identity and the
signature itself. This page only shows what the ceremony would say before the
signer starts (not your turn, already signed, verify your identity first) and
puts its refusals next to the inputs. A signature is made by the signer's own
signed-in session; nothing here can be used by anyone else.

The drawn signature comes from `static/signature-pad.js` as the PNG data URL a
canvas gives; without scripts the page offers the typed signature only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, Request, Response
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from mindlinks.contracts.errors import ContractNotSignable
from mindlinks.contracts.models import Contract
from mindlinks.esign import service as esign
from mindlinks.esign.signing import fresh_parties, own_role, party_for_turn
from mindlinks.identity.auth import Actor
from mindlinks.kyc import service as kyc
from mindlinks.kyc.errors import KycNotApproved
from mindlinks.platform.context import AppContext, ContextDep, SessionDep
from mindlinks.platform.errors import Problem
from mindlinks.platform.ratelimit import client_address
from mindlinks.web import contract_views as views
from mindlinks.web.contract_pages import (
    SCRIPTED_CSP,
    PostedForm,
    detail_with_errors,
    load_contract,
)
from mindlinks.web.shell import (
    CSRF_CHECKED,
    SignedInActor,
    WebRoute,
    flash,
    redirect,
    render,
    savepoint,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

SIGN_FIELDS: Final = ("consent", "signature_type", "typed_name", "drawn_signature", "reason")
KYC_PAGE: Final = "/kyc"
VERSION_DIGITS: Final = 9
_LIST_ITEM = re.compile(r"^\s*[-*]\s+")
_HEADING = re.compile(r"^(#{1,4})\s+(.*)$")


# --- the disclosure as HTML ----------------------------------------------------------------


def disclosure_html(text: str) -> Markup:
    """The disclosure's plain Markdown (headings, paragraphs, bullet lists) as
    escaped HTML; its headings sit below the page's own."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.rstrip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        heading = _HEADING.match(lines[0])
        if heading and len(lines) == 1:
            level = min(6, len(heading.group(1)) + 2)
            out.append(f"<h{level}>{escape(heading.group(2))}</h{level}>")
            continue
        if all(_LIST_ITEM.match(line) or line.startswith("  ") for line in lines) and (
            _LIST_ITEM.match(lines[0])
        ):
            items: list[str] = []
            for line in lines:
                if _LIST_ITEM.match(line):
                    items.append(_LIST_ITEM.sub("", line))
                else:
                    items[-1] += " " + line.strip()
            out.append("<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>")
            continue
        out.append(f"<p>{escape(' '.join(line.strip() for line in lines))}</p>")
    return Markup("\n".join(out))  # noqa: S704 - every piece of text is escaped above


# --- what the page shows -------------------------------------------------------------------


@dataclass(frozen=True)
class Disclosure:
    version: int
    sha256: str
    html: Markup


def _disclosure(session: Session) -> Disclosure:
    current = esign.current_disclosure(session)
    return Disclosure(current.version, current.sha256, disclosure_html(current.body))


def _turn_problem(session: Session, actor: Actor, contract: Contract) -> str | None:
    """Why the actor cannot sign now, in the ceremony's own words, or None."""
    try:
        party_for_turn(contract, fresh_parties(session, contract.id), own_role(actor))
    except (ContractNotSignable, Problem) as problem:
        return problem.detail
    return None


def _needs_kyc(session: Session, actor: Actor) -> str | None:
    """The contractor's KYC status when it is not approved yet."""
    if actor.role != "contractor":
        return None
    status = kyc.kyc_status_of(session, actor.id)
    return None if status == "approved" else status


def _sign_page(
    request: Request,
    session: Session,
    ctx: AppContext,
    actor: Actor,
    contract: Contract,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    view = views.contract_view(session, ctx.settings, actor, contract)
    return render(
        request,
        "contract_sign.html",
        {
            "contract": view,
            "disclosure": _disclosure(session),
            "kyc_status": _needs_kyc(session, actor),
            "kyc_url": KYC_PAGE,
            "signer_name": actor.user.full_name,
            "values": values or {"signature_type": "typed"},
            "errors": errors or {},
            "form_error": form_error,
        },
        status_code=status_code,
        headers={"Content-Security-Policy": SCRIPTED_CSP},
    )


@router.get("/contracts/{contract_id}/sign")
def sign_page(
    request: Request, session: SessionDep, ctx: ContextDep, actor: SignedInActor, contract_id: str
) -> Response:
    contract = load_contract(session, actor, contract_id)
    problem = _turn_problem(session, actor, contract)
    if problem is not None:
        flash(request, problem, "info")
        return redirect(request, views.contract_url(contract.id))
    return _sign_page(request, session, ctx, actor, contract)


def _text(form: PostedForm, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _signature_errors(problem: Problem, signature_type: str) -> tuple[dict[str, str], str]:
    """The ceremony's field errors placed on this form's inputs, and a summary."""
    value_input = "drawn_signature" if signature_type == "drawn" else "typed_name"
    placed = {
        "consent": "consent",
        "signature.value": value_input,
        "signature.type": "signature_type",
        "signature": value_input,
        "reason": "reason",
    }
    errors: dict[str, str] = {}
    other: list[str] = []
    for error in problem.errors or []:
        name = str(error.get("field", ""))
        message = str(error.get("message", "is not valid"))
        if name == "disclosure_version":
            other.append(
                "The disclosure was updated while this page was open. Read the current "
                "text below and accept it again."
            )
        elif name in placed:
            errors.setdefault(placed[name], message)
        else:
            other.append(f"{name}: {message}" if name else message)
    if other:
        return errors, " ".join(other)
    return errors, "Please correct the fields marked below." if errors else problem.detail


@router.post("/contracts/{contract_id}/sign", dependencies=CSRF_CHECKED)
def sign_submit(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    actor: SignedInActor,
    contract_id: str,
    form: PostedForm,
) -> Response:
    contract = load_contract(session, actor, contract_id)
    signature_type = _text(form, "signature_type") or "typed"
    value = _text(form, "drawn_signature" if signature_type == "drawn" else "typed_name")
    version_text = _text(form, "disclosure_version")
    values = {
        "signature_type": signature_type,
        "typed_name": _text(form, "typed_name"),
        "consent": _text(form, "consent"),
    }
    try:
        with savepoint(session):
            signed = esign.sign_contract(
                session,
                actor,
                contract.id,
                esign.SignRequest(
                    consent=_text(form, "consent") == "yes",
                    signature_type=signature_type,
                    signature_value=value,
                    disclosure_version=(
                        int(version_text)
                        if version_text.isdigit() and len(version_text) <= VERSION_DIGITS
                        else None
                    ),
                ),
                client=esign.SigningClient(
                    ip=client_address(request, ctx.settings.trusted_proxies),
                    user_agent=request.headers.get("user-agent"),
                ),
                max_png_bytes=ctx.settings.max_signature_png_bytes,
            )
    except KycNotApproved as problem:
        flash(request, problem.detail, "error")
        return redirect(request, views.contract_url(contract_id, "/sign"))
    except Problem as problem:
        if problem.status == 404:
            raise
        if problem.status != 422:
            flash(request, f"The contract was not signed: {problem.detail}", "error")
            return redirect(request, views.contract_url(contract_id))
        errors, summary = _signature_errors(problem, signature_type)
        return _sign_page(
            request,
            session,
            ctx,
            actor,
            load_contract(session, actor, contract_id),
            values=values,
            errors=errors,
            form_error=summary,
            status_code=422,
        )
    if signed.activated:
        flash(
            request,
            "You signed the contract. Every party has signed: the contract is active and "
            "its payment schedule is ready.",
        )
    else:
        flash(request, "You signed the contract. The next party has been asked to sign.")
    return redirect(request, views.contract_url(contract_id))


@router.post("/contracts/{contract_id}/decline", dependencies=CSRF_CHECKED)
def decline_submit(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    actor: SignedInActor,
    contract_id: str,
    form: PostedForm,
) -> Response:
    contract = load_contract(session, actor, contract_id)
    reason = _text(form, "decline_reason")
    try:
        with savepoint(session):
            esign.decline_contract(session, actor, contract.id, reason=reason)
    except Problem as problem:
        if problem.status == 404:
            raise
        if problem.status != 422:
            flash(request, f"The contract was not declined: {problem.detail}", "error")
            return redirect(request, views.contract_url(contract_id))
        errors, _ = _signature_errors(problem, "typed")
        return detail_with_errors(
            request,
            session,
            ctx,
            actor,
            contract_id,
            values={"decline_reason": reason},
            errors={"decline_reason": errors.get("reason", problem.detail)},
        )
    flash(request, "You declined the contract. The other parties have been told why.")
    return redirect(request, views.contract_url(contract_id))
