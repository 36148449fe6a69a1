"""Building evidence bundles from the database (`esign.evidence`)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from mindlinks.contracts.errors import EvidenceNotReady
from mindlinks.esign.evidence import build_evidence_bundle
from mindlinks.esign.evidence_verify import verify_bundle
from mindlinks.ledger.checkpoints import issue_checkpoint, keyring_for, latest_checkpoint
from mindlinks.ledger.service import append_entry, seq_of
from mindlinks.ledger.verifier import verify_proof_bundle
from tests.esign.evidence_factories import sealed_contract, trusted_vkeys, unzip

FILES = {
    "manifest.json",
    "contract.pdf",
    "certificate-of-completion.pdf",
    "audit-trail.json",
    "ledger-proofs.json",
    "checkpoint.txt",
    "keys/ledger-public-key.json",
    "keys/platform-ca.pem",
    "README.txt",
}


@pytest.fixture
def sealed(session, app_context):
    return sealed_contract(session, app_context)


def build(session, app_context, sealed):
    return build_evidence_bundle(
        session, app_context, sealed.contract, platform_ca_pem=sealed.ca_pem
    )


def test_the_bundle_holds_every_named_file_and_verifies_against_the_platform_keys(
    session, app_context, sealed
):
    bundle = build(session, app_context, sealed)
    files = unzip(bundle.data)
    assert set(files) == FILES
    assert bundle.filename == f"evidence-{sealed.contract.id}.zip"
    assert files["contract.pdf"] == sealed.sealed_pdf
    assert files["certificate-of-completion.pdf"] == sealed.completion_pdf
    assert files["keys/platform-ca.pem"] == sealed.ca_pem
    assert files["checkpoint.txt"].decode() == latest_checkpoint(session).note

    report = verify_bundle(
        bundle.data, trusted_ledger_keys=trusted_vkeys(app_context), trusted_ca_pem=sealed.ca_pem
    )
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.anchored
    assert report.contract_id == sealed.contract.id


def test_the_manifest_lists_the_hash_of_every_other_file(session, app_context, sealed):
    files = unzip(build(session, app_context, sealed).data)
    manifest = json.loads(files["manifest.json"])
    assert manifest["format"] == "mindlinks-evidence/1"
    assert manifest["contract_id"] == sealed.contract.id
    assert manifest["document_sha256"] == hashlib.sha256(sealed.sent_pdf).hexdigest()
    assert manifest["sealed_sha256"] == hashlib.sha256(sealed.sealed_pdf).hexdigest()
    assert manifest["sent_pdf_size"] == len(sealed.sent_pdf)
    assert manifest["generated_at"].endswith("Z")
    assert manifest["files"] == {
        name: hashlib.sha256(data).hexdigest()
        for name, data in files.items()
        if name != "manifest.json"
    }


def test_the_audit_trail_tells_every_event_in_order(session, app_context, sealed):
    trail = json.loads(unzip(build(session, app_context, sealed).data)["audit-trail.json"])
    events = trail["events"]
    assert [e["type"] for e in events] == [
        "created",
        "sent",
        "consent",
        "signed",
        "consent",
        "signed",
        "activated",
        "sealed",
    ]
    assert [e["at"] for e in events if e["at"]] == sorted(e["at"] for e in events if e["at"])
    client_signature, contractor_signature = (e for e in events if e["type"] == "signed")
    assert client_signature["role"] == "client"
    assert client_signature["name"] == "Zoë Łukasiewicz"
    assert client_signature["email"] == sealed.client.email
    assert client_signature["ip"] == "203.0.113.7"
    assert client_signature["user_agent"].startswith("Mozilla/5.0")
    assert client_signature["signature_type"] == "typed"
    assert client_signature["document_sha256"] == sealed.contract.document_sha256
    assert client_signature["ledger_seq"] == seq_of(session, sealed.signatures[0].ledger_pending_id)
    assert contractor_signature["name"] == "张伟"
    assert contractor_signature["kyc_session_id"] == sealed.signatures[1].kyc_session_id
    consent = events[2]
    assert consent["consent_id"] == client_signature["consent_id"]
    (disclosure,) = trail["disclosures"]
    assert disclosure["version"] == consent["disclosure_version"]
    assert hashlib.sha256(disclosure["body"].encode()).hexdigest() == consent["disclosure_sha256"]
    assert events[1]["sent_pdf_size"] == len(sealed.sent_pdf)
    assert events[-1]["sealed_sha256"] == sealed.contract.sealed_sha256
    assert [e["kind"] for e in trail["ledger"]] == [
        "contract.sent",
        "contract.signed",
        "contract.signed",
        "contract.activated",
        "contract.sealed",
    ]
    assert events[-1]["ledger_seq"] == trail["ledger"][-1]["seq"]


def test_there_is_one_proof_per_ledger_entry_of_the_contract(session, app_context, sealed):
    files = unzip(build(session, app_context, sealed).data)
    proofs = json.loads(files["ledger-proofs.json"])
    trail = json.loads(files["audit-trail.json"])
    assert [p["entry"]["seq"] for p in proofs] == [e["seq"] for e in trail["ledger"]]
    for proof in proofs:
        assert proof["checkpoint"] == files["checkpoint.txt"].decode()
        verify_proof_bundle(proof, trusted_vkeys(app_context))


def test_the_same_state_gives_the_same_bytes(session, app_context, sealed):
    first = build(session, app_context, sealed)
    second = build(session, app_context, sealed)
    assert first.data == second.data
    with zipfile.ZipFile(io.BytesIO(first.data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_before_sealing_the_bundle_is_not_ready(session, app_context):
    unsealed = sealed_contract(session, app_context, seal=False)
    with pytest.raises(EvidenceNotReady, match="not sealed"):
        build(session, app_context, unsealed)


def test_without_a_checkpoint_the_bundle_is_not_ready(session, app_context):
    uncovered = sealed_contract(session, app_context, checkpoint=False)
    with pytest.raises(EvidenceNotReady, match="checkpoint"):
        build(session, app_context, uncovered)


def test_a_checkpoint_must_cover_every_entry_of_the_contract(session, app_context, sealed):
    contract = sealed.contract
    appended = append_entry(
        session,
        "contract.completed",
        f"contract:{contract.id}",
        "system",
        {"contract_id": contract.id},
    )
    later = seq_of(session, appended.pending_id)
    with pytest.raises(EvidenceNotReady, match=f"seq {later}"):
        build(session, app_context, sealed)
    issue_checkpoint(session, app_context.settings, keyring_for(app_context))

    bundle = build(session, app_context, sealed)
    trail = json.loads(unzip(bundle.data)["audit-trail.json"])
    assert trail["ledger"][-1] | {"recorded_at": None} == {
        "seq": later,
        "kind": "contract.completed",
        "recorded_at": None,
        "leaf_hash": trail["ledger"][-1]["leaf_hash"],
        "event": None,
    }
    report = verify_bundle(
        bundle.data, trusted_ledger_keys=trusted_vkeys(app_context), trusted_ca_pem=sealed.ca_pem
    )
    assert report.ok, [c for c in report.checks if not c.ok]
    proofs = next(c.detail for c in report.checks if c.name == "ledger-proofs")
    assert proofs.endswith(f"seq {later} (contract.completed)")
