"""The evidence of a contract that went through the real services: sent (rendered
PDF), signed by both parties, sealed by the seal job, then checkpointed."""

from __future__ import annotations

import re
import time

from mindlinks.contracts.service import send_contract
from mindlinks.esign.evidence import build_evidence_bundle
from mindlinks.esign.evidence_verify import verify_bundle, vkeys_from_key_document
from mindlinks.esign.notices import SEAL_JOB
from mindlinks.esign.pki import platform_ca_pem
from mindlinks.ledger.checkpoints import issue_checkpoint, keyring_for
from mindlinks.ledger.repository import head_size
from tests.esign.evidence_factories import unzip
from tests.esign.factories import actor, make_deal, sign
from tests.factories import auth_headers, problem, run_jobs


def test_a_contract_signed_and_sealed_through_the_services_has_verifiable_evidence(
    client, session, app_context
):
    deal = make_deal(session, app_context, sent=False)
    send_contract(session, app_context, actor(deal.client), deal.contract)
    sign(session, deal.client, deal.contract)
    signed = sign(session, deal.contractor, deal.contract)
    assert signed.activated
    url = f"/api/contracts/{deal.contract.id}/evidence"
    headers = auth_headers(client, deal.contractor)
    problem(client.get(url, headers=headers), 409, "evidence-not-ready")  # not sealed yet

    run_jobs(session, app_context, names=(SEAL_JOB,))
    session.refresh(deal.contract)
    assert deal.contract.sealed_sha256 is not None
    # Committed and numbered, as the sequencer does after the job's commit (on
    # PostgreSQL the entries are queued until then).
    head_size(session)
    problem(client.get(url, headers=headers), 409, "evidence-not-ready")  # no checkpoint yet
    issue_checkpoint(session, app_context.settings, keyring_for(app_context))

    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    report = verify_bundle(
        response.content,
        trusted_ledger_keys=vkeys_from_key_document(client.get("/api/ledger/public-keys").json()),
        trusted_ca_pem=client.get("/api/esign/platform-ca.pem").content,
    )
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.anchored
    proofs = next(c.detail for c in report.checks if c.name == "ledger-proofs")
    assert re.findall(r"\((contract\.[a-z]+)\)", proofs) == [
        "contract.sent",
        "contract.signed",
        "contract.signed",
        "contract.activated",
        "contract.sealed",
    ]
    assert "identical to the copy embedded" in next(
        c.detail for c in report.checks if c.name == "certificate-of-completion"
    )
    assert unzip(response.content)["keys/platform-ca.pem"] == platform_ca_pem(app_context.settings)


def test_building_and_verifying_a_bundle_takes_milliseconds(session, app_context):
    """Not a benchmark: a guard that neither step is pathologically slow."""
    deal = make_deal(session, app_context, sent=False)
    send_contract(session, app_context, actor(deal.client), deal.contract)
    sign(session, deal.client, deal.contract)
    sign(session, deal.contractor, deal.contract)
    run_jobs(session, app_context, names=(SEAL_JOB,))
    issue_checkpoint(session, app_context.settings, keyring_for(app_context))
    session.refresh(deal.contract)
    ca = platform_ca_pem(app_context.settings)

    started = time.perf_counter()
    bundle = build_evidence_bundle(session, app_context, deal.contract, platform_ca_pem=ca)
    built = time.perf_counter()
    report = verify_bundle(
        bundle.data, trusted_ledger_keys=keyring_for(app_context).vkeys, trusted_ca_pem=ca
    )
    verified = time.perf_counter()
    assert report.ok
    assert built - started < 2.0
    assert verified - built < 2.0
