"""A contract as HTML (the web preview) and as the PDF that is signed.

`render_contract_html(session, contract)` renders the contract's own template
version in a *sandboxed* Jinja2 environment (autoescape on, StrictUndefined: a
template cannot reach Python internals, user text cannot inject markup, and a
misspelt variable fails loudly rather than printing a blank into a contract),
then wraps it in the print layout. The same string is the preview and the PDF's
source, and it holds no clock value, so rendering a draft twice gives the same
HTML.

`render_contract_pdf(html, roles)` lays it out with WeasyPrint (A4, page X of Y,
the contract id in every footer, font stacks that cover Latin, Greek, Cyrillic
and CJK), then adds one EMPTY PDF signature field per signing role, named after
the role and placed exactly over that role's `<div class="signature-box"
data-role="...">` in the laid-out document. The sealing step signs into those
fields by name. The fields are an incremental update over WeasyPrint's output,
like every later signature.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Final

from jinja2 import StrictUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, append_signature_field
from sqlalchemy.orm import Session

from mindlinks.companies.repository import get_company
from mindlinks.contracts import repository
from mindlinks.contracts.models import Contract, ContractTemplate
from mindlinks.contracts.templates import TemplateFileInvalid, signing_roles, typed_variable_values
from mindlinks.contracts.terms import load_payment_terms
from mindlinks.identity.service import get_user
from mindlinks.notifications.service import settings_for
from mindlinks.platform.money import format_money
from mindlinks.platform.pdf_engine import HTML, URLFetcher

# CSS px (1/96 in) to PDF points (1/72 in).
PX_TO_PT: Final = 0.75
SIGNATURE_BOX_CLASS: Final = "signature-box"
PLATFORM_NAME: Final = "Mind-Links"
ROLE_LABELS: Final[dict[str, str]] = {
    "client": "Client",
    "contractor": "Contractor",
    "eor": "EOR Entity",
}
_CONTRACT_ID = re.compile(r"[0-9a-z]{1,64}")
_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class ContractRenderingError(RuntimeError):
    """The template or its layout cannot make a signable document (a packaging
    error: e.g. a signing role without its signature box)."""


# --- the sandboxed template environment -----------------------------------------


def long_date(value: date | str | None) -> str:
    """`2027-01-01` -> `1 January 2027` (the same in every locale a contract is read in)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def _money(amount_minor: int, currency: str) -> str:
    return format_money(amount_minor, currency)


def _paragraphs(text: str | None) -> Markup:
    """Plain text with blank-line-separated paragraphs as escaped `<p>`s; single
    line breaks are kept as `<br>`."""
    if not text:
        return Markup("")
    blocks = [b.strip() for b in re.split(r"\n\s*\n", str(text).replace("\r\n", "\n"))]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(escape(line) for line in b.split("\n")))
        for b in blocks
        if b
    )


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["money"] = _money
    env.filters["long_date"] = long_date
    env.filters["paragraphs"] = _paragraphs
    return env


@lru_cache(maxsize=64)
def _compiled(body: str) -> Template:
    # Keyed by the text itself: a published version never changes, so a cached
    # compilation can never be stale.
    return _environment().from_string(body)


def check_template_syntax(text: str, *, source: str = "<string>") -> None:
    """Refuse a template file that does not compile in the sandbox."""
    try:
        _environment().parse(text)
    except TemplateSyntaxError as exc:
        raise TemplateFileInvalid(f"{source}:{exc.lineno}: {exc.message}") from exc


# --- the context a template sees ------------------------------------------------


def _party_name(user_id: str | None, session: Session) -> tuple[str | None, str | None]:
    if user_id is None:
        return None, None
    user = get_user(session, user_id)
    return (user.full_name, user.email) if user is not None else (None, None)


