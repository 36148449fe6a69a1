"""Small factory functions that build test data through the real services."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from mindlinks.identity.models import User
from mindlinks.identity.service import create_user
from mindlinks.jobs.models import Job
from mindlinks.jobs.service import TASKS, JobContext
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}@example.com"


def make_user(
    session: Session,
    *,
    role: str = "client",
    verified: bool = True,
    email: str | None = None,
    password: str = PASSWORD,
    full_name: str = "Test Person",
) -> User:
    user = create_user(
        session,
        email=email or unique_email(role),
        password=password,
        full_name=full_name,
        role=role,
        verified=verified,
        allowed_roles=("client", "contractor", "admin"),
    )
    session.flush()
    return user


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def auth_headers(client: TestClient, user: User) -> dict[str, str]:
    return login(client, user.email)


def run_jobs(session: Session, app_context: AppContext, *, names: tuple[str, ...] = ()) -> int:
    """Run queued jobs inside the test's transaction, as the worker would."""
    for ran in range(100):
        stmt = select(Job).where(Job.status == "queued", Job.run_at <= now()).order_by(Job.id)
        if names:
            stmt = stmt.where(Job.name.in_(names))
        job = session.scalars(stmt).first()
        if job is None:
            return ran
        job.status = "running"
        job.attempts += 1
        ctx = JobContext(job.id, job.name, job.attempts, job.idempotency_key, app_context)
        TASKS[job.name].handler(session, dict(job.payload), ctx)
        job.status = "done"
        job.finished_at = now()
        session.flush()
    raise AssertionError("jobs keep queueing more jobs")


def problem(response: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 answer with this status (and rule slug) and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    if slug is not None:
        assert body["type"].rsplit("/", 1)[-1] == slug, body
    return body
