"""Offline verifier of Mind-Links evidence bundles: no database, no network, no app.

It imports the standard library, `cryptography`, pyHanko / pyhanko-certvalidator /
asn1crypto, its PDF half (`evidence_verify_pdf.py`) and the standalone ledger
verifier (`mindlinks/ledger/verifier.py`), and nothing else of Mind-Links, so the
three files can ship alone, side by side:
`python evidence_verify.py BUNDLE.zip --ledger-key VKEY --ca platform-ca.pem`.
`mindlinks evidence verify` runs the same code.

A bundle (`GET /api/contracts/{id}/evidence`) is a zip of: `contract.pdf` (the
sealed PDF), `certificate-of-completion.pdf`, `audit-trail.json`,
`ledger-proofs.json` (a list of `mindlinks-ledger-proof/1` bundles, one per ledger
entry of the contract), `checkpoint.txt` (the C2SP signed note they verify
against), `keys/ledger-public-key.json` (the platform's public-keys document,
retired keys included), `keys/platform-ca.pem`, `manifest.json` (the SHA-256 of
every other file) and `README.txt`.

Trust comes from outside the bundle: the caller's ledger keys (vkeys) and CA
certificate. Without them the bundle's own `keys/` copies are used, every check
still runs, and the report says `anchored: false` ("TRUST NOT ANCHORED"): such a
result only proves the bundle is self-consistent, since whoever rewrote it could
have swapped the keys too. Only two things in a bundle cannot be forged without
the platform's private keys: the PDF signatures (under the CA) and the ledger
checkpoint (under the ledger key). Every other file is tied to those two: the
document hash in each ledger entry must be the SHA-256 of the sealed PDF's
first `sent_pdf_size` bytes (the sealed PDF is an incremental update of the sent
one), and the audit trail must agree with the ledger entries.

`verify_bundle` never raises on bad input: a malformed zip, a missing file or bad
JSON is a failed check with its reason.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import sys
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography import x509 as crypto_x509
from cryptography.hazmat.primitives.serialization import Encoding

try:
    from mindlinks.esign.evidence_verify_pdf import (
        PdfSignature,
        PdfUnreadable,
        embedded_files,
        read_signatures,
    )
    from mindlinks.ledger import verifier as ledger
except ImportError:  # shipped alone, next to verifier.py and evidence_verify_pdf.py
    import verifier as ledger  # type: ignore[import-not-found,no-redef]
    from evidence_verify_pdf import (  # type: ignore[import-not-found,no-redef]
        PdfSignature,
        PdfUnreadable,
        embedded_files,
        read_signatures,
    )

CONTRACT_PDF: Final = "contract.pdf"
COMPLETION_PDF: Final = "certificate-of-completion.pdf"
AUDIT_TRAIL: Final = "audit-trail.json"
LEDGER_PROOFS: Final = "ledger-proofs.json"
CHECKPOINT: Final = "checkpoint.txt"
LEDGER_KEYS: Final = "keys/ledger-public-key.json"
PLATFORM_CA: Final = "keys/platform-ca.pem"
MANIFEST: Final = "manifest.json"
README: Final = "README.txt"
REQUIRED_FILES: Final = (
    CONTRACT_PDF,
    COMPLETION_PDF,
    AUDIT_TRAIL,
    LEDGER_PROOFS,
    CHECKPOINT,
    LEDGER_KEYS,
    PLATFORM_CA,
    MANIFEST,
)
MANIFEST_FORMAT: Final = "mindlinks-evidence/1"
AUDIT_FORMAT: Final = "mindlinks-audit-trail/1"

# Which ledger entry kind records which audit-trail event.
EVENT_KINDS: Final = {
    "sent": "contract.sent",
    "signed": "contract.signed",
    "declined": "contract.declined",
    "voided": "contract.voided",
    "activated": "contract.activated",
    "sealed": "contract.sealed",
}

MAX_BUNDLE_BYTES: Final = 256 * 1024 * 1024
MAX_FILES: Final = 64
MAX_UNPACKED_BYTES: Final = 512 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")

UNANCHORED_WARNING: Final = (
    "TRUST NOT ANCHORED: the bundle was checked against its own copies of the ledger "
    "key and the platform CA (keys/). That proves only that the bundle is consistent: "
    "whoever could rewrite it could have replaced those keys too. Pin the platform's "
    "keys once with `mindlinks evidence trust --url https://<platform>`, or pass "
    "--ledger-key and --ca."
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class EvidenceReport:
    checks: list[Check] = field(default_factory=list)
    anchored: bool = False
    contract_id: str | None = None
    trust: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((check for check in self.checks if not check.ok), None)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "anchored": self.anchored,
            "contract_id": self.contract_id,
            "trust": dict(self.trust),
            "warnings": list(self.warnings),
            "checks": [asdict(check) for check in self.checks],
        }


class Failed(Exception):
    """One check's reason for failing (raised inside a check, never out of the module)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the zip and its JSON files ------------------------------------------------------


