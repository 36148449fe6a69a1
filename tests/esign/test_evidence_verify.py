"""The offline evidence verifier (`esign.evidence_verify`): every tampering is a
named failed check, never an exception; trust comes from outside the bundle."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mindlinks.esign.evidence_verify as evidence_verify
import mindlinks.esign.evidence_verify_pdf as evidence_verify_pdf
import mindlinks.ledger.verifier as ledger_verifier
from mindlinks.esign.evidence import build_evidence_bundle
from mindlinks.esign.evidence_verify import REQUIRED_FILES, EvidenceReport, verify_bundle
from mindlinks.ledger import note
from tests.esign.evidence_factories import (
    TestCa,
    flip_byte,
    rezip,
    sealed_contract,
    trusted_vkeys,
    unzip,
    update_manifest,
)


@dataclass
class Bundle:
    data: bytes
    vkeys: list[str]
    ca_pem: bytes
    sent_size: int

    def files(self) -> dict[str, bytes]:
        return unzip(self.data)

    def verify(self, data: bytes | None = None, **trust: object) -> EvidenceReport:
        trust = {"trusted_ledger_keys": self.vkeys, "trusted_ca_pem": self.ca_pem} | trust
        return verify_bundle(self.data if data is None else data, **trust)  # type: ignore[arg-type]


@pytest.fixture
def bundle(session, app_context) -> Bundle:
    sealed = sealed_contract(session, app_context)
    built = build_evidence_bundle(
        session, app_context, sealed.contract, platform_ca_pem=sealed.ca_pem
    )
    return Bundle(built.data, trusted_vkeys(app_context), sealed.ca_pem, len(sealed.sent_pdf))


def failed(report: EvidenceReport) -> dict[str, str]:
    return {check.name: check.detail for check in report.checks if not check.ok}


def edited(bundle: Bundle, *, manifest: bool = True, **changes: bytes) -> bytes:
    files = bundle.files()
    files.update(
        {name.replace("__", "/").replace("_", "-"): data for name, data in changes.items()}
    )
    if manifest:
        update_manifest(files)
    return rezip(files)


def with_file(bundle: Bundle, name: str, data: bytes, *, manifest: bool = True) -> bytes:
    files = bundle.files()
    files[name] = data
    if manifest:
        update_manifest(files)
    return rezip(files)


def test_an_intact_bundle_passes_every_check_with_anchored_trust(bundle):
    report = bundle.verify()
    assert report.ok, failed(report)
    assert report.anchored
    assert not report.warnings
    names = [check.name for check in report.checks]
    for expected in (
        "bundle",
        "manifest",
        "trust",
        "audit-trail",
        "ledger-checkpoint",
        "ledger-proofs",
        "ledger-entries",
        "pdf-signatures",
        "pdf-integrity",
        "pdf-signers",
        "document-hash",
        "certificate-of-completion",
    ):
        assert expected in names
    details = {c.name: c.detail for c in report.checks}
    assert details["pdf-signatures"].startswith("3 signatures intact, valid and trusted")
    assert details["ledger-proofs"].startswith("5 entries included at tree size")
    assert "identical to the copy embedded in contract.pdf" in details["certificate-of-completion"]


def test_without_outside_trust_it_still_verifies_but_says_trust_is_not_anchored(bundle):
    report = verify_bundle(bundle.data, trusted_ledger_keys=None, trusted_ca_pem=None)
    assert report.ok, failed(report)
    assert not report.anchored
    assert any("TRUST NOT ANCHORED" in w for w in report.warnings)
    trust = next(c for c in report.checks if c.name == "trust")
    assert trust.detail.startswith("TRUST NOT ANCHORED")


def test_only_one_of_the_two_anchors_is_not_anchored(bundle):
    report = verify_bundle(bundle.data, trusted_ledger_keys=bundle.vkeys, trusted_ca_pem=None)
    assert report.ok, failed(report)
    assert not report.anchored


@pytest.mark.parametrize("where", ["sent document", "last signature", "end"])
def test_one_flipped_byte_of_the_pdf_is_rejected(bundle, where):
    pdf = bundle.files()["contract.pdf"]
    at = {"sent document": bundle.sent_size // 2, "last signature": len(pdf) - 300}.get(
        where, len(pdf) - 2
    )
    tampered = flip_byte(pdf, at)
    # As it comes: the manifest catches it first...
    report = bundle.verify(with_file(bundle, "contract.pdf", tampered, manifest=False))
    assert not report.ok
    assert report.first_failure.name == "manifest"
    assert "contract.pdf does not match its SHA-256" in report.first_failure.detail
    # ...and a forger who rewrote the manifest still fails on the signatures.
    report = bundle.verify(with_file(bundle, "contract.pdf", tampered))
    problems = failed(report)
    assert "manifest" not in problems
    assert "pdf-integrity" in problems or "pdf-signatures" in problems
    if where == "sent document":
        assert "the first" in problems["document-hash"]
        assert "not intact" in " ".join(problems.values())


def test_a_byte_flipped_inside_the_zip_is_a_crc_failure(bundle):
    pdf = bundle.files()["contract.pdf"]
    at = bundle.data.index(pdf[1000:1064]) + 10  # stored uncompressed
    report = bundle.verify(flip_byte(bundle.data, at))
    assert [c.name for c in report.checks] == ["bundle"]
    assert "contract.pdf cannot be read from the zip" in report.checks[0].detail


def test_bytes_appended_after_the_platform_seal_are_rejected(bundle):
    pdf = bundle.files()["contract.pdf"] + b"\n% an unsigned comment\n"
    problems = failed(bundle.verify(with_file(bundle, "contract.pdf", pdf)))
    assert "signed by nobody" in problems["pdf-integrity"]


def test_a_tampered_proof_is_rejected(bundle):
    proofs = json.loads(bundle.files()["ledger-proofs.json"])
    path = proofs[1]["proof"]["audit_path"]
    path[0] = hashlib.sha256(b"forged").hexdigest()
    report = bundle.verify(with_file(bundle, "ledger-proofs.json", json.dumps(proofs).encode()))
    seq = proofs[1]["entry"]["seq"]
    problems = failed(report)
    assert f"seq {seq} (contract.signed): inclusion-proof" in problems["ledger-proofs"]
    assert f"seq {seq}" in problems["ledger-entries"]


def test_a_forged_entry_payload_is_rejected(bundle):
    proofs = json.loads(bundle.files()["ledger-proofs.json"])
    entry = json.loads(base64.b64decode(proofs[1]["entry"]["entry"]))
    entry["payload"]["role"] = "contractor"
    raw = json.dumps(entry).encode()
    proofs[1]["entry"]["entry"] = base64.b64encode(raw).decode()
    proofs[1]["entry"]["leaf_hash"] = hashlib.sha256(b"\x00" + raw).hexdigest()
    report = bundle.verify(with_file(bundle, "ledger-proofs.json", json.dumps(proofs).encode()))
    problems = failed(report)
    seq = proofs[1]["entry"]["seq"]
    assert f"seq {seq} (contract.signed): inclusion-proof" in problems["ledger-proofs"]


def _forged_checkpoint(bundle: Bundle) -> tuple[bytes, Ed25519PrivateKey]:
    """The bundle with checkpoint and proofs re-signed by another key of the same
    name, and that key swapped into keys/: what a forger with no platform key can do."""
    files = bundle.files()
    forger = Ed25519PrivateKey.generate()
    text = files["checkpoint.txt"].decode()
    body = text[: text.index("\n\n") + 1]
    origin = body.split("\n", 1)[0]
    forged = note.sign_note(body, origin, forger)
    proofs = json.loads(files["ledger-proofs.json"])
    for proof in proofs:
        proof["checkpoint"] = forged
    public = note.raw_public_key(forger.public_key())
    files["checkpoint.txt"] = forged.encode()
    files["ledger-proofs.json"] = json.dumps(proofs).encode()
    files["keys/ledger-public-key.json"] = json.dumps(
        {"items": [{"key_name": origin, "vkey": note.vkey(origin, public)}]}
    ).encode()
    update_manifest(files)
    return rezip(files), forger


def test_a_checkpoint_signed_by_an_unknown_key_is_rejected(bundle):
    forged, _ = _forged_checkpoint(bundle)
    report = bundle.verify(forged)
    problems = failed(report)
    assert problems["ledger-checkpoint"].startswith("unknown-key")
    assert problems["ledger-proofs"].count("unknown-key") == 5
    # Unanchored, the forgery is self-consistent: exactly why trust is pinned.
    unanchored = verify_bundle(forged, trusted_ledger_keys=None, trusted_ca_pem=bundle.ca_pem)
    assert "ledger-checkpoint" not in failed(unanchored)
    assert not unanchored.anchored


def test_a_wrong_ca_rejects_every_pdf_signature(bundle):
    report = bundle.verify(trusted_ca_pem=TestCa("Some Other CA").pem)
    problems = failed(report)
    assert problems["pdf-signatures"].count("does not chain to the trusted CA") == 3


def test_a_swapped_ca_copy_in_the_bundle_changes_nothing_when_trust_is_anchored(bundle):
    other = TestCa("Forger CA")
    files = bundle.files()
    files["keys/platform-ca.pem"] = other.pem
    update_manifest(files)
    report = bundle.verify(rezip(files))  # the trusted CA is still the platform's
    assert "the bundle's CA copy is NOT the trusted CA" in next(
        c.detail for c in report.checks if c.name == "trust"
    )
    assert report.ok, failed(report)  # the PDF itself is still the platform's


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_a_missing_file_is_a_failed_check_naming_it(bundle, name):
    files = bundle.files()
    del files[name]
    if name != "manifest.json":
        update_manifest(files)
    report = bundle.verify(rezip(files))
    assert not report.ok
    assert report.first_failure.name == "bundle"
    assert name in report.first_failure.detail


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40, "a string", None],
)
def test_what_is_not_a_zip_is_one_clear_failed_check(data):
    report = verify_bundle(data, trusted_ledger_keys=None, trusted_ca_pem=None)  # type: ignore[arg-type]
    assert not report.ok
    assert [c.name for c in report.checks] == ["bundle"]


def test_unsafe_zip_entries_are_refused(bundle):
    files = bundle.files()
    files["../escape.txt"] = b"x"
    report = bundle.verify(rezip(files))
    assert "unsafe file name" in report.first_failure.detail


def test_bad_json_is_a_failed_check_with_the_reason(bundle):
    report = bundle.verify(with_file(bundle, "audit-trail.json", b"{not json"))
    assert "audit-trail.json is not valid JSON" in failed(report)["audit-trail"]


def test_an_audit_trail_that_disagrees_with_the_ledger_is_rejected(bundle):
    trail = json.loads(bundle.files()["audit-trail.json"])
    for event in trail["events"]:
        if event["type"] == "signed":
            event["role"] = {"client": "contractor", "contractor": "client"}[event["role"]]
    report = bundle.verify(with_file(bundle, "audit-trail.json", json.dumps(trail).encode()))
    assert "records role" in failed(report)["ledger-entries"]


def test_a_different_document_hash_is_rejected(bundle):
    trail = json.loads(bundle.files()["audit-trail.json"])
    forged = hashlib.sha256(b"another document").hexdigest()
    trail["document_sha256"] = forged
    for event in trail["events"]:
        if "document_sha256" in event:
            event["document_sha256"] = forged
    files = bundle.files()
    files["audit-trail.json"] = json.dumps(trail).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["document_sha256"] = forged
    files["manifest.json"] = json.dumps(manifest).encode()
    update_manifest(files)
    problems = failed(bundle.verify(rezip(files)))
    assert "not to the document_sha256" in problems["document-hash"]
    assert "another document hash" in problems["ledger-entries"]


def test_a_lie_about_the_sent_size_is_rejected(bundle):
    trail = json.loads(bundle.files()["audit-trail.json"])
    trail["sent_pdf_size"] += 1
    report = bundle.verify(with_file(bundle, "audit-trail.json", json.dumps(trail).encode()))
    assert "hash to" in failed(report)["document-hash"]


def test_a_certificate_of_completion_unlike_the_embedded_one_is_rejected(bundle):
    files = bundle.files()
    other = files["certificate-of-completion.pdf"].replace(b"%%EOF", b"%%EOF\n% changed", 1)
    trail = json.loads(files["audit-trail.json"])
    trail["completion_sha256"] = hashlib.sha256(other).hexdigest()
    files["audit-trail.json"] = json.dumps(trail).encode()
    files["certificate-of-completion.pdf"] = other
    update_manifest(files)
    problems = failed(bundle.verify(rezip(files)))
    assert "differs from certificate-of-completion.pdf" in problems["certificate-of-completion"]


def test_a_missing_platform_seal_is_rejected(bundle, session, app_context):
    files = bundle.files()
    pdf = files["contract.pdf"]
    # Cut the file back to the revision before the seal: every signer's signature
    # is still there and valid, the seal is not.
    seal_start = pdf.rindex(b"%%EOF", 0, pdf.rindex(b"%%EOF")) + len(b"%%EOF\n")
    files["contract.pdf"] = pdf[:seal_start]
    trail = json.loads(files["audit-trail.json"])
    trail["sealed_sha256"] = hashlib.sha256(pdf[:seal_start]).hexdigest()
    files["audit-trail.json"] = json.dumps(trail).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["sealed_sha256"] = trail["sealed_sha256"]
    files["manifest.json"] = json.dumps(manifest).encode()
    update_manifest(files)
    problems = failed(bundle.verify(rezip(files)))
    assert "expected one per signer (2) plus the platform seal" in problems["pdf-signers"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=2048), st.sampled_from(sorted(REQUIRED_FILES)))
def test_garbage_in_any_file_is_a_failed_check_never_an_exception(bundle, garbage, name):
    tampered = with_file(bundle, name, garbage, manifest=name != "manifest.json")
    report = bundle.verify(tampered)
    if name.startswith("keys/"):
        # Anchored trust never reads the bundle's own key copies, except to compare.
        assert "unreadable" in next(c.detail for c in report.checks if c.name == "trust")
    else:
        assert not report.ok
        assert report.first_failure is not None
    assert not verify_bundle(tampered).ok


def test_the_verifier_loads_nothing_of_the_app():
    code = textwrap.dedent(
        """
        import sys
        import mindlinks.esign.evidence_verify
        loaded = sorted(m for m in sys.modules if m.startswith("mindlinks"))
        heavy = sorted(m for m in ("sqlalchemy", "fastapi", "pydantic", "jinja2") if m in sys.modules)
        print(loaded, heavy)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == (
        "['mindlinks', 'mindlinks.esign', 'mindlinks.esign.evidence_verify', "
        "'mindlinks.esign.evidence_verify_pdf', 'mindlinks.ledger', "
        "'mindlinks.ledger.verifier'] []"
    )


