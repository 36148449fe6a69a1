"""The sealed PDF: one PAdES signature per signer, then the platform seal (pure).

`seal_document(sent_pdf, signers, authority, completion_pdf, tsa_url)` answers the
sent PDF followed by incremental updates, so its first bytes are the sent PDF
exactly and `document_sha256` stays checkable:

1. (if given) the certificate of completion, attached as an embedded file
   `certificate-of-completion.pdf`;
2. for each signer, in signing order: a PAdES baseline B-B signature
   (ETSI.CAdES.detached, SHA-256) in the empty field named after the role, made
   with a one-use key and a certificate the platform CA issues to that signer's
   verified identity (see `pki`), with the signer's stamp drawn in the field
   (see `stamps`). A role whose field is missing gets a new visible field at the
   foot of the last page rather than failing;
3. the platform seal: an approval signature over the whole file in a new
   invisible field `platform-seal`, with the platform seal certificate, and an
   RFC 3161 signature timestamp when `tsa_url` is set (PAdES B-T).

Why the attachment comes first: a validator compares every later revision with
the one a signature covers, and a new `/Names` entry in the catalog after a
signature is not a form-filling change, so pyHanko (and Acrobat) would report each
signer's signature as "modified after signing". Attached before them, it is
covered by every signature and each later revision only fills a signature field.
The certificate of completion names the signer certificates' serials and
fingerprints, so the certificates are issued first (`issue_signer_certificates`)
and passed in with `issued=`.

Why the seal is an approval signature: a certification (DocMDP) signature must be
the first signature in a file, and ours comes last. A locking approval signature
(PDF 2.0 /Lock) was considered and not used: it would forbid the document
security store and archive timestamps that long-term validation adds later.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import aiohttp
from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import AxisAlignment, BoxConstraints, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from mindlinks.esign.pki import (
    SigningAuthority,
    certificate_sha256,
    issue_signer_certificate,
    serial_hex,
)
from mindlinks.esign.stamps import render_stamp
from mindlinks.platform.clock import now

SEAL_FIELD: Final = "platform-seal"
COMPLETION_FILE_NAME: Final = "certificate-of-completion.pdf"
SEAL_REASON: Final = (
    "Sealed by Mind-Links: every signature above was made through its signing "
    "ceremony; the attached certificate of completion records how"
)
DIGEST: Final = "sha256"
# Where a field is added for a role the sent PDF has no field for: a row at the
# foot of the last page, in points.
_NEW_FIELD_WIDTH: Final = 170
_NEW_FIELD_HEIGHT: Final = 56
_NEW_FIELD_MARGIN: Final = 24


class SealingError(RuntimeError):
    """The sent PDF cannot be sealed as asked (unreadable, a field already signed,
    signers that do not match their certificates, a TSA that does not answer)."""


class TimestampUnavailable(SealingError):
    """The time-stamping authority failed: unreachable, an HTTP error, a refusal,
    or an answer that does not parse."""


class _TimeStamper(HTTPTimeStamper):
    """pyHanko's HTTP client, with every way a TSA can fail turned into one error."""

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
        try:
            return await super().async_timestamp(message_digest, md_algorithm)
        except (TimestampRequestError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise TimestampUnavailable(
                f"the time-stamping authority at {self.url} failed: {exc!r}"
            ) from exc


@dataclass(frozen=True)
class SignerSeal:
    """One signer's signature as the ceremony recorded it: who, in which role, when,
    and what they drew or typed. `organization` is whom they sign for (the client
    company, the EOR entity), printed in their certificate."""

    role: str
    name: str
    email: str
    signed_at: datetime
    reason: str
    contract_id: str
    signature_id: str
    kyc_session_id: str | None = None
    location: str | None = None
    typed_name: str | None = None
    drawn_png: bytes | None = field(default=None, repr=False)
    organization: str | None = None


@dataclass(frozen=True)
class IssuedSignerCertificate:
    """A signer, the one-use key made for their signature and its certificate."""

    signer: SignerSeal
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    certificate: x509.Certificate

    @property
    def serial_hex(self) -> str:
        return serial_hex(self.certificate)

    @property
    def sha256_fingerprint(self) -> str:
        return certificate_sha256(self.certificate)


def issue_signer_certificates(
    authority: SigningAuthority, signers_: Sequence[SignerSeal], *, at: datetime | None = None
) -> list[IssuedSignerCertificate]:
    """A fresh key and certificate for each signer (in the given order)."""
    at = at or now()
    issued = []
    for signer in signers_:
        key, certificate = issue_signer_certificate(
            authority,
            name=signer.name,
            email=signer.email,
            role=signer.role,
            contract_id=signer.contract_id,
            kyc_session_id=signer.kyc_session_id,
            signature_id=signer.signature_id,
            organization=signer.organization,
            at=at,
        )
        issued.append(IssuedSignerCertificate(signer, key, certificate))
    return issued


def _asn1_cert(cert: x509.Certificate) -> Any:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _simple_signer(
    key: PrivateKeyTypes, cert: x509.Certificate, chain: Sequence[x509.Certificate]
) -> signers.SimpleSigner:
    # The key exists only in memory, here as PKCS#8 DER for pyHanko's signer.
    key_info = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return signers.SimpleSigner(
        signing_cert=_asn1_cert(cert),
        signing_key=key_info,
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [_asn1_cert(c) for c in chain]
        ),
    )