def read_zip(data: object) -> dict[str, bytes]:
    """The bundle's files by name; Failed on anything that is not a sane zip."""
    if not isinstance(data, bytes | bytearray):
        raise Failed("the bundle is not bytes")
    if len(data) > MAX_BUNDLE_BYTES:
        raise Failed(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise Failed(f"not a zip archive: {exc}") from None
    files: dict[str, bytes] = {}
    unpacked = 0
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_FILES:
            raise Failed(f"more than {MAX_FILES} entries in the zip")
        for info in infos:
            name = info.filename
            if info.is_dir():
                continue
            if name.startswith("/") or "\\" in name or ".." in name.split("/"):
                raise Failed(f"unsafe file name {name!r} in the zip")
            if name in files:
                raise Failed(f"{name} appears twice in the zip")
            unpacked += info.file_size
            if unpacked > MAX_UNPACKED_BYTES:
                raise Failed(f"the zip unpacks to more than {MAX_UNPACKED_BYTES} bytes")
            try:
                files[name] = archive.read(info)
            except (
                zipfile.BadZipFile,
                RuntimeError,
                NotImplementedError,
                OSError,
                EOFError,
                ValueError,
                zlib.error,
            ) as exc:
                raise Failed(f"{name} cannot be read from the zip: {exc}") from None
    return files


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(files: dict[str, bytes], name: str) -> Any:
    raw = files.get(name)
    if raw is None:
        raise Failed(f"{name} is missing from the bundle")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Failed(f"{name} is not valid JSON: {exc}") from None


def _require(files: dict[str, bytes], name: str) -> bytes:
    raw = files.get(name)
    if raw is None:
        raise Failed(f"{name} is missing from the bundle")
    return raw


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise Failed(f"{what} is missing or not a string")
    return value


def _hex64(value: object, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise Failed(f"{what} is not a lowercase hex SHA-256")
    return value


# --- trust anchors ---------------------------------------------------------------------


def vkeys_from_key_document(document: object) -> list[str]:
    """Vkeys from GET /api/ledger/public-keys (`{"items": [...]}`), /public-key (one
    document), a list of documents, or `{"keys": [...]}`."""
    if isinstance(document, dict) and isinstance(document.get("items"), list):
        document = document["items"]
    try:
        vkeys: list[str] = ledger.trusted_vkeys_from_document(document)
    except ledger.VerificationFailed as exc:
        raise Failed(f"not a ledger public-key document: {exc.detail}") from None
    if not vkeys:
        raise Failed("the public-key document lists no key")
    return vkeys


def load_certificates(pem: bytes, what: str) -> list[Any]:
    """asn1crypto certificates from PEM text (one or more)."""
    from asn1crypto import x509  # type: ignore[import-untyped]

    try:
        parsed = crypto_x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise Failed(f"{what} is not a PEM certificate: {exc}") from None
    return [x509.Certificate.load(cert.public_bytes(Encoding.DER)) for cert in parsed]


def certificate_fingerprint(cert: Any) -> str:
    return _sha256(cert.dump())


def _describe_ca(certs: Sequence[Any]) -> str:
    return "; ".join(
        f"{cert.subject.human_friendly} (SHA-256 {certificate_fingerprint(cert)})" for cert in certs
    )


@dataclass
class _Trust:
    vkeys: list[str]
    cas: list[Any]


def _resolve_trust(
    report: EvidenceReport,
    files: dict[str, bytes],
    trusted_ledger_keys: Sequence[str] | None,
    trusted_ca_pem: bytes | None,
) -> _Trust | None:
    problems: list[str] = []
    vkeys: list[str] = []
    cas: list[Any] = []
    if trusted_ledger_keys is not None:
        try:
            keys = ledger.load_trusted_keys(list(trusted_ledger_keys))
            vkeys = [key.vkey for key in keys]
            report.trust["ledger_keys"] = "given: " + ", ".join(k.vkey for k in keys)
        except ledger.VerificationFailed as exc:
            problems.append(f"a trusted ledger key is unusable: {exc.detail}")
    else:
        try:
            vkeys = vkeys_from_key_document(parse_json(files, LEDGER_KEYS))
            report.trust["ledger_keys"] = f"the bundle's own copy ({LEDGER_KEYS})"
        except Failed as exc:
            problems.append(str(exc))
    if trusted_ca_pem is not None:
        try:
            cas = load_certificates(trusted_ca_pem, "the trusted CA")
            report.trust["ca"] = "given: " + _describe_ca(cas)
        except Failed as exc:
            problems.append(str(exc))
    else:
        try:
            cas = load_certificates(_require(files, PLATFORM_CA), PLATFORM_CA)
            report.trust["ca"] = f"the bundle's own copy ({PLATFORM_CA}): " + _describe_ca(cas)
        except Failed as exc:
            problems.append(str(exc))
    if not cas and not problems:
        problems.append("no CA certificate to trust")
    report.anchored = trusted_ledger_keys is not None and trusted_ca_pem is not None
    if problems:
        report.add("trust", False, "; ".join(problems))
        return None
    notes = [f"ledger keys: {report.trust['ledger_keys']}", f"CA: {report.trust['ca']}"]
    if report.anchored:
        notes += _compare_bundle_copies(files, vkeys, cas)
        report.add("trust", True, "anchored outside the bundle; " + "; ".join(notes))
    else:
        report.warnings.append(UNANCHORED_WARNING)
        report.add("trust", True, "TRUST NOT ANCHORED; " + "; ".join(notes))
    return _Trust(vkeys, cas)


def _compare_bundle_copies(files: dict[str, bytes], vkeys: list[str], cas: list[Any]) -> list[str]:
    """For the reader: do the bundle's keys/ copies agree with the trusted ones?"""
    notes = []
    try:
        bundle_ca = {certificate_fingerprint(c) for c in load_certificates(files[PLATFORM_CA], "")}
        same = bundle_ca <= {certificate_fingerprint(c) for c in cas}
        notes.append(f"the bundle's CA copy {'is' if same else 'is NOT'} the trusted CA")
    except (Failed, KeyError):
        notes.append("the bundle's CA copy is unreadable")
    try:
        bundle_keys = set(vkeys_from_key_document(parse_json(files, LEDGER_KEYS)))
        known = bundle_keys & set(vkeys)
        notes.append(f"{len(known)} of the bundle's {len(bundle_keys)} ledger keys are trusted")
    except Failed:
        notes.append("the bundle's ledger key copy is unreadable")
    return notes


# --- the checks ------------------------------------------------------------------------


@dataclass
class _Context:
    files: dict[str, bytes]
    trust: _Trust | None
    manifest: dict[str, Any] | None = None
    audit: dict[str, Any] | None = None
    signatures: list[PdfSignature] | None = None
    verified_entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    claimed_entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    checkpoint: Any = None


def _run(report: EvidenceReport, name: str, check: Callable[[], str]) -> None:
    """Run one check; a Failed (or any surprise) is its failure, never the caller's."""
    try:
        report.add(name, True, check())
    except Failed as exc:
        report.add(name, False, str(exc))
    except ledger.VerificationFailed as exc:
        report.add(name, False, f"{exc.check}: {exc.detail}")
    except Exception as exc:  # a verifier answers, it does not crash
        report.add(name, False, f"could not be checked: {type(exc).__name__}: {exc}")


def _check_files(ctx: _Context) -> str:
    missing = [name for name in REQUIRED_FILES if name not in ctx.files]
    if missing:
        raise Failed("missing from the bundle: " + ", ".join(missing))
    return f"{len(ctx.files)} files, all required ones present"


def _check_manifest(ctx: _Context) -> str:
    manifest = parse_json(ctx.files, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise Failed(f"{MANIFEST} is not a {MANIFEST_FORMAT} manifest")
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise Failed(f"{MANIFEST} has no files map")
    ctx.manifest = manifest
    problems = []
    for name in sorted(set(listed) | set(ctx.files) - {MANIFEST}):
        if name not in ctx.files:
            problems.append(f"{name} is listed but missing")
        elif name not in listed:
            problems.append(f"{name} is in the zip but not in the manifest")
        elif listed[name] != _sha256(ctx.files[name]):
            problems.append(f"{name} does not match its SHA-256 in the manifest")
    if problems:
        raise Failed("; ".join(problems))
    return f"the SHA-256 of all {len(listed)} files match"


def _load_audit(ctx: _Context) -> dict[str, Any]:
    if ctx.audit is None:
        audit = parse_json(ctx.files, AUDIT_TRAIL)
        if not isinstance(audit, dict) or audit.get("format") != AUDIT_FORMAT:
            raise Failed(f"{AUDIT_TRAIL} is not a {AUDIT_FORMAT} document")
        if not isinstance(audit.get("events"), list) or not isinstance(audit.get("contract"), dict):
            raise Failed(f"{AUDIT_TRAIL} has no contract or events")
        ctx.audit = audit
    return ctx.audit


def _events(audit: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in audit["events"] if isinstance(e, dict) and e.get("type") == kind]


def _check_audit_trail(ctx: _Context) -> str:
    """The audit trail agrees with the manifest and its disclosures are intact."""
    audit = _load_audit(ctx)
    contract_id = _text(audit["contract"].get("id"), "the audit trail's contract id")
    manifest = ctx.manifest or {}
    for key in ("contract_id", "document_sha256", "sealed_sha256", "sent_pdf_size"):
        mine = contract_id if key == "contract_id" else audit.get(key)
        if key in manifest and manifest[key] != mine:
            raise Failed(f"the manifest's {key} {manifest[key]!r} is not the audit trail's")
    disclosures: dict[Any, Any] = {}
    for item in audit.get("disclosures") or []:
        body = item.get("body") if isinstance(item, dict) else None
        if not isinstance(body, str) or _sha256(body.encode("utf-8")) != item.get("sha256"):
            raise Failed(f"disclosure version {item.get('version')} does not match its SHA-256")
        disclosures[item["version"]] = item["sha256"]
    consents = {c.get("consent_id"): c for c in _events(audit, "consent")}
    for consent in consents.values():
        if disclosures.get(consent.get("disclosure_version")) != consent.get("disclosure_sha256"):
            raise Failed(
                f"a consent names disclosure version {consent.get('disclosure_version')}, "
                "whose text is not in the audit trail"
            )
    signed = _events(audit, "signed")
    if not signed:
        raise Failed("the audit trail records no signature")
    for event in signed:
        accepted = consents.get(event.get("consent_id"))
        if accepted is None or accepted.get("user_id") != event.get("user_id"):
            raise Failed(f"the {event.get('role')} signature has no consent of its signer")
    return (
        f"contract {contract_id}: {len(audit['events'])} events, {len(signed)} signatures, "
        f"each with its signer's consent to disclosure versions {sorted(disclosures)}"
    )


def _check_checkpoint(ctx: _Context) -> str:
    if ctx.trust is None:
        raise Failed("no trusted ledger key to check it with")
    note = _require(ctx.files, CHECKPOINT)
    ctx.checkpoint = ledger.verify_checkpoint(note, ctx.trust.vkeys)
    cp = ctx.checkpoint
    signer = cp.signed_by[0]
    return (
        f"{cp.origin} tree size {cp.tree_size}, root {cp.root_hash.hex()}, "
        f"signed by {signer.name}+{signer.key_id}, issued at {cp.issued_at}"
    )


def _entry_content(item: object) -> tuple[int, dict[str, Any]]:
    """The seq and parsed entry of a proof bundle, before any verification."""
    entry = item.get("entry") if isinstance(item, dict) else None
    seq = entry.get("seq") if isinstance(entry, dict) else None
    if type(seq) is not int:
        raise Failed("a proof has no entry seq")
    try:
        content = json.loads(base64.b64decode(entry["entry"], validate=True))  # type: ignore[index]
    except (KeyError, TypeError, ValueError, RecursionError):
        raise Failed(f"the entry of seq {seq} is not base64 JSON") from None
    if not isinstance(content, dict) or not isinstance(content.get("payload"), dict):
        raise Failed(f"the entry of seq {seq} has no payload")
    return seq, content


def _check_one_proof(ctx: _Context, item: object) -> tuple[int, dict[str, Any], str]:
    """(seq, entry, what it proves); Failed or VerificationFailed with the reason."""
    seq, content = _entry_content(item)
    if seq in ctx.claimed_entries:
        raise Failed(f"seq {seq} is proven twice")
    ctx.claimed_entries[seq] = content
    if ctx.trust is None:
        raise Failed("no trusted ledger key to check it with")
    verified = ledger.verify_proof_bundle(item, ctx.trust.vkeys)  # type: ignore[arg-type]
    cp = verified.checkpoint
    if ctx.checkpoint is None:
        raise Failed(f"it cannot be matched with {CHECKPOINT}, which did not verify")
    if (cp.tree_size, cp.root_hash) != (ctx.checkpoint.tree_size, ctx.checkpoint.root_hash):
        raise Failed(
            f"it verifies against tree size {cp.tree_size}, not {CHECKPOINT} "
            f"(tree size {ctx.checkpoint.tree_size})"
        )
    ctx.verified_entries[seq] = content
    return seq, content, f"seq {seq} ({content.get('kind')})"


def _check_proofs(ctx: _Context) -> str:
    """Every proof verifies under the trusted keys, against checkpoint.txt itself."""
    proofs = parse_json(ctx.files, LEDGER_PROOFS)
    if not isinstance(proofs, list) or not proofs:
        raise Failed(f"{LEDGER_PROOFS} is not a non-empty list of proofs")
    proven, problems = [], []
    for index, item in enumerate(proofs):
        try:
            proven.append(_check_one_proof(ctx, item)[2])
        except (Failed, ledger.VerificationFailed) as exc:
            about = f"proof #{index}"
            try:
                seq, content = _entry_content(item)
                about = f"seq {seq} ({content.get('kind')})"
            except Failed:
                pass
            reason = (
                f"{exc.check}: {exc.detail}" if isinstance(exc, ledger.VerificationFailed) else exc
            )
            problems.append(f"{about}: {reason}")
    if problems:
        raise Failed("; ".join(problems))
    size = ctx.checkpoint.tree_size if ctx.checkpoint is not None else "?"
    return f"{len(proven)} entries included at tree size {size}: " + ", ".join(proven)


def _check_entries(ctx: _Context) -> str:
    """Every ledger-recorded event of the audit trail is a verified entry that agrees."""
    audit = _load_audit(ctx)
    contract_id = audit["contract"].get("id")
    document = _hex64(audit.get("document_sha256"), "the audit trail's document_sha256")
    subject = f"contract:{contract_id}"
    listed = {item.get("seq"): item for item in audit.get("ledger") or [] if isinstance(item, dict)}
    for seq, entry in sorted(ctx.verified_entries.items()):
        if entry.get("subject") != subject:
            raise Failed(f"entry seq {seq} is about {entry.get('subject')!r}, not {subject}")
        if seq not in listed or listed[seq].get("kind") != entry.get("kind"):
            raise Failed(f"entry seq {seq} ({entry.get('kind')}) is not in the audit trail")
    unproven = sorted(str(seq) for seq in listed if seq not in ctx.verified_entries)
    if unproven:
        raise Failed(
            f"the audit trail lists ledger seq {', '.join(unproven)} without a verified proof"
        )
    checked = 0
    for event in audit["events"]:
        kind = EVENT_KINDS.get(str(event.get("type"))) if isinstance(event, dict) else None
        if kind is None:
            continue
        at = event.get("ledger_seq")
        if at is None:
            if kind in ("contract.signed", "contract.activated"):
                raise Failed(f"the {event['type']} event has no ledger entry")
            continue
        recorded = ctx.verified_entries.get(at)
        if recorded is None or recorded.get("kind") != kind:
            raise Failed(f"the {event['type']} event's ledger seq {at} is no verified {kind}")
        _match_payload(at, kind, recorded["payload"], event, audit, document)
        checked += 1
    if not _events(audit, "activated"):
        raise Failed("the audit trail records no activation")
    return f"{checked} ledger-recorded events agree with their verified entries"


def _match_payload(
    seq: int,
    kind: str,
    payload: dict[str, Any],
    event: dict[str, Any],
    audit: dict[str, Any],
    document: str,
) -> None:
    contract_id = audit["contract"].get("id")
    if payload.get("contract_id", contract_id) != contract_id:
        raise Failed(f"entry seq {seq} names contract {payload.get('contract_id')}")
    carries_hash = kind == "contract.signed" or "document_sha256" in payload
    if carries_hash and payload.get("document_sha256") != document:
        raise Failed(f"entry seq {seq} ({kind}) carries another document hash")
    if kind == "contract.signed" and payload.get("role") != event.get("role"):
        raise Failed(
            f"entry seq {seq} records role {payload.get('role')!r}, "
            f"the audit trail {event.get('role')!r}"
        )
    template = audit["contract"].get("template") or {}
    for key, mine in (
        ("sealed_sha256", audit.get("sealed_sha256")),
        ("completion_sha256", audit.get("completion_sha256")),
        ("template_id", template.get("id")),
        ("template_version", template.get("version")),
    ):
        if key in payload and payload[key] != mine:
            raise Failed(
                f"entry seq {seq} records {key} {payload[key]!r}, the audit trail {mine!r}"
            )
    # Ids and hashes the signing ceremony records: the audit trail must tell the same.
    for key in ("signature_id", "consent_id", "kyc_session_id", "signature_type"):
        if key in payload and payload[key] != event.get(key):
            raise Failed(f"entry seq {seq} records {key} {payload[key]!r}, the audit trail not")
    if kind == "contract.signed" and "disclosure_sha256" in payload:
        consent = next(
            (
                c
                for c in _events(audit, "consent")
                if c.get("consent_id") == event.get("consent_id")
            ),
            {},
        )
        if payload["disclosure_sha256"] != consent.get("disclosure_sha256"):
            raise Failed(f"entry seq {seq} names another disclosure than the signer's consent")
    if "signature_ids" in payload:
        signed = {e.get("signature_id") for e in _events(audit, "signed")}
        if (
            not isinstance(payload["signature_ids"], list)
            or set(payload["signature_ids"]) != signed
        ):
            raise Failed(f"entry seq {seq} activates other signatures than the audit trail's")


# --- the PDF ---------------------------------------------------------------------------


def _signatures(ctx: _Context) -> list[PdfSignature]:
    if ctx.signatures is None:
        if ctx.trust is None:
            raise Failed("no trusted CA to check the signatures with")
        pdf = _require(ctx.files, CONTRACT_PDF)
        try:
            ctx.signatures = read_signatures(pdf, ctx.trust.cas)
        except PdfUnreadable as exc:
            raise Failed(f"{CONTRACT_PDF} is not a readable PDF: {exc}") from None
    if not ctx.signatures:
        raise Failed(f"{CONTRACT_PDF} carries no signature")
    return ctx.signatures


def _who(sig: PdfSignature) -> str:
    return " ".join([sig.common_name, *(f"<{email}>" for email in sig.emails)]).strip() or "?"


def _check_pdf_signatures(ctx: _Context) -> str:
    """Each signature intact, valid and trusted under the CA (see evidence_verify_pdf)."""
    described, problems = [], []
    for sig in _signatures(ctx):
        about = f"{sig.field_name} (" + ("document timestamp" if sig.is_timestamp else _who(sig))
        if sig.timestamped:
            about += ", with an RFC 3161 timestamp whose TSA is not judged here"
        about += ")"
        described.append(about)
        if not sig.ok:
            problems.append(f"{about}: " + "; ".join(sig.problems))
    if problems:
        raise Failed("; ".join(problems))
    return f"{len(described)} signatures intact, valid and trusted: " + ", ".join(described)


def _check_pdf_integrity(ctx: _Context) -> str:
    pdf = _require(ctx.files, CONTRACT_PDF)
    last = _signatures(ctx)[-1]
    if not last.covers_entire_file or last.signed_end != len(pdf):
        raise Failed(
            f"the last signature ({last.field_name}) does not cover the whole file: "
            f"{len(pdf) - last.signed_end} bytes after it are signed by nobody"
        )
    sealed = _hex64(_load_audit(ctx).get("sealed_sha256"), "the audit trail's sealed_sha256")
    if _sha256(pdf) != sealed:
        raise Failed(f"{CONTRACT_PDF} is not the sealed PDF whose SHA-256 is {sealed}")
    return f"the last signature ({last.field_name}) covers all {len(pdf)} bytes; SHA-256 {sealed}"


def _check_pdf_signers(ctx: _Context) -> str:
    signed = _events(_load_audit(ctx), "signed")
    regular = [sig for sig in _signatures(ctx) if not sig.is_timestamp]
    if len(regular) != len(signed) + 1:
        raise Failed(
            f"{len(regular)} signatures; expected one per signer ({len(signed)}) "
            "plus the platform seal"
        )
    *by_signers, seal = regular
    unmatched = list(by_signers)
    matched = []
    for event in signed:
        email = str(event.get("email") or "").casefold()
        name = str(event.get("name") or "")
        role = str(event.get("role") or "")
        found = next((s for s in unmatched if email in s.emails), None) or next(
            (s for s in unmatched if not s.emails and name and s.common_name == name[:64]),
            None,
        )
        found = found or next((s for s in unmatched if not s.emails and s.unit == role), None)
        if found is None:
            raise Failed(f"no PDF signature by the {event.get('role')} signer {name} <{email}>")
        unmatched.remove(found)
        matched.append(f"{event.get('role')}: {found.field_name}")
    signer_emails = {str(e.get("email") or "").casefold() for e in signed}
    if signer_emails & set(seal.emails):
        raise Failed(f"the last signature ({seal.field_name}) is a signer's, not the platform seal")
    return (
        f"one signature per signer ({', '.join(matched)}), "
        f"then the platform seal ({seal.field_name}, by {_who(seal)})"
    )


def _check_document_hash(ctx: _Context) -> str:
    audit = _load_audit(ctx)
    document = _hex64(audit.get("document_sha256"), "the audit trail's document_sha256")
    size = audit.get("sent_pdf_size")
    pdf = _require(ctx.files, CONTRACT_PDF)
    if type(size) is not int or not 0 < size <= len(pdf):
        raise Failed(f"sent_pdf_size {size!r} is not a size within {CONTRACT_PDF}")
    actual = _sha256(pdf[:size])
    if actual != document:
        raise Failed(
            f"the first {size} bytes of {CONTRACT_PDF} (the sent PDF) hash to {actual}, "
            f"not to the document_sha256 {document} that was signed"
        )
    for event in _events(audit, "signed"):
        if event.get("document_sha256") != document:
            raise Failed(f"the {event.get('role')} signature names another document hash")
    ledger_backed = 0
    for seq, entry in sorted(ctx.claimed_entries.items()):
        payload = entry["payload"]
        if entry.get("kind") == "contract.signed" or "document_sha256" in payload:
            if payload.get("document_sha256") != document:
                raise Failed(f"ledger entry seq {seq} ({entry.get('kind')}) names another hash")
            ledger_backed += seq in ctx.verified_entries
    for sig in _signatures(ctx):
        if len(sig.byte_range) != 4 or sig.byte_range[0] != 0 or sig.byte_range[1] < size:
            raise Failed(f"signature {sig.field_name} does not cover the whole sent document")
    return (
        f"the first {size} bytes of {CONTRACT_PDF} are the sent PDF (SHA-256 {document}); "
        f"every signature covers them, and {ledger_backed} verified ledger entries carry the hash"
    )


def _check_completion(ctx: _Context) -> str:
    data = _require(ctx.files, COMPLETION_PDF)
    if not data.startswith(b"%PDF-"):
        raise Failed(f"{COMPLETION_PDF} is not a PDF")
    digest = _sha256(data)
    if (ctx.manifest or {}).get("files", {}).get(COMPLETION_PDF) != digest:
        raise Failed(f"{COMPLETION_PDF} is not listed in the manifest with its SHA-256")
    if _load_audit(ctx).get("completion_sha256") not in (None, digest):
        raise Failed(f"{COMPLETION_PDF} is not the one the audit trail records")
    try:
        attached = embedded_files(_require(ctx.files, CONTRACT_PDF))
    except PdfUnreadable as exc:
        raise Failed(f"{CONTRACT_PDF} is not a readable PDF: {exc}") from None
    copies = [data_ for name, data_ in attached.items() if name.endswith("completion.pdf")]
    if any(copy != data for copy in copies):
        raise Failed(f"the certificate embedded in {CONTRACT_PDF} differs from {COMPLETION_PDF}")
    where = f", identical to the copy embedded in {CONTRACT_PDF}" if copies else ""
    return f"SHA-256 {digest}{where}"


def verify_bundle(
    zip_bytes: bytes,
    *,
    trusted_ledger_keys: Sequence[str] | None = None,
    trusted_ca_pem: bytes | None = None,
) -> EvidenceReport:
    """Check everything in the bundle; see the module docstring. Never raises.

    pyHanko's validation runs an event loop of its own: call this from a thread
    without a running loop (a worker thread, the command line), never from async code.
    """
    report = EvidenceReport()
    try:
        files = read_zip(zip_bytes)
    except Failed as exc:
        report.add("bundle", False, str(exc))
        return report
    except Exception as exc:  # a verifier answers, it does not crash
        report.add("bundle", False, f"unreadable: {type(exc).__name__}: {exc}")
        return report
    ctx = _Context(files, None)
    _run(report, "bundle", lambda: _check_files(ctx))
    _run(report, "manifest", lambda: _check_manifest(ctx))
    try:
        ctx.trust = _resolve_trust(report, files, trusted_ledger_keys, trusted_ca_pem)
    except Exception as exc:  # a verifier answers, it does not crash
        report.add("trust", False, f"could not be set up: {type(exc).__name__}: {exc}")
    _run(report, "audit-trail", lambda: _check_audit_trail(ctx))
    if ctx.audit is not None and isinstance(ctx.audit["contract"].get("id"), str):
        report.contract_id = ctx.audit["contract"]["id"]
    _run(report, "ledger-checkpoint", lambda: _check_checkpoint(ctx))
    _run(report, "ledger-proofs", lambda: _check_proofs(ctx))
    _run(report, "ledger-entries", lambda: _check_entries(ctx))
    _run(report, "pdf-signatures", lambda: _check_pdf_signatures(ctx))
    _run(report, "pdf-integrity", lambda: _check_pdf_integrity(ctx))
    _run(report, "pdf-signers", lambda: _check_pdf_signers(ctx))
    _run(report, "document-hash", lambda: _check_document_hash(ctx))
    _run(report, "certificate-of-completion", lambda: _check_completion(ctx))
    return report


# --- command line ----------------------------------------------------------------------


def ledger_keys_from_argument(value: str) -> list[str]:
    """`--ledger-key`: a vkey, or a file holding a public-key JSON document or vkey lines."""
    path = Path(value)
    if "+" in value and not path.exists():
        return [value]
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Failed(f"--ledger-key {value}: neither a vkey nor a readable file ({exc})") from None
    if text.lstrip().startswith(("{", "[")):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise Failed(f"{value} is not valid JSON: {exc}") from None
        return vkeys_from_key_document(document)
    return [line.strip() for line in text.splitlines() if line.strip()]


def format_report(report: EvidenceReport, source: str) -> list[str]:
    """The human-readable report: one line per check, then the verdict."""
    about = f" (contract {report.contract_id})" if report.contract_id else ""
    lines = [f"Evidence bundle {source}{about}"]
    if not report.anchored:
        lines.append("!! " + UNANCHORED_WARNING)
    lines += [f"  {'✓' if c.ok else '✗'} {c.name}: {c.detail}" for c in report.checks]
    failure = report.first_failure
    if failure is not None:
        lines.append(f"FAILED {failure.name}: {failure.detail}")
    else:
        anchored = "trust anchored" if report.anchored else "TRUST NOT ANCHORED"
        lines.append(f"OK: all {len(report.checks)} checks passed ({anchored})")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="evidence_verify.py", description="Verify a Mind-Links evidence bundle offline."
    )
    parser.add_argument("bundle", help="the evidence bundle (zip)")
    parser.add_argument(
        "--ledger-key", action="append", help="trusted ledger vkey or public-key JSON file"
    )
    parser.add_argument("--ca", help="trusted platform CA certificate (PEM file)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        vkeys = None
        if args.ledger_key:
            vkeys = [vk for value in args.ledger_key for vk in ledger_keys_from_argument(value)]
        ca = Path(args.ca).read_bytes() if args.ca else None
        data = Path(args.bundle).read_bytes()
    except (Failed, OSError) as exc:
        print(f"FAILED: {exc}")
        return 1
    report = verify_bundle(data, trusted_ledger_keys=vkeys, trusted_ca_pem=ca)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(format_report(report, args.bundle)))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
