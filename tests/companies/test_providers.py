"""Business registries: the sandbox, and the OpenCorporates adapter on recorded-shape payloads."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest

from mindlinks.companies.providers import (
    BusinessRegistry,
    RegistryUnavailable,
    get_registry,
    registry_for,
)
from mindlinks.companies.providers.opencorporates import OpenCorporatesRegistry, verdict_for
from mindlinks.companies.providers.sandbox import SandboxRegistry
from mindlinks.config import Settings

BASE = "https://api.opencorporates.com/v0.4"


def company_payload(**overrides: Any) -> dict[str, Any]:
    """A `GET /companies/{jurisdiction}/{number}` answer in the documented v0.4 shape."""
    company = {
        "name": "BARCLAYS BANK PLC",
        "company_number": "01026167",
        "jurisdiction_code": "gb",
        "incorporation_date": "1971-10-04",
        "dissolution_date": None,
        "company_type": "Public Limited Company",
        "registry_url": "https://beta.companieshouse.gov.uk/company/01026167",
        "branch": None,
        "branch_status": None,
        "inactive": False,
        "current_status": "Active",
        "created_at": "2010-10-21T03:28:33+00:00",
        "updated_at": "2024-05-10T11:26:29+00:00",
        "retrieved_at": "2024-05-09T00:00:00+00:00",
        "opencorporates_url": "https://opencorporates.com/companies/gb/01026167",
        "previous_names": [],
        "source": {"publisher": "UK Companies House", "url": "http://xmlgw.companieshouse.gov.uk/"},
        "registered_address": {
            "street_address": "1 Churchill Place",
            "locality": "London",
            "region": None,
            "postal_code": "E14 5HP",
            "country": "England",
        },
        "registered_address_in_full": "1 Churchill Place, London, E14 5HP",
        "industry_codes": [],
    }
    company.update(overrides)
    return {"api_version": "0.4", "results": {"company": company}}


def adapter(handler: Any, token: str | None = "secret-token") -> OpenCorporatesRegistry:
    return OpenCorporatesRegistry(
        base_url=BASE,
        api_token=token,
        timeout_seconds=2.0,
        transport=httpx.MockTransport(handler),
    )


class TestSandbox:
    def test_any_other_number_verifies_with_the_same_synthetic_answer_every_time(self):
        first = SandboxRegistry().lookup("gb", "12345678")
        assert first == SandboxRegistry().lookup("gb", "12345678")
        assert first.verdict == "verified"
        assert first.found
        assert first.name and first.name.endswith("Ltd")
        assert isinstance(first.incorporation_date, date)
        assert SandboxRegistry().lookup("gb", "87654321").name != first.name or (
            SandboxRegistry().lookup("gb", "87654321").incorporation_date
            != first.incorporation_date
        )

    def test_rej_numbers_are_rejected_and_pend_numbers_undecided(self):
        assert SandboxRegistry().lookup("de", "REJ123").verdict == "rejected"
        assert SandboxRegistry().lookup("de", "REJ123").name.endswith("GmbH")
        assert SandboxRegistry().lookup("us_de", "PEND42").verdict == "undecided"

    def test_it_satisfies_the_protocol(self):
        assert isinstance(SandboxRegistry(), BusinessRegistry)


class TestOpenCorporates:
    def test_an_active_company_is_verified_with_its_registry_details(self):
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json=company_payload())

        result = adapter(handler).lookup("gb", "01026167")
        assert result.verdict == "verified"
        assert result.found
        assert result.name == "BARCLAYS BANK PLC"
        assert result.status == "Active"
        assert result.incorporation_date == date(1971, 10, 4)
        assert result.registered_address == "1 Churchill Place, London, E14 5HP, England"
        assert result.url == "https://opencorporates.com/companies/gb/01026167"
        assert result.source == "opencorporates"
        (request,) = seen
        assert request.method == "GET"
        assert request.url.path == "/v0.4/companies/gb/01026167"
        assert request.url.params["api_token"] == "secret-token"

    def test_a_dissolved_company_is_rejected(self):
        payload = company_payload(
            current_status="Dissolved", inactive=True, dissolution_date="2015-03-01"
        )
        result = adapter(lambda r: httpx.Response(200, json=payload)).lookup("gb", "01026167")
        assert result.verdict == "rejected"
        assert result.status == "Dissolved"

    def test_404_is_not_found_and_rejected(self):
        body = {"error": {"message": "No company found"}}
        result = adapter(lambda r: httpx.Response(404, json=body)).lookup("gb", "99999999")
        assert not result.found
        assert result.verdict == "rejected"

    @pytest.mark.parametrize("status", [500, 502, 503, 429, 401, 403, 301])
    def test_server_errors_rate_limits_and_bad_credentials_are_unavailable(self, status):
        registry = adapter(lambda r: httpx.Response(status, text="nope"))
        with pytest.raises(RegistryUnavailable):
            registry.lookup("gb", "01026167")

    def test_a_timeout_is_unavailable(self):
        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("timed out", request=request)

        with pytest.raises(RegistryUnavailable, match="in time"):
            adapter(handler).lookup("gb", "01026167")

    def test_a_network_error_is_unavailable(self):
        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        with pytest.raises(RegistryUnavailable):
            adapter(handler).lookup("gb", "01026167")

    @pytest.mark.parametrize(
        "body",
        [b"<html>maintenance</html>", b"{}", json.dumps({"results": {"company": []}}).encode()],
    )
    def test_an_unreadable_body_is_unavailable(self, body):
        registry = adapter(lambda r: httpx.Response(200, content=body))
        with pytest.raises(RegistryUnavailable):
            registry.lookup("gb", "01026167")

    def test_no_token_sends_no_token_parameter(self):
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json=company_payload())

        adapter(handler, token=None).lookup("us_de", "5158175")
        assert "api_token" not in seen[0].url.params
        assert seen[0].url.path == "/v0.4/companies/us_de/5158175"

    @pytest.mark.parametrize(
        ("fields", "verdict"),
        [
            ({"current_status": "Active", "inactive": False}, "verified"),
            ({"current_status": "Good Standing", "inactive": None}, "verified"),
            ({"current_status": "In Existence"}, "verified"),
            ({"current_status": "Registered"}, "verified"),
            ({"current_status": None, "inactive": False}, "verified"),
            ({"current_status": "Dissolved"}, "rejected"),
            ({"current_status": "Inactive"}, "rejected"),
            ({"current_status": "Not in Good Standing"}, "rejected"),
            ({"current_status": "Liquidation"}, "rejected"),
            ({"current_status": "Active - Proposal to Strike off"}, "rejected"),
            ({"current_status": "Active", "inactive": True}, "rejected"),
            ({"current_status": "Active", "dissolution_date": "2020-01-01"}, "rejected"),
            ({"current_status": "Something new"}, "undecided"),
            ({"current_status": None, "inactive": None}, "undecided"),
        ],
    )
    def test_status_mapping(self, fields, verdict):
        assert verdict_for(fields) == verdict


class TestChoice:
    def test_settings_choose_the_registry(self, tmp_path):
        assert isinstance(get_registry(Settings(data_dir=tmp_path)), SandboxRegistry)
        chosen = get_registry(
            Settings(data_dir=tmp_path, registry="opencorporates", opencorporates_api_token="t")
        )
        assert isinstance(chosen, OpenCorporatesRegistry)
        assert chosen.base_url == BASE
        assert isinstance(chosen, BusinessRegistry)

    def test_the_app_keeps_one_registry_per_process(self, app_context):
        saved = dict(app_context.extras)
        try:
            app_context.extras.clear()
            assert registry_for(app_context) is registry_for(app_context)
        finally:
            app_context.extras.clear()
            app_context.extras.update(saved)