def _room_for_cms(cert: x509.Certificate, chain: Sequence[x509.Certificate]) -> int:
    """Hex characters to reserve for a CMS signature without a timestamp: its
    certificates plus a generous 3 KiB for attributes and the signature value.
    Computed, because pyHanko's estimate signs a dummy first, a third of the time
    of a signature."""
    certificates = sum(len(c.public_bytes(serialization.Encoding.DER)) for c in (cert, *chain))
    return 2 * (certificates + 3072)


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _open(data: bytes) -> IncrementalPdfFileWriter:
    try:
        return IncrementalPdfFileWriter(io.BytesIO(data))
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise SealingError(f"the document is not a PDF pyHanko can update: {exc}") from exc


def page_count(pdf: bytes) -> int:
    """Pages of a PDF (for the certificate of completion)."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        return int(reader.root["/Pages"]["/Count"])
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise SealingError(f"the document is not a readable PDF: {exc}") from exc


def _attach_completion(data: bytes, completion_pdf: bytes, at: datetime) -> bytes:
    writer = _open(data)
    stream = embed.EmbeddedFileObject.from_file_data(
        writer,
        data=completion_pdf,
        mime_type="application/pdf",
        params=embed.EmbeddedFileParams(creation_date=at, modification_date=at),
    )
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string=COMPLETION_FILE_NAME,
            file_name=COMPLETION_FILE_NAME,
            embedded_data=stream,
            description="Certificate of completion",
        ),
    )
    return _written(writer)


def _field_size(writer: IncrementalPdfFileWriter, name: str) -> tuple[float, float] | None:
    """(width, height) of the empty signature field `name`; None if there is none.
    SealingError if it is already signed."""
    found = list(fields.enumerate_sig_fields(writer, with_name=name))
    if not found:
        return None
    _, value, field_ref = found[0]
    if value:
        raise SealingError(f"the signature field {name!r} is already signed")
    sig_field = field_ref.get_object()
    widget = sig_field
    if "/Rect" not in sig_field and "/Kids" in sig_field:
        widget = sig_field["/Kids"][0].get_object()
    try:
        x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    except (KeyError, ValueError, TypeError):
        return 0.0, 0.0
    return abs(x2 - x1), abs(y2 - y1)


def _new_field_spec(writer: IncrementalPdfFileWriter, name: str, slot: int) -> SigFieldSpec:
    """A visible field for `name` at the foot of the last page, `slot` places in."""
    pages = writer.root["/Pages"]
    last = int(pages["/Count"]) - 1
    page_ref = writer.find_page_for_modification(last)[0]  # type: ignore[no-untyped-call]
    page = page_ref.get_object()
    x1, _, x2, _ = (float(v) for v in page.get("/MediaBox", (0, 0, 595, 842)))
    per_row = max(1, int((x2 - x1 - _NEW_FIELD_MARGIN) // (_NEW_FIELD_WIDTH + 8)))
    column, row = slot % per_row, slot // per_row
    left = x1 + _NEW_FIELD_MARGIN + column * (_NEW_FIELD_WIDTH + 8)
    bottom = 8 + row * (_NEW_FIELD_HEIGHT + 4)
    box = (
        int(left),
        int(bottom),
        int(left + _NEW_FIELD_WIDTH),
        int(bottom + _NEW_FIELD_HEIGHT),
    )
    return SigFieldSpec(sig_field_name=name, on_page=last, box=box)


def _stamp_style(issued: IssuedSignerCertificate, size: tuple[float, float]) -> StaticStampStyle:
    width, height = size
    signer = issued.signer
    picture = render_stamp(
        width_pt=width,
        height_pt=height,
        name=signer.name,
        signed_at=signer.signed_at,
        role=signer.role,
        typed_name=signer.typed_name,
        drawn_png=signer.drawn_png,
    )
    return StaticStampStyle(
        background=PdfImage(picture, box=BoxConstraints(width=width, height=height)),
        background_opacity=1.0,
        border_width=0,
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins(left=0, right=0, top=0, bottom=0),
        ),
    )


def _sign_field(
    data: bytes,
    issued: IssuedSignerCertificate,
    authority: SigningAuthority,
    missing_slot: int,
) -> tuple[bytes, bool]:
    """Sign the signer's field; (new bytes, whether a field had to be added)."""
    signer = issued.signer
    writer = _open(data)
    size = _field_size(writer, signer.role)
    new_spec = None
    if size is None:
        new_spec = _new_field_spec(writer, signer.role, missing_slot)
        assert new_spec.box is not None
        x1, y1, x2, y2 = new_spec.box
        size = (float(x2 - x1), float(y2 - y1))
    style = _stamp_style(issued, size) if size[0] > 0 and size[1] > 0 else None
    meta = signers.PdfSignatureMetadata(
        field_name=signer.role,
        md_algorithm=DIGEST,
        subfilter=SigSeedSubFilter.PADES,
        reason=signer.reason,
        location=signer.location,
        name=signer.name,
    )
    pdf_signer = signers.PdfSigner(
        meta,
        _simple_signer(issued.private_key, issued.certificate, authority.signer_chain),
        stamp_style=style,
        new_field_spec=new_spec,
    )
    out = pdf_signer.sign_pdf(
        writer,
        existing_fields_only=new_spec is None,
        bytes_reserved=_room_for_cms(issued.certificate, authority.signer_chain),
    )
    return out.getvalue(), new_spec is not None