def contract_context(session: Session, contract: Contract) -> dict[str, Any]:
    """Everything a contract template may print, as plain data (no ORM objects
    ever enter the sandbox)."""
    template = repository.template_of(session, contract)
    settings = settings_for(session)
    company = get_company(session, contract.company_id)
    parties = {party.role: party for party in repository.parties_of(session, contract.id)}
    client_party = parties.get("client")
    representative, representative_email = _party_name(
        client_party.user_id if client_party else contract.created_by, session
    )
    contractor_name, contractor_email = _party_name(contract.contractor_id, session)
    terms = load_payment_terms(contract.payment_terms).model_dump()
    roles = signing_roles(template.kind)
    party_names = {
        "client": company.legal_name,
        "contractor": contractor_name or "The Contractor",
        "eor": settings.eor_entity_name,
    }
    signer_names = {
        "client": representative,
        "contractor": contractor_name,
        "eor": None,  # the admin who countersigns is known only when they sign
    }
    capacities = {
        "client": f"Authorised signatory for {company.legal_name}",
        "contractor": "Contractor, in their own name",
        "eor": f"Authorised signatory for {settings.eor_entity_name}",
    }
    signatories = [
        {
            "role": role,
            "label": ROLE_LABELS[role],
            "party_name": party_names[role],
            "signer_name": signer_names[role],
            "capacity": capacities[role],
            "position": parties[role].position if role in parties else index,
        }
        for index, role in enumerate(roles)
    ]
    return {
        "contract": {
            "id": contract.id,
            "title": contract.title,
            "scope": contract.scope,
            "start_date": contract.start_date,
            "end_date": contract.end_date,
            "open_ended": contract.end_date is None,
        },
        "template": {
            "key": template.key,
            "name": template.name,
            "kind": template.kind,
            "version": template.version,
            "signing_order": template.signing_order,
        },
        "client": {
            "name": company.legal_name,
            "registration_number": company.registration_number,
            "jurisdiction": company.jurisdiction_code,
            "country": company.country,
            "address": company.registry_address,
            "representative": representative,
            "email": representative_email,
        },
        "contractor": {"name": contractor_name, "email": contractor_email},
        "eor": {"name": settings.eor_entity_name} if template.kind == "eor" else None,
        "platform": {"name": PLATFORM_NAME},
        "payment": terms,
        "variables": typed_variable_values(template, contract.variables or {}),
        "signatories": signatories,
        "sequential": template.signing_order == "sequential",
    }


def render_body(template: ContractTemplate, context: Mapping[str, Any]) -> str:
    return _compiled(template.body).render(context)


_BOX_ROLE = re.compile(
    r"""<div\b[^>]*?\bclass="[^"]*\bsignature-box\b[^"]*"[^>]*?\bdata-role="([a-z]+)"|"""
    r"""<div\b[^>]*?\bdata-role="([a-z]+)"[^>]*?\bclass="[^"]*\bsignature-box\b"""
)

_SIGNATURES_BLOCK: Final = """<section class="signatures">
<h2>Signatures</h2>
{% for signatory in signatories %}
<div class="signatory">
  <p class="party">{{ signatory.label }}: {{ signatory.party_name }}</p>
  <div class="signature-box" data-role="{{ signatory.role }}"></div>
  <p class="line">Name: {{ signatory.signer_name or "________________________________" }}</p>
  <p class="line">Capacity: {{ signatory.capacity }}</p>
</div>
{% endfor %}
</section>
"""


def boxed_roles(body: str) -> list[str]:
    """The roles that have a signature box in rendered HTML, in document order."""
    return [a or b for a, b in _BOX_ROLE.findall(body)]


def render_contract_html(session: Session, contract: Contract) -> str:
    """The contract's complete HTML document: its template version's body in the
    print layout. Deterministic for a given contract state.

    A template that does not place a signing role's signature box gets the
    standard signatures block for those roles at its end, so every sent PDF has a
    field for every role."""
    template = repository.template_of(session, contract)
    context = contract_context(session, contract)
    body = render_body(template, context)
    present = set(boxed_roles(body))
    missing = [s for s in context["signatories"] if s["role"] not in present]
    if missing:
        body += _compiled(_SIGNATURES_BLOCK).render(signatories=missing)
    return wrap_document(body, contract_id=contract.id, title=contract.title)


# --- the print layout -------------------------------------------------------------

