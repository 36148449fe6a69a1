"""The certificate of completion: how a contract was signed, on one or two pages.

The content of DocuSign's Certificate of Completion, for one contract: the
document (id, title, file name, SHA-256 of the exact bytes signed, pages), its
status and timeline, and for every signer their role, name, email, how their
identity was verified (the KYC session, provider and decision time for a
contractor; the verified email of their platform account for the client; the
administrator acting for the EOR entity), their consent to sign electronically
(disclosure version and hash, acceptance time), the signature (typed or drawn,
with the drawing), when, from which IP address and user agent, the ledger seq of
its `contract.signed` entry and the serial and fingerprint of the certificate
the platform CA issued for it. The platform seal and CA fingerprints close it.

`render_completion_pdf(data)` is pure: a Jinja2 template (autoescaped; names and
user agents are user input) laid out by WeasyPrint with the contract's font
stacks, so names in any script render. It fetches nothing: the drawn signature
travels inside the HTML as a data: URI and any other URL is refused.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mindlinks.platform.pdf_engine import HTML, URLFetcher

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
TEMPLATE_NAME: Final = "certificate_of_completion.html"
# The contract's font stacks, with one CJK face only: WeasyPrint embeds a subset of
# every face it uses, and subsetting a Noto CJK font is the slowest step of a render.
SANS_STACK: Final = '"DejaVu Sans", "Noto Sans CJK SC", sans-serif'
SCRIPT_STACK: Final = '"DejaVu Serif", "Noto Sans CJK SC", "DejaVu Sans", serif'
ROLE_LABELS: Final[dict[str, str]] = {
    "client": "Client",
    "contractor": "Contractor",
    "eor": "EOR Entity",
}


@dataclass(frozen=True)
class CompletionSigner:
    """One signer's record on the certificate."""

    role: str
    name: str
    email: str
    identity: str  # how the identity was verified, in words
    signature_id: str
    signature_type: str  # typed | drawn
    signed_at: datetime
    disclosure_version: int
    disclosure_sha256: str
    consent_accepted_at: datetime
    certificate_serial: str
    certificate_sha256: str
    organization: str | None = None
    typed_name: str | None = None
    drawn_png: bytes | None = None
    kyc_session_id: str | None = None
    kyc_provider: str | None = None
    kyc_decided_at: datetime | None = None
    kyc_ledger_seq: int | None = None
    ip: str | None = None
    user_agent: str | None = None
    ledger_seq: int | None = None
    document_sha256: str | None = None  # the hash this signer signed


@dataclass(frozen=True)
class CompletionData:
    """Everything the certificate of completion states."""

    contract_id: str
    title: str
    document_name: str
    document_sha256: str
    page_count: int
    status: str
    signers: Sequence[CompletionSigner]
    generated_at: datetime
    template_name: str | None = None
    template_version: int | None = None
    company_name: str | None = None
    signing_order: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None
    fully_signed_at: datetime | None = None
    activated_at: datetime | None = None
    activated_ledger_seq: int | None = None
    platform_ca_sha256: str | None = None
    platform_seal_sha256: str | None = None
    ledger_origin: str | None = None
    notes: Sequence[str] = field(default_factory=tuple)


def rfc3339(value: datetime | None) -> str:
    """UTC, seconds precision, `Z` (how every time on the certificate reads)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _png_data_uri(png: bytes | None) -> str | None:
    if not png or not png.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["rfc3339"] = rfc3339
    env.filters["png_data_uri"] = _png_data_uri
    env.filters["role_label"] = lambda role: ROLE_LABELS.get(role, role)
    return env


def render_completion_html(data: CompletionData) -> str:
    return (
        _environment()
        .get_template(TEMPLATE_NAME)
        .render(data=data, script=SCRIPT_STACK, sans=SANS_STACK)
    )


def render_completion_pdf(data: CompletionData) -> bytes:
    """The certificate of completion as a PDF (pure: the same data, the same text)."""
    html = render_completion_html(data)
    # The certificate is self-contained: only the inline drawings (data: URIs) load,
    # never a file or a network address, whatever the data holds.
    fetcher = URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf()
    return pdf