def _seal(
    data: bytes, authority: SigningAuthority, tsa_url: str | None, tsa_timeout: float
) -> bytes:
    writer = _open(data)
    if list(fields.enumerate_sig_fields(writer, with_name=SEAL_FIELD)):
        raise SealingError(f"the document already has a {SEAL_FIELD!r} field")
    meta = signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD,
        md_algorithm=DIGEST,
        subfilter=SigSeedSubFilter.PADES,
        reason=SEAL_REASON,
        name="Mind-Links",
    )
    timestamper = _TimeStamper(tsa_url, timeout=tsa_timeout) if tsa_url else None
    pdf_signer = signers.PdfSigner(
        meta,
        _simple_signer(authority.seal_key, authority.seal_cert, authority.seal_chain),
        timestamper=timestamper,
        new_field_spec=SigFieldSpec(sig_field_name=SEAL_FIELD),
    )
    # A timestamp token's size is the TSA's business: then pyHanko measures one.
    reserved = None if tsa_url else _room_for_cms(authority.seal_cert, authority.seal_chain)
    return bytes(pdf_signer.sign_pdf(writer, bytes_reserved=reserved).getvalue())


def _check_signers(
    signers_: Sequence[SignerSeal], issued: Sequence[IssuedSignerCertificate] | None
) -> None:
    if not signers_:
        raise SealingError("a sealed document needs at least one signer")
    roles = [s.role for s in signers_]
    if len(set(roles)) != len(roles):
        raise SealingError(f"each role signs once; got {roles}")
    for role in roles:
        if not role or "." in role or role == SEAL_FIELD:
            raise SealingError(f"{role!r} cannot name a signature field")
    if issued is not None and [i.signer for i in issued] != list(signers_):
        raise SealingError("the issued certificates are not for these signers, in this order")


def seal_document(
    sent_pdf: bytes,
    signers: Sequence[SignerSeal],
    authority: SigningAuthority,
    completion_pdf: bytes | None = None,
    tsa_url: str | None = None,
    *,
    issued: Sequence[IssuedSignerCertificate] | None = None,
    tsa_timeout: float = 10.0,
) -> bytes:
    """The sealed PDF (see the module). `signers` in signing order; `issued`, the
    certificates made for them beforehand (fresh ones are issued otherwise).

    Runs pyHanko's synchronous API, which drives its own event loop: call it from
    a worker thread, never from inside a running event loop."""
    _check_signers(signers, issued)
    if issued is None:
        issued = issue_signer_certificates(authority, signers)
    at = now()
    data = sent_pdf
    try:
        if completion_pdf is not None:
            data = _attach_completion(data, completion_pdf, at)
        added = 0
        for one in issued:
            data, was_added = _sign_field(data, one, authority, added)
            added += int(was_added)
        sealed = _seal(data, authority, tsa_url, tsa_timeout)
    except SealingError:
        raise
    except (SigningError, PdfError) as exc:
        raise SealingError(f"pyHanko could not sign: {exc}") from exc
    if not sealed.startswith(sent_pdf):
        raise SealingError("the sealed PDF does not start with the sent PDF")
    return sealed


def embedded_completion(sealed_pdf: bytes) -> bytes | None:
    """The certificate of completion attached to a sealed PDF, if any."""
    reader = PdfFileReader(io.BytesIO(sealed_pdf))
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError:
        return None
    for index in range(0, len(names) - 1, 2):
        if str(names[index]) == COMPLETION_FILE_NAME:
            spec = names[index + 1].get_object()
            stream = spec["/EF"]["/F"].get_object()
            assert isinstance(stream, generic.StreamObject)
            return bytes(stream.data)
    return None