SERIF_STACK: Final = '"DejaVu Serif", "Noto Serif CJK SC", "Noto Sans CJK SC", "DejaVu Sans", serif'
SANS_STACK: Final = '"DejaVu Sans", "Noto Sans CJK SC", "Noto Serif CJK SC", sans-serif'

_CSS: Final = """
@page {
  size: A4;
  margin: 24mm 20mm 26mm 20mm;
  @top-left {
    content: string(document-title);
    font: 7.5pt %(sans)s; color: #5b6470;
  }
  @top-right {
    content: "%(platform)s";
    font: 7.5pt %(sans)s; color: #5b6470;
  }
  @bottom-left {
    content: "Contract %(contract_id)s";
    font: 7.5pt %(sans)s; color: #5b6470;
  }
  @bottom-right {
    content: "Page " counter(page) " of " counter(pages);
    font: 7.5pt %(sans)s; color: #5b6470;
  }
}
html { font-family: %(serif)s; font-size: 10pt; line-height: 1.42; color: #1b1f24; }
body { margin: 0; }
h1 {
  string-set: document-title content(text);
  font-family: %(sans)s; font-size: 17pt; line-height: 1.2;
  margin: 0 0 2mm 0; color: #0b3a53;
}
h2 {
  font-family: %(sans)s; font-size: 11pt; margin: 6mm 0 2mm 0; color: #0b3a53;
  break-after: avoid;
}
h3 { font-family: %(sans)s; font-size: 10pt; margin: 4mm 0 1mm 0; break-after: avoid; }
p { margin: 0 0 2.2mm 0; text-align: justify; orphans: 2; widows: 2; }
ol, ul { margin: 0 0 2.2mm 0; padding-left: 6mm; }
li { margin-bottom: 1mm; }
.subtitle { font-family: %(sans)s; color: #5b6470; font-size: 9pt; margin-bottom: 6mm; }
.parties { margin: 3mm 0 4mm 0; }
.parties li { margin-bottom: 2mm; }
table { width: 100%%; border-collapse: collapse; margin: 2mm 0 3mm 0; font-size: 9.5pt; }
th, td { border: 0.5pt solid #b7bec7; padding: 1.4mm 2mm; text-align: left; vertical-align: top; }
th { background: #eef2f5; font-family: %(sans)s; font-weight: bold; }
td.amount, th.amount { text-align: right; white-space: nowrap; }
.scope { border-left: 2pt solid #b7bec7; padding-left: 3mm; margin: 2mm 0 3mm 0; }
.signatures { break-before: auto; }
.signatory { break-inside: avoid; margin: 5mm 0 4mm 0; }
/* Serif like the names in the body: a CJK name then needs two CJK faces, not three
   (each embedded CJK face costs a subset of a 20 MB font). */
.signatory .party { font-weight: bold; margin-bottom: 1.5mm; }
.signature-box {
  width: 80mm; height: 26mm;
  border: 0.6pt solid #4a5563; background: #f7f9fb;
  margin: 0 0 1.5mm 0;
}
.signatory .line { margin: 0 0 0.8mm 0; font-size: 9pt; text-align: left; }
.note { font-size: 8.5pt; color: #5b6470; }
@media screen {
  /* The web preview: the page's width and margins, on a sheet. */
  html { background: #e9edf1; }
  body { max-width: 170mm; margin: 6mm auto; padding: 18mm 20mm; background: #fff;
         box-shadow: 0 1px 4px rgba(0, 0, 0, 0.15); }
}
"""

