"""The contract journey in a real browser (headless Debian chromium via Playwright):
a client drafts a contract beside its live preview, sends it and signs it; the
contractor verifies their identity in the sandbox, draws a signature on the
canvas and signs; the contract is active with its payment schedule; sealing
completes in the background; and the evidence bundle downloads and verifies
offline against the platform's published keys.

The app runs under uvicorn in a background thread against a fresh SQLite
database, with the in-process worker on (KYC decisions, sealing and ledger
checkpoints all happen through the real job queue). A missing chromium fails
this test: it is never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from mindlinks.companies import service as companies
from mindlinks.config import Settings
from mindlinks.db import make_engine
from mindlinks.esign.evidence_verify import verify_bundle
from mindlinks.identity.service import create_user
from mindlinks.migrations.publish import upgrade_and_publish
from tests.companies.factories import make_company
from tests.factories import PASSWORD
from tests.live_server import loopback_socket, serving
from tests.web.live import debian_chromium
from tests.web.test_browser_journey import capture_documents, sign_in_as

pytestmark = pytest.mark.browser

CLIENT_EMAIL = "cleo@acme.example"
CONTRACTOR_EMAIL = "zoe@contractor.example"
CONTRACTOR_NAME = "Zoë Łukasiewicz"
TITLE = "Payments platform engineering"
DECISION_WAIT_MS = 30_000
SEAL_WAIT_MS = 120_000


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    sock, base_url = loopback_socket()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = Settings(
        env="development",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'journey.db'}",
        public_url=base_url,
        run_worker_in_process=True,
        worker_poll_seconds=0.2,
        checkpoint_interval_seconds=1,
        registry="sandbox",
        mailer="dev",
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade_and_publish(engine)
    # The client's verified company and a contractor linked to it, seeded through
    # the services (the invite journey has its own test).
    with Session(engine) as db:
        client = create_user(
            db,
            email=CLIENT_EMAIL,
            password=PASSWORD,
            full_name="Cleo Client",
            role="client",
            verified=True,
            allowed_roles=("client",),
        )
        contractor = create_user(
            db,
            email=CONTRACTOR_EMAIL,
            password=PASSWORD,
            full_name=CONTRACTOR_NAME,
            role="contractor",
            verified=True,
            allowed_roles=("contractor",),
        )
        db.flush()
        company = make_company(db, client, legal_name="Acme Widgets Ltd")
        companies.link_contractor(db, company.id, contractor.id)
        db.commit()
    engine.dispose()

    with serving(settings, sock):
        yield base_url


@pytest.fixture
def chromium() -> Iterator[Browser]:
    with debian_chromium() as browser:
        yield browser


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out")


def draw_signature(page: Page) -> None:
    """Drag the mouse across the pad like a hand would: two strokes."""
    pad = page.locator("canvas.signature-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box is not None
    left, top, width, height = box["x"], box["y"], box["width"], box["height"]
    strokes = [
        [(0.08, 0.70), (0.18, 0.25), (0.28, 0.75), (0.38, 0.30), (0.48, 0.70)],
        [(0.55, 0.55), (0.65, 0.35), (0.78, 0.60), (0.92, 0.40)],
    ]
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(left + x * width, top + y * height)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(left + x * width, top + y * height, steps=8)
        page.mouse.up()


def test_contract_from_draft_to_verified_evidence(
    live_server: str, chromium: Browser, tmp_path: Path
) -> None:
    base = live_server
    shots = tmp_path / "screenshots"
    shots.mkdir()
    context = chromium.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()

    # --- the client drafts a contract from the direct template ------------------------
    sign_in_as(page, base, CLIENT_EMAIL)
    page.get_by_role("main").get_by_role("link", name="New contract").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New contract")
    page.get_by_label(re.compile("Independent Contractor Services Agreement")).check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()

    preview = page.frame_locator("iframe[name='contract-preview']")
    # Opened empty, the preview already says what the form still needs.
    expect(preview.get_by_role("heading", level=1)).to_have_text(
        "The preview appears when the form is complete"
    )
    page.get_by_label("Contractor", exact=True).select_option(
        label=f"{CONTRACTOR_NAME} ({CONTRACTOR_EMAIL})"
    )
    page.get_by_label("Contract title").fill(TITLE)
    page.get_by_label("Scope of services").fill(
        "Design, build and operate the payouts service.\n\nWeekly demos; on-call one week a month."
    )
    page.get_by_label("Start date").fill("2027-01-01")
    page.get_by_label("End date (optional)").fill("2027-12-31")
    page.get_by_label("A fixed amount per period").check()
    page.get_by_label("Amount per period (fixed terms)").fill("5000.50")
    expect(page.get_by_label("Hourly rate (hourly terms)")).to_be_hidden()
    page.get_by_label("Governing law").fill("the Republic of Ireland")
    # The live preview follows the form: the document the PDF will be made from.
    expect(preview.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(preview.locator("body")).to_contain_text(CONTRACTOR_NAME)
    expect(preview.locator("body")).to_contain_text("EUR 5,000.50")
    expect(preview.locator("body")).to_contain_text("the Republic of Ireland")
    page.screenshot(path=str(shots / "20-draft-with-preview.png"), full_page=True)
    page.get_by_role("button", name="Save the draft").click()

    expect(page).to_have_url(re.compile(r"/contracts/[0-9a-z]{26}$"))
    contract_url = page.url
    expect(page.get_by_role("status")).to_contain_text("Your draft is saved")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.locator(".page-head .badge")).to_have_text("draft")

    # --- sends it, and signs first with a typed signature ----------------------------------
    page.get_by_role("button", name="Send for signature").click()
    expect(page).to_have_url(re.compile(r"/sign$"))
    expect(page.get_by_role("status")).to_contain_text("it is your turn")
    sha256 = page.locator("#document-sha256").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", sha256)
    expect(page.get_by_role("link", name="open the PDF you sign")).to_have_attribute(
        "href", re.compile(r"/api/contracts/[0-9a-z]{26}/document$")
    )
    expect(page.get_by_role("region", name=re.compile("Disclosure text"))).to_contain_text(
        "Your right to a paper copy"
    )
    expect(page.get_by_label("Your name as your signature")).to_have_value("Cleo Client")
    expect(page.locator(".signature-preview")).to_have_text("Cleo Client")
    page.get_by_role("button", name="Sign the contract").click()
    # Without consent, the ceremony refuses and says where.
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    expect(page.locator("#f-consent-error")).to_contain_text("consent must be true")
    page.get_by_label(re.compile("I have read the disclosure")).check()
    page.screenshot(path=str(shots / "21-client-signs.png"), full_page=True)
    page.get_by_role("button", name="Sign the contract").click()
    expect(page).to_have_url(contract_url)
    expect(page.get_by_role("status")).to_contain_text("You signed the contract")
    expect(page.locator(".page-head .badge")).to_have_text("partially signed")
    sign_out(page)

    # --- the contractor is asked to verify their identity first ---------------------------------
    sign_in_as(page, base, CONTRACTOR_EMAIL)
    waiting = page.get_by_role("region", name="Contracts waiting for your signature")
    waiting.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", name="Verify your identity before you sign")).to_be_visible()
    expect(page.locator("#sign-form")).to_have_count(0)
    page.get_by_role("link", name="Verify your identity").click()
    page.get_by_role("button", name="Start verification").click()
    capture_documents(page, "P1234567", seed=3)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Your identity is verified", timeout=DECISION_WAIT_MS
    )

    # --- and signs with a signature drawn on the canvas -----------------------------------------
    page.goto(contract_url + "/sign")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review and sign")
    page.get_by_label(re.compile("I have read the disclosure")).check()
    page.get_by_label("Draw my signature").check()
    expect(page.get_by_label("Your name as your signature")).to_be_hidden()
    draw_signature(page)
    drawn = page.locator("input[name='drawn_signature']").input_value()
    assert drawn.startswith("data:image/png;base64,") and len(drawn) > 200
    page.screenshot(path=str(shots / "22-contractor-draws.png"), full_page=True)
    page.get_by_role("button", name="Sign the contract").click()

    # --- the contract is active, with its payment schedule ------------------------------------------
    expect(page).to_have_url(contract_url)
    expect(page.locator(".flashes")).to_contain_text("the contract is active")
    expect(page.locator(".page-head .badge")).to_have_text("active")
    schedule = page.get_by_role("table", name=re.compile("Payment schedule"))
    expect(schedule.locator("tbody tr")).to_have_count(12)
    expect(schedule.locator("tbody tr").first).to_contain_text("EUR 5,000.50")
    parties = page.get_by_role("region", name="Parties")
    expect(parties).to_contain_text("Signed by Cleo Client")
    expect(parties).to_contain_text(f"Signed by {CONTRACTOR_NAME}")
    page.screenshot(path=str(shots / "23-active-contract.png"), full_page=True)

    # --- sealing and the next checkpoint happen in the background; the page reloads itself -----------
    evidence = page.get_by_role("link", name="Download the evidence bundle")
    expect(evidence).to_be_visible(timeout=SEAL_WAIT_MS)
    expect(page.get_by_role("link", name="Download the signed PDF")).to_be_visible()
    page.screenshot(path=str(shots / "24-sealed-contract.png"), full_page=True)
    with page.expect_download() as download_info:
        evidence.click()
    download = download_info.value
    assert re.fullmatch(r"evidence-[0-9a-z]{26}\.zip", download.suggested_filename)
    bundle = Path(download.path()).read_bytes()
    context.close()

    # --- the bundle verifies offline, trusting the keys the platform publishes ---------------------------
    ledger_key = httpx.get(f"{base}/api/ledger/public-key", timeout=10).json()["vkey"]
    ca_pem = httpx.get(f"{base}/api/esign/platform-ca.pem", timeout=10).content
    # Playwright's sync API keeps an event loop running in this thread, and pyHanko's
    # validation starts its own: the verifier runs in a thread of its own, as the
    # command line would in a process of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        report = pool.submit(
            verify_bundle, bundle, trusted_ledger_keys=[ledger_key], trusted_ca_pem=ca_pem
        ).result()
    failures = [f"{check.name}: {check.detail}" for check in report.checks if not check.ok]
    assert report.ok, failures
    assert report.anchored
    assert report.contract_id == contract_url.rsplit("/", 1)[-1]
    # Every kind of check ran (and passed, above): the PDF signatures under the CA,
    # the ledger proofs under the checkpoint, the document hash.
    for kind in (
        "pdf-signature",
        "pdf-signers",
        "ledger-proof",
        "ledger-checkpoint",
        "document-hash",
    ):
        assert any(check.name.startswith(kind) for check in report.checks), kind
