"""Every error is RFC 9457 problem+json, and every response carries a request id."""

from __future__ import annotations

from fastapi import APIRouter

from tests.factories import problem


def test_unknown_routes_answer_a_404_problem(client):
    body = problem(client.get("/api/does-not-exist"), 404, "not-found")
    assert body["instance"] == "/api/does-not-exist"


def test_wrong_method_answers_a_405_problem(client):
    problem(client.delete("/api/me"), 405)


def test_request_id_is_generated_and_echoed(client):
    generated = client.get("/api/health")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = client.get("/api/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    forged = client.get("/api/health", headers={"X-Request-ID": "bad id with spaces"})
    assert forged.headers["x-request-id"] != "bad id with spaces"


def test_an_unexpected_error_is_a_500_problem_without_internals(app, client):
    router = APIRouter()

    @router.get("/api/test-boom")
    def boom() -> None:
        raise RuntimeError("internal detail that must not leak")

    app.include_router(router)
    response = client.get("/api/test-boom")
    body = problem(response, 500)
    assert "internal detail" not in response.text
    assert body["type"].endswith("/internal-server-error")


def test_health_reports_the_database(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_is_unreachable(app, app_context, monkeypatch):
    from fastapi.testclient import TestClient

    from mindlinks.db import make_engine

    monkeypatch.setattr(
        app_context, "engine", make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    )
    response = TestClient(app).get("/api/health")
    problem(response, 503, "service-unavailable")
