"""Sealing test data: sent PDFs with empty signature fields, signers, and a fully
signed, stored contract ready to seal."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigFieldSpec, append_signature_field
from sqlalchemy.orm import Session
from weasyprint import HTML

from mindlinks.contracts.documents import store_document
from mindlinks.contracts.models import Contract
from mindlinks.esign.sealing import SignerSeal
from mindlinks.identity.models import User
from mindlinks.platform.context import AppContext
from tests.esign.factories import Deal, make_admin, make_deal, send, sign, typed

MM = 72 / 25.4
A4_HEIGHT = 297 * MM
# Where each role's box sits on the last page: (left, top) in mm, 80 x 26 mm.
BOXES = {"client": (20, 200), "contractor": (110, 200), "eor": (20, 240)}
SIGNED_AT = datetime(2027, 1, 4, 9, 30, 15, tzinfo=UTC)


@lru_cache(maxsize=8)
def sent_pdf(roles: tuple[str, ...] = ("client", "contractor"), pages: int = 1) -> bytes:
    """A WeasyPrint PDF with one empty signature field per role over its box on the
    last page (rendered once per process: WeasyPrint is slow)."""
    laid_out = HTML(string=_last_page_boxes(roles, pages)).write_pdf()
    writer = IncrementalPdfFileWriter(io.BytesIO(laid_out))
    for role in roles:
        left, top = BOXES[role]
        x1, y2 = left * MM, A4_HEIGHT - top * MM
        box = (round(x1), round(y2 - 26 * MM), round(x1 + 80 * MM), round(y2))
        append_signature_field(
            writer, SigFieldSpec(sig_field_name=role, on_page=pages - 1, box=box)
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _last_page_boxes(roles: tuple[str, ...], pages: int) -> str:
    boxes = "".join(
        f'<div class="box" style="left:{BOXES[r][0]}mm;top:{BOXES[r][1]}mm">{r}</div>'
        for r in roles
    )
    sections = [
        f"<section><h1>Services agreement</h1><p>Page {n + 1}: the parties agree.</p>"
        + (boxes if n == pages - 1 else "")
        + "</section>"
        for n in range(pages)
    ]
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
      @page {{ size: A4; margin: 0 }}
      body {{ margin: 0; font-family: "DejaVu Serif" }}
      section {{ position: relative; height: 297mm; padding: 20mm; box-sizing: border-box;
                 page-break-after: always }}
      section:last-of-type {{ page-break-after: auto }}
      .box {{ position: absolute; width: 80mm; height: 26mm; border: 0.6pt solid #4a5563;
              background: #f7f9fb; font: 7pt "DejaVu Sans"; color: #8a929c }}
    </style></head><body>{"".join(sections)}</body></html>"""


def page_count(pdf: bytes) -> int:
    return int(PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Count"])


def signer(role: str, name: str, **fields: object) -> SignerSeal:
    values: dict[str, object] = {
        "role": role,
        "name": name,
        "email": f"{role}@example.com",
        "signed_at": SIGNED_AT,
        "reason": f"Signed as {role}",
        "contract_id": "01jcontract0000000000000000",
        "signature_id": f"01jsignature{role}",
        "typed_name": name,
    }
    values.update(fields)
    return SignerSeal(**values)  # type: ignore[arg-type]


@dataclass
class SignedDeal:
    deal: Deal
    sent_pdf: bytes
    admin: User | None = None

    @property
    def contract(self) -> Contract:
        return self.deal.contract


def signed_deal(
    session: Session,
    app_context: AppContext,
    *,
    kind: str = "direct",
    contractor_name: str | None = None,
    contractor_signature: dict[str, str] | None = None,
) -> SignedDeal:
    """A contract whose sent PDF is stored and that every party signed through the
    real ceremony (consents, signatures, ledger entries, activation)."""
    deal = make_deal(session, app_context, kind=kind, sent=False)
    if contractor_name is not None:
        deal.contractor.full_name = contractor_name
        session.flush()
    roles = ("client", "contractor", "eor") if kind == "eor" else ("client", "contractor")
    pdf = sent_pdf(roles)
    store_document(session, app_context, deal.contract.id, "sent", pdf)
    send(session, deal.contract, pdf=pdf)
    sign(session, deal.client, deal.contract)
    sign(
        session,
        deal.contractor,
        deal.contract,
        signature=contractor_signature or typed(deal.contractor.full_name),
    )
    admin = None
    if kind == "eor":
        admin = make_admin(session)
        sign(session, admin, deal.contract, role="eor")
    session.refresh(deal.contract)
    return SignedDeal(deal, pdf, admin)
