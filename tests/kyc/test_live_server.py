"""The sandbox journey against a real server: uvicorn, SQLite, the in-process worker.

Nothing is stood in: the capture is a real multipart upload, the decision job
POSTs the signed webhook over real HTTP to the same process, and on SQLite that
webhook's transaction must not wait on the job's (the job touches no table
before its POST). The decision has to be committed within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from mindlinks.config import Settings
from mindlinks.db import make_engine
from mindlinks.identity.service import create_user
from mindlinks.migrations.runner import upgrade
from tests.factories import PASSWORD
from tests.kyc.factories import capture_files
from tests.live_server import loopback_socket, serving

CONTRACTOR_EMAIL = "casey@contractor.example"
DECISION_WAIT_SECONDS = 20


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    sock, base_url = loopback_socket()
    settings = Settings(
        env="development",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'live.db'}",
        public_url=base_url,
        run_worker_in_process=True,
        worker_poll_seconds=0.2,
        mailer="dev",
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    with Session(engine) as db:
        create_user(
            db,
            email=CONTRACTOR_EMAIL,
            password=PASSWORD,
            full_name="Casey Contractor",
            role="contractor",
            verified=True,
        )
        db.commit()
    engine.dispose()
    with serving(settings, sock):
        yield base_url


def test_a_sandbox_decision_arrives_over_real_http(live_server):
    with httpx.Client(base_url=live_server, timeout=30) as http:
        token = http.post(
            "/api/auth/login", json={"email": CONTRACTOR_EMAIL, "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        started = http.post("/api/kyc/sessions", headers=headers)
        assert started.status_code == 201, started.text
        session_id = started.json()["id"]
        submitted = http.post(
            f"/api/kyc/sandbox/{session_id}/submit",
            headers=headers,
            files=capture_files(),
            data={"document_number": "L01X00T47"},
        )
        assert submitted.status_code == 202, submitted.text

        deadline = time.monotonic() + DECISION_WAIT_SECONDS
        status = "submitted"
        while status == "submitted" and time.monotonic() < deadline:
            time.sleep(0.1)
            status = http.get(f"/api/kyc/sessions/{session_id}", headers=headers).json()["status"]
        assert status == "approved"
        assert http.get("/api/me", headers=headers).json()["kyc_status"] == "approved"

        mailbox = []
        while not mailbox and time.monotonic() < deadline:
            mailbox = http.get("/api/dev/mailbox", params={"to": CONTRACTOR_EMAIL}).json()["items"]
            time.sleep(0.1)
        assert any("verified" in mail["subject"] for mail in mailbox)
