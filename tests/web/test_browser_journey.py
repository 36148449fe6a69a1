"""The whole first journey in a real browser (headless Debian chromium via Playwright).

The app runs under uvicorn in a background thread against a fresh SQLite
database of its own, with the in-process worker on, so emails really go
through the job queue into the development mailbox.

A missing chromium fails this test: it is never skipped.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from mindlinks.app import create_app
from mindlinks.config import Settings
from mindlinks.db import make_engine
from mindlinks.migrations.runner import upgrade
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MAIL_WAIT_SECONDS = 30


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
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
    engine.dispose()

    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start under uvicorn")
        time.sleep(0.05)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) "
            "to run the browser journey. Never `playwright install`."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


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