def test_the_verifier_runs_alone_from_three_copied_files(bundle, tmp_path):
    for module in (evidence_verify, evidence_verify_pdf, ledger_verifier):
        shutil.copy(module.__file__, tmp_path / Path(module.__file__).name)
    (tmp_path / "bundle.zip").write_bytes(bundle.data)
    (tmp_path / "ca.pem").write_bytes(bundle.ca_pem)
    (tmp_path / "tampered.zip").write_bytes(
        with_file(
            bundle, "contract.pdf", flip_byte(bundle.files()["contract.pdf"], 2000), manifest=False
        )
    )
    # `mindlinks` cannot be imported: only the copied files are there.
    runner = (
        "import runpy, sys; sys.modules['mindlinks'] = None; "
        "sys.path.insert(0, '.'); sys.argv = sys.argv[1:]; "
        "runpy.run_path('evidence_verify.py', run_name='__main__')"
    )

    def run(name: str) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-c", runner, "evidence_verify.py", name, "--ca", "ca.pem"]
        for vkey in bundle.vkeys:
            args += ["--ledger-key", vkey]
        return subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)

    good = run("bundle.zip")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK: all" in good.stdout and "trust anchored" in good.stdout
    bad = run("tampered.zip")
    assert bad.returncode == 1
    assert "FAILED manifest" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr
