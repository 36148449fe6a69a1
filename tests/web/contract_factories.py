"""Helpers of the contract page tests: browsers signed in as each party, the draft
form as a browser posts it, and a drawn signature as a canvas gives it."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from mindlinks.companies.models import Company
from mindlinks.contracts.models import Contract, ContractTemplate
from mindlinks.identity import passwords
from mindlinks.identity import service as identity
from mindlinks.identity.models import User
from mindlinks.platform.context import AppContext
from tests.contracts.factories import client_company, linked_contractor, shipped_templates
from tests.esign.factories import png_bytes
from tests.web.test_routes import csrf, sign_in

CONTRACT_URL = re.compile(r"^/contracts/([0-9a-z]{26})$")
_HASHES: dict[str, str] = {}


@pytest.fixture(autouse=True)
def hash_each_password_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test makes several accounts; one real argon2 hash per password keeps
    sign-in real and the tests fast."""

    def memoised(password: str) -> str:
        if password not in _HASHES:
            _HASHES[password] = passwords.hash_password(password)
        return _HASHES[password]

    monkeypatch.setattr(identity, "hash_password", memoised)


@dataclass
class Parties:
    company: Company
    client: User
    contractor: User
    templates: dict[str, ContractTemplate]

    @property
    def direct(self) -> ContractTemplate:
        return self.templates["direct-services"]

    @property
    def eor(self) -> ContractTemplate:
        return self.templates["eor-services"]


def make_parties(
    session: Session, app_context: AppContext, *, kyc: bool = True, **company: Any
) -> Parties:
    owner_company, client = client_company(session, full_name="Clara Client")
    contractor = linked_contractor(
        session,
        owner_company,
        app_context=app_context if kyc else None,
        full_name="Zoë Łukasiewicz",
    )
    return Parties(owner_company, client, contractor, shipped_templates(session))


def browser(app: FastAPI, user: User) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    sign_in(client, user.email)
    return client


def form_post(client: TestClient, url: str, data: dict[str, str], **kw: Any) -> Response:
    return client.post(url, data={"csrf_token": csrf(client), **data}, **kw)


def draft_data(
    parties: Parties, template: ContractTemplate | None = None, **over: str
) -> dict[str, str]:
    """The draft form filled in as a client would."""
    data = {
        "template_id": (template or parties.direct).id,
        "company_id": parties.company.id,
        "contractor_id": parties.contractor.id,
        "title": "Backend development",
        "scope": "Build and maintain the payments API.\r\n\r\nWeekly demos on Fridays.",
        "start_date": "2027-01-01",
        "end_date": "2027-12-31",
        "payment_type": "fixed",
        "currency": "EUR",
        "cycle": "monthly",
        "amount": "5000.50",
        "rate": "",
        "var_governing_law": "England and Wales",
        "var_work_country": "Germany",
    }
    data.update(over)
    return data


def create_draft(client: TestClient, parties: Parties, **over: str) -> str:
    r = form_post(client, "/contracts/new", draft_data(parties, **over), follow_redirects=False)
    assert r.status_code == 303, r.text
    match = CONTRACT_URL.match(r.headers["location"])
    assert match, r.headers["location"]
    return match.group(1)


def drawn_data_url(seed: int = 3) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(seed=seed)).decode("ascii")


def field_error(response: Response, name: str) -> str:
    """The error shown above input `name` (empty when none)."""
    match = re.search(rf'id="f-{re.escape(name)}-error">(.*?)</p>', response.text, re.DOTALL)
    if not match:
        return ""
    return unescape(re.sub(r"<[^>]+>", "", match.group(1))).replace("Error:", "").strip()


def contract_of(session: Session, contract_id: str) -> Contract:
    found = session.get(Contract, contract_id, populate_existing=True)
    assert found is not None
    return found


def text_of(response: Response) -> str:
    """The page's visible words, tags dropped, for asserting on what people read."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.text)).split())
