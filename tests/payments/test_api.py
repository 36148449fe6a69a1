"""GET /api/contracts/{id}/payment-schedule."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from mindlinks.payments import service
from tests.contracts.factories import client_company, linked_contractor
from tests.factories import auth_headers, make_user, problem
from tests.payments.factories import HOURLY, MILESTONES, contract_for


def path(contract_id: str) -> str:
    return f"/api/contracts/{contract_id}/payment-schedule"


def test_anonymous_callers_get_401(client: TestClient, session: Session) -> None:
    contract, *_ = contract_for(session)
    service.create_schedule(session, contract)
    problem(client.get(path(contract.id)), 401, "not-authenticated")


def test_other_tenants_and_strangers_get_404(client: TestClient, session: Session) -> None:
    contract, *_ = contract_for(session)
    service.create_schedule(session, contract)
    other_company, other_client = client_company(session)
    other_contractor = linked_contractor(session, other_company)
    admin = make_user(session, role="admin")  # a direct contract is not the admins'
    for stranger in (other_client, other_contractor, admin):
        response = client.get(path(contract.id), headers=auth_headers(client, stranger))
        problem(response, 404, "contract-not-found")
    problem(client.get(path("0" * 26), headers=auth_headers(client, other_client)), 404)


@pytest.mark.parametrize("party", ["client", "contractor"])
def test_parties_read_the_schedule_in_position_order(
    client: TestClient, session: Session, party: str
) -> None:
    contract, _, client_user, contractor = contract_for(session)
    service.create_schedule(session, contract)
    user = client_user if party == "client" else contractor
    response = client.get(path(contract.id), headers=auth_headers(client, user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    assert [item["position"] for item in body["items"]] == list(range(12))
    first = body["items"][0]
    assert first == {
        "id": first["id"],
        "position": 0,
        "kind": "fixed",
        "period_start": "2027-01-01",
        "period_end": "2027-01-31",
        "due_date": "2027-01-31",
        "amount": {"amount_minor": 500_000, "currency": "EUR"},
        "rate": None,
        "title": None,
        "milestone_index": None,
        "status": "scheduled",
    }
    assert isinstance(first["id"], str) and first["id"]


def test_the_schedule_is_empty_before_activation(client: TestClient, session: Session) -> None:
    contract, _, client_user, _ = contract_for(session, status="sent")
    response = client.get(path(contract.id), headers=auth_headers(client, client_user))
    assert response.json() == {"items": [], "next_cursor": None}


def test_hourly_and_milestone_items_show_their_extras(client: TestClient, session: Session) -> None:
    hourly, _, hourly_client, _ = contract_for(
        session, payment_terms=HOURLY, end_date=date(2027, 1, 31)
    )
    service.create_schedule(session, hourly)
    items = client.get(path(hourly.id), headers=auth_headers(client, hourly_client)).json()["items"]
    assert {(i["kind"], i["amount"]["amount_minor"]) for i in items} == {("hourly", 0)}
    assert items[0]["rate"] == {"amount_minor": 9_000, "currency": "USD"}

    milestones, _, _, contractor = contract_for(session, payment_terms=MILESTONES)
    service.create_schedule(session, milestones)
    items = client.get(path(milestones.id), headers=auth_headers(client, contractor)).json()[
        "items"
    ]
    assert [(i["title"], i["milestone_index"], i["due_date"]) for i in items] == [
        ("Design", 0, "2027-03-01"),
        ("Build", 1, "2027-09-30"),
    ]


def test_pages_follow_the_cursor(client: TestClient, session: Session) -> None:
    contract, _, client_user, _ = contract_for(session)
    service.create_schedule(session, contract)
    headers = auth_headers(client, client_user)
    seen: list[int] = []
    url = path(contract.id) + "?limit=5"
    for _ in range(5):
        body = client.get(url, headers=headers).json()
        seen += [item["position"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        url = path(contract.id) + f"?limit=5&cursor={body['next_cursor']}"
    assert seen == list(range(12))


@pytest.mark.parametrize("cursor", ["nonsense!", "cG9zOi0x", "MDFoeHh4eHh4eHh4eHh4eHh4eHh4eHh4eA"])
def test_a_foreign_cursor_is_a_422(client: TestClient, session: Session, cursor: str) -> None:
    contract, _, client_user, _ = contract_for(session)
    response = client.get(
        path(contract.id) + f"?cursor={cursor}", headers=auth_headers(client, client_user)
    )
    body = problem(response, 422, "invalid-input")
    assert body["errors"] == [{"field": "cursor", "message": "not a cursor this list issued"}]


def test_limit_is_capped_at_100(client: TestClient, session: Session) -> None:
    contract, _, client_user, _ = contract_for(session)
    response = client.get(
        path(contract.id) + "?limit=101", headers=auth_headers(client, client_user)
    )
    problem(response, 422)
