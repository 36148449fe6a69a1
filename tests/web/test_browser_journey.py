"""The whole first journey in a real browser (headless Debian chromium via Playwright).

The app runs under uvicorn in a background thread against a fresh SQLite
database of its own, with the in-process worker on, so emails really go
through the job queue into the development mailbox.

A missing chromium fails this test: it is never skipped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect
from sqlalchemy.orm import Session

from mindlinks.config import Settings
from mindlinks.db import make_engine
from mindlinks.identity.service import create_user
from mindlinks.migrations.runner import upgrade
from tests.factories import PASSWORD
from tests.kyc.factories import document_bytes, selfie_bytes
from tests.live_server import loopback_socket, serving
from tests.web.live import debian_chromium

pytestmark = pytest.mark.browser

MAIL_WAIT_SECONDS = 30
DECISION_WAIT_MS = 30_000
ADMIN_EMAIL = "ada@mindlinks.example"


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    sock, base_url = loopback_socket()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = Settings(
        env="development",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'browser.db'}",
        public_url=base_url,
        run_worker_in_process=True,
        worker_poll_seconds=0.2,
        registry="sandbox",
        mailer="dev",
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    # Admins are never self-registered: one is made here, as `mindlinks` would.
    with Session(engine) as db:
        create_user(
            db,
            email=ADMIN_EMAIL,
            password=PASSWORD,
            full_name="Ada Admin",
            role="admin",
            verified=True,
            allowed_roles=("admin",),
        )
        db.commit()
    engine.dispose()

    with serving(settings, sock):
        yield base_url


@pytest.fixture
def browser() -> Iterator[Browser]:
    with debian_chromium() as browser:
        yield browser


def open_latest_email(page: Page, base_url: str, to: str, subject: str) -> None:
    """Open the dev mailbox filtered to `to` and wait for an email with `subject`."""
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while True:
        page.goto(f"{base_url}/dev/mailbox?to={to}")
        if page.get_by_role("heading", name=re.compile(subject)).count():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"no email {subject!r} to {to} reached the dev mailbox")
        time.sleep(0.3)


def test_client_invites_contractor_who_joins(
    live_server: str, browser: Browser, tmp_path: Path
) -> None:
    base = live_server
    shots = tmp_path / "screenshots"
    shots.mkdir()
    client_email = "cleo@acme.example"
    contractor_email = "carl@contractor.example"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()

    # --- the client registers -------------------------------------------------------
    page.goto(base + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hire independent contractors")
    page.get_by_role("main").get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/register$"))
    page.get_by_label("Full name").fill("Cleo Client")
    page.get_by_label("Email address").fill(client_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("A client").check()
    page.screenshot(path=str(shots / "01-register.png"), full_page=True)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_contain_text("We sent a verification link")

    # --- verifies the email through the dev mailbox ----------------------------------
    open_latest_email(page, base, client_email, "Confirm your email address")
    page.get_by_role("link", name=re.compile(r"verify-email\?token=")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify your email address")
    page.get_by_role("button", name="Verify my email address").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email address is verified")

    # --- signs in and registers a company -----------------------------------------------
    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    page.get_by_label("Email address").fill(client_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("navigation")).to_contain_text("Cleo Client")
    page.get_by_role("main").get_by_role("link", name="Register a company").first.click()
    page.get_by_label("Legal name").fill("Acme Widgets Ltd")
    page.get_by_label("Country").fill("GB")
    page.get_by_label("Jurisdiction").fill("gb")
    page.get_by_label("Registration number").fill("12345678")
    page.get_by_role("button", name="Register and verify").click()
    expect(page).to_have_url(re.compile(r"/companies/[0-9a-z]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Widgets Ltd")
    expect(page.locator(".page-head .badge")).to_have_text("verified")

    # --- invites a contractor ---------------------------------------------------------------
    page.get_by_label("Contractor's email address").fill(contractor_email)
    page.get_by_label("Contractor's name (optional)").fill("Carl Contractor")
    page.get_by_label("Personal message (optional)").fill("Looking forward to working with you!")
    page.get_by_role("button", name="Send invite").click()
    expect(page.get_by_role("status")).to_contain_text(f"Invite sent to {contractor_email}")
    row = page.get_by_role("row").filter(has_text=contractor_email)
    expect(row).to_contain_text("pending")
    expect(row.get_by_role("button", name=re.compile("Resend"))).to_be_visible()
    page.screenshot(path=str(shots / "02-company-with-invite.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out")

    # --- the contractor follows the invite link and registers -------------------------------
    open_latest_email(page, base, contractor_email, "invited you to work with")
    page.get_by_text("HTML version").first.click()
    html_version = page.frame_locator("iframe").first
    expect(html_version.locator("strong", has_text="Acme Widgets Ltd")).to_be_visible()
    page.screenshot(path=str(shots / "03-mailbox.png"), full_page=True)
    page.get_by_role("link", name=re.compile(r"\x2finvites\x2f")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Widgets Ltd invited you")
    expect(page.get_by_role("main")).to_contain_text(contractor_email)
    page.get_by_role("main").get_by_role("link", name="Create an account").click()
    expect(page.get_by_label("Email address")).to_have_value(contractor_email)
    page.get_by_label("Full name").fill("Carl Contractor")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    # --- accepts, and sees the company on the dashboard ----------------------------------------
    expect(page).to_have_url(re.compile(r"/invites/"))
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("status")).to_contain_text("You are now working with Acme Widgets Ltd")
    expect(page.get_by_role("heading", level=1)).to_have_text("Companies you work with")
    expect(page.get_by_role("main").get_by_role("link", name="Acme Widgets Ltd")).to_be_visible()
    page.screenshot(path=str(shots / "04-contractor-dashboard.png"), full_page=True)
    context.close()


# --- identity verification (KYC) in the sandbox ------------------------------------------


def picture(kind: str, seed: int, fmt: str) -> FilePayload:
    """A generated photo (tests.kyc.factories): an "ID card" or a face-like selfie."""
    data = document_bytes(seed, fmt) if kind == "document" else selfie_bytes(seed, fmt)
    extension = "png" if fmt == "PNG" else "jpg"
    return {
        "name": f"{kind}-{seed}.{extension}",
        "mimeType": f"image/{fmt.lower()}",
        "buffer": data,
    }


def register_verified(page: Page, base: str, email: str, name: str) -> None:
    """A contractor registers, verifies the email through the dev mailbox, signs in."""
    page.goto(base + "/register")
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("A contractor").check()
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    open_latest_email(page, base, email, "Confirm your email address")
    page.get_by_role("link", name=re.compile(r"verify-email\?token=")).first.click()
    page.get_by_role("button", name="Verify my email address").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email address is verified")
    sign_in_as(page, base, email)


def sign_in_as(page: Page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def capture_documents(page: Page, number: str, seed: int) -> None:
    """On the sandbox capture page: type the number, attach the photos, send."""
    expect(page).to_have_url(re.compile(r"/kyc/sandbox/[0-9a-z]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Send your identity photos")
    page.get_by_label("Document number").fill(number)
    page.get_by_label("Front of the document").set_input_files(picture("document", seed, "PNG"))
    page.get_by_label("Back of the document (optional)").set_input_files(
        picture("document", seed + 100, "JPEG")
    )
    page.get_by_label("Selfie").set_input_files(picture("selfie", seed, "JPEG"))
    page.get_by_role("button", name="Send for verification").click()
    expect(page).to_have_url(re.compile(r"/kyc/sessions/[0-9a-z]+$"))


def test_contractor_verifies_identity_in_the_sandbox(
    live_server: str, browser: Browser, tmp_path: Path
) -> None:
    base = live_server
    shots = tmp_path / "screenshots"
    shots.mkdir()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    register_verified(page, base, "kim@contractor.example", "Kim Contractor")

    # --- the dashboard's card starts the verification -------------------------------------
    card = page.get_by_role("region", name="Identity verification")
    expect(card).to_contain_text("not started")
    page.screenshot(path=str(shots / "10-kyc-card.png"), full_page=True)
    card.get_by_role("button", name="Start verification").click()
    page.screenshot(path=str(shots / "11-kyc-capture.png"), full_page=True)

    # --- a selfie that is the document's photo is refused, with the reason ----------------
    page.get_by_label("Document number").fill("P1234567")
    page.get_by_label("Front of the document").set_input_files(picture("document", 1, "PNG"))
    page.get_by_label("Selfie").set_input_files(picture("document", 1, "PNG"))
    page.get_by_role("button", name="Send for verification").click()
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    expect(page.locator("#f-selfie-error")).to_contain_text("same image as the document")
    expect(page.get_by_label("Document number")).to_have_value("P1234567")
    page.screenshot(path=str(shots / "11-kyc-capture-refused.png"), full_page=True)
    capture_documents(page, "P1234567", seed=1)

    # --- the result page refreshes itself (no JavaScript) until the decision lands -----------
    expect(page.get_by_role("status").first).to_contain_text("sent for verification")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Your identity is verified", timeout=DECISION_WAIT_MS
    )
    expect(page.locator(".page-head .badge")).to_have_text("approved")
    page.screenshot(path=str(shots / "12-kyc-approved.png"), full_page=True)
    page.goto(base + "/dashboard")
    expect(page.get_by_role("region", name="Identity verification")).to_contain_text("approved")
    context.close()


def test_admin_decides_a_verification_sent_to_review(
    live_server: str, browser: Browser, tmp_path: Path
) -> None:
    base = live_server
    shots = tmp_path / "screenshots"
    shots.mkdir()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    register_verified(page, base, "rey@contractor.example", "Rey Reviewed")
    page.get_by_role("button", name="Start verification").click()
    capture_documents(page, "REVW7777", seed=2)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Your documents are being reviewed", timeout=DECISION_WAIT_MS
    )
    page.get_by_role("button", name="Sign out").click()

    # --- the admin sees the count, the queue, and the images side by side ---------------------
    sign_in_as(page, base, ADMIN_EMAIL)
    expect(page.get_by_role("figure").filter(has_text="KYC sessions by status")).to_contain_text(
        "review"
    )
    page.screenshot(path=str(shots / "13-admin-dashboard.png"), full_page=True)
    page.get_by_role("link", name=re.compile("1 KYC session awaiting review")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("KYC reviews")
    page.get_by_role("row").filter(has_text="Rey Reviewed").get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rey Reviewed")
    images = page.locator(".kyc-images img")
    expect(images).to_have_count(3)
    # Every image loaded under the page's strict CSP (a refused one is 0 wide).
    page.wait_for_function(
        "() => [...document.querySelectorAll('.kyc-images img')].every(i => i.complete)"
    )
    widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [860, 860, 600]
    expect(page.get_by_role("main")).to_contain_text("REVW7777")
    page.screenshot(path=str(shots / "14-kyc-review.png"), full_page=True)
    page.get_by_label("Approve").check()
    page.get_by_label("Reason").fill("The selfie matches the document photo.")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("status")).to_contain_text("Rey Reviewed's verification is approved")
    expect(page.get_by_role("main")).to_contain_text("Nothing to review")
    page.get_by_role("button", name="Sign out").click()

    # --- the contractor sees the decision ---------------------------------------------------------
    sign_in_as(page, base, "rey@contractor.example")
    expect(page.get_by_role("region", name="Identity verification")).to_contain_text("approved")
    context.close()