_LAYOUT: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<meta name="generator" content="{{ platform }}">
<meta name="description" content="Contract {{ contract_id }}">
<style>{{ css }}</style>
</head>
<body>
<main class="contract" data-contract-id="{{ contract_id }}">
{{ body }}
</main>
</body>
</html>
"""


@lru_cache(maxsize=1)
def _layout() -> Template:
    return _environment().from_string(_LAYOUT)


def wrap_document(body: str, *, contract_id: str, title: str) -> str:
    if not _CONTRACT_ID.fullmatch(contract_id):
        # It is printed inside a CSS string: only an id of our own alphabet goes there.
        raise ContractRenderingError(f"unexpected contract id {contract_id!r}")
    css = _CSS % {
        "serif": SERIF_STACK,
        "sans": SANS_STACK,
        "platform": PLATFORM_NAME,
        "contract_id": contract_id,
    }
    return _layout().render(
        title=title,
        platform=PLATFORM_NAME,
        contract_id=contract_id,
        css=Markup(css),  # noqa: S704 - our constant, with only an id checked above
        body=Markup(body),  # noqa: S704 - the sandbox's autoescaped output
    )


# --- PDF ------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureBox:
    """Where a role's signature field goes: page index and PDF rectangle in points
    (x1, y1, x2, y2), origin bottom-left."""

    role: str
    page_index: int
    rect: tuple[int, int, int, int]


class _NoFetching(URLFetcher):  # type: ignore[misc]
    """A contract is self-contained: no image, font or stylesheet is ever fetched
    (no file://, no network, not even data:), whatever a template or its values
    hold. WeasyPrint logs the refusal and lays out the rest."""

    def fetch(self, url: str, headers: Any = None) -> Any:
        raise ValueError(f"contract documents load no external resources ({url[:80]})")


_NO_FETCHING: Final = _NoFetching(allowed_protocols=())


def _element_boxes(box: Any, parent_element: Any = None) -> Iterator[tuple[Any, Any]]:
    """(box, element) for every box that an element generated itself; anonymous
    boxes (line boxes inside a div, say) share their parent's element and are
    skipped, so one element on one page yields one box."""
    element = getattr(box, "element", None)
    if element is not None and element is not parent_element:
        yield box, element
    for child in getattr(box, "children", None) or ():
        yield from _element_boxes(child, element)


def signature_boxes(document: Any) -> dict[str, list[SignatureBox]]:
    """Every `.signature-box[data-role]` of a laid-out WeasyPrint document."""
    found: dict[str, list[SignatureBox]] = {}
    for index, page in enumerate(document.pages):
        page_height = page.height
        for box, element in _element_boxes(page._page_box):
            classes = (element.get("class") or "").split()
            role = element.get("data-role")
            if SIGNATURE_BOX_CLASS not in classes or not role:
                continue
            x, y = box.border_box_x(), box.border_box_y()
            width, height = box.border_width(), box.border_height()
            if width <= 0 or height <= 0:
                continue
            # Whole points (pyHanko's field boxes are integers): at most half a
            # point off the drawn box, invisible under the stamped appearance.
            rect = (
                round(x * PX_TO_PT),
                round((page_height - y - height) * PX_TO_PT),
                round((x + width) * PX_TO_PT),
                round((page_height - y) * PX_TO_PT),
            )
            found.setdefault(role, []).append(SignatureBox(role, index, rect))
    return found


def render_contract_pdf(html: str, roles: Sequence[str]) -> bytes:
    """The PDF of `html`, with one empty signature field per role (named after it)
    over that role's signature box. `ContractRenderingError` when a role has no
    box, or several."""
    document = HTML(string=html, url_fetcher=_NO_FETCHING).render()
    boxes = signature_boxes(document)
    placements: list[SignatureBox] = []
    for role in roles:
        found = boxes.get(role, [])
        if len(found) != 1:
            raise ContractRenderingError(
                f"the document has {len(found)} signature boxes for role {role!r}; "
                "it needs exactly one"
            )
        placements.append(found[0])
    laid_out = document.write_pdf()
    writer = IncrementalPdfFileWriter(io.BytesIO(laid_out))
    for placement in placements:
        append_signature_field(
            writer,
            SigFieldSpec(
                sig_field_name=placement.role,
                on_page=placement.page_index,
                box=placement.rect,
            ),
        )
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def render_contract_document(session: Session, contract: Contract) -> tuple[str, bytes]:
    """(HTML, PDF) of a contract, with a signature field for each of its roles."""
    html = render_contract_html(session, contract)
    template = repository.template_of(session, contract)
    return html, render_contract_pdf(html, signing_roles(template.kind))
