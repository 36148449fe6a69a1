"""The PDF half of the offline evidence verifier: pyHanko reads and validates.

Standalone like `evidence_verify` (the standard library, `cryptography`, pyHanko,
pyhanko-certvalidator and asn1crypto only). It reports facts about each embedded
signature; `evidence_verify` judges them against the audit trail.

A signature is judged valid when pyHanko finds it intact (the signed bytes are
unchanged), valid (the CMS signature verifies), trusted (its certificate chains to
one of the given CA certificates; nothing is fetched), and every later revision
makes only the changes its DocMDP permissions allow. Revocation is not checked
offline (there is nothing to fetch it from); the platform issues each signer a
one-use certificate whose key is destroyed after signing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_NAME_TREE_DEPTH = 16


class PdfUnreadable(Exception):
    """The bytes are not a PDF pyHanko can read."""


@dataclass
class PdfSignature:
    field_name: str
    byte_range: tuple[int, ...]
    is_timestamp: bool
    covers_entire_file: bool
    ok: bool
    problems: list[str] = field(default_factory=list)
    summary: str = ""
    emails: tuple[str, ...] = ()
    common_name: str = ""
    unit: str = ""  # organizationalUnitName: the platform names the signer's role there
    timestamped: bool = False

    @property
    def signed_end(self) -> int:
        """Where the signed bytes end (the end of the revision it signs)."""
        if len(self.byte_range) != 4:
            return 0
        return self.byte_range[2] + self.byte_range[3]


def _text(value: object) -> str:
    if isinstance(value, list):  # a repeated attribute
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _set_identity(result: PdfSignature, cert: Any) -> None:
    """Email addresses (subject and rfc822Name SAN), common name and unit of the signer."""
    subject = cert.subject.native
    emails = [_text(subject.get("email_address"))]
    for general_name in cert.subject_alt_name_value or []:
        if general_name.name == "rfc822_name":
            emails.append(str(general_name.native))
    result.emails = tuple(dict.fromkeys(e.casefold() for e in emails if e))
    result.common_name = _text(subject.get("common_name"))
    result.unit = _text(subject.get("organizational_unit_name"))


def _judge(status: Any) -> list[str]:
    problems = []
    if not status.intact:
        problems.append("not intact: the bytes it signed have changed")
    if not status.valid:
        problems.append("cryptographically invalid")
    if not status.trusted:
        problems.append("its certificate does not chain to the trusted CA")
    if status.modification_level is not None and not status.docmdp_ok:
        problems.append(
            f"a later revision makes changes it does not allow ({status.modification_level.name})"
        )
    if status.seed_value_constraint_error is not None:
        problems.append(f"seed value constraint: {status.seed_value_constraint_error}")
    return problems


def read_signatures(pdf: bytes, trust_roots: Sequence[Any]) -> list[PdfSignature]:
    """Every embedded signature in signing order, each validated against `trust_roots`."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import (
        SignatureCoverageLevel,
        validate_pdf_signature,
        validate_pdf_timestamp,
    )
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # pyHanko raises many types on malformed input
        raise PdfUnreadable(f"{type(exc).__name__}: {exc}") from None
    results = []
    for sig in embedded:
        try:
            byte_range = tuple(int(n) for n in sig.byte_range)
        except (TypeError, ValueError):
            byte_range = ()
        is_timestamp = sig.sig_object_type == "/DocTimeStamp"
        result = PdfSignature(sig.field_name or "?", byte_range, is_timestamp, False, False)
        status: Any
        try:
            context = ValidationContext(trust_roots=list(trust_roots), allow_fetching=False)
            if is_timestamp:
                status = validate_pdf_timestamp(sig, validation_context=context)
            else:
                status = validate_pdf_signature(sig, context)
                _set_identity(result, sig.signer_cert)
                result.timestamped = status.timestamp_validity is not None
            result.covers_entire_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
            result.problems = _judge(status)
            result.summary = status.summary()
        except Exception as exc:  # a signature pyHanko cannot even evaluate is invalid
            result.problems = [f"cannot be validated: {type(exc).__name__}: {exc}"]
        result.ok = not result.problems
        results.append(result)
    return results


def _resolve(obj: Any) -> Any:
    return obj.get_object() if hasattr(obj, "get_object") else obj


def embedded_files(pdf: bytes) -> dict[str, bytes]:
    """Files attached to the PDF (the /EmbeddedFiles name tree), by name."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        root = PdfFileReader(io.BytesIO(pdf)).root
        names = _resolve(root.get("/Names"))
        tree = _resolve(names.get("/EmbeddedFiles")) if names is not None else None
    except Exception as exc:  # pyHanko raises many types on malformed input
        raise PdfUnreadable(f"{type(exc).__name__}: {exc}") from None
    found: dict[str, bytes] = {}

    def walk(node: Any, depth: int) -> None:
        if node is None or depth > MAX_NAME_TREE_DEPTH:
            return
        pairs = list(_resolve(node.get("/Names")) or [])
        for key, spec in zip(pairs[::2], pairs[1::2], strict=False):
            spec = _resolve(spec)
            stream = _resolve(_resolve(spec.get("/EF", {})).get("/F"))
            if stream is not None:
                found[str(key)] = bytes(stream.data)
        for kid in _resolve(node.get("/Kids")) or []:
            walk(_resolve(kid), depth + 1)

    try:
        walk(tree, 0)
    except Exception as exc:  # pyHanko raises many types on malformed input
        raise PdfUnreadable(f"bad embedded file tree: {type(exc).__name__}: {exc}") from None
    return found
