"""OpenCorporates API v0.4 adapter.

`GET {base}/companies/{jurisdiction_code}/{company_number}?api_token=…` answers
`{"api_version": "0.4", "results": {"company": {...}}}`. What each answer means:

- 200: found; the verdict comes from `inactive`, `dissolution_date` and
  `current_status` (see `verdict_for`);
- 404: not found, so rejected;
- 401, 403: our API token is wrong or lacks access. Logged as a configuration
  error and raised as `RegistryUnavailable`: retrying is right once an
  operator fixes the token;
- 429, 5xx, timeouts, network errors, unreadable bodies: `RegistryUnavailable`.

The token travels as a query parameter (the documented way) and is never
logged: log lines carry the jurisdiction and the HTTP status only.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from mindlinks.companies.providers.base import RegistryResult, RegistryUnavailable, Verdict

log = structlog.get_logger(__name__)

# Words in `current_status` that mean the company no longer trades. They are
# checked before the good words, so "Inactive" or "Not in good standing" never
# pass as "active" / "good standing".
_GONE = re.compile(
    r"dissolv|struck|strike|liquidat|insolven|bankrupt|receivership|closed|cancel|revoked|"
    r"forfeit|removed|inactive|terminat|merged|converted|deregist|not in good standing|"
    r"expired|withdrawn|ceased|void|suspend",
    re.IGNORECASE,
)
_GOOD = re.compile(
    r"^\s*(active|good standing|in good standing|live|registered|in existence|existing|"
    r"current|normal|incorporated|in business)\b",
    re.IGNORECASE,
)


def verdict_for(company: dict[str, Any]) -> Verdict:
    """Map an OpenCorporates company record to verified / rejected / undecided."""
    status = str(company.get("current_status") or "")
    if company.get("inactive") is True or company.get("dissolution_date"):
        return "rejected"
    if status and _GONE.search(status):
        return "rejected"
    if status and _GOOD.search(status):
        return "verified"
    if company.get("inactive") is False:
        return "verified"
    return "undecided"


def _address(raw: Any) -> str | None:
    if isinstance(raw, str):
        return raw or None
    if not isinstance(raw, dict):
        return None
    keys = ("street_address", "locality", "region", "postal_code", "country")
    parts = [str(raw[k]).strip() for k in keys if raw.get(k)]
    return ", ".join(p for p in parts if p) or None


def _date(raw: Any) -> date | None:
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


class OpenCorporatesRegistry:
    name = "opencorporates"

    def __init__(
        self,
        *,
        base_url: str,
        api_token: str | None,
        timeout_seconds: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_token = api_token
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "mindlinks/0.1"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def lookup(self, jurisdiction_code: str, registration_number: str) -> RegistryResult:
        url = (
            f"{self.base_url}/companies/{quote(jurisdiction_code, safe='')}/"
            f"{quote(registration_number, safe='')}"
        )
        params = {"api_token": self.api_token} if self.api_token else {}
        bound = log.bind(registry=self.name, jurisdiction=jurisdiction_code)
        try:
            response = self.client.get(url, params=params)
        except httpx.TimeoutException as exc:
            bound.warning("registry_timeout")
            raise RegistryUnavailable("the registry did not answer in time") from exc
        except httpx.HTTPError as exc:
            bound.warning("registry_unreachable", error=type(exc).__name__)
            raise RegistryUnavailable("the registry could not be reached") from exc

        if response.status_code == 404:
            return RegistryResult(
                found=False, verdict="rejected", source=self.name, status="not found"
            )
        if response.status_code in (401, 403):
            bound.error("registry_configuration_error", http_status=response.status_code)
            raise RegistryUnavailable("the registry refused our credentials")
        if response.status_code != 200:
            bound.warning("registry_error", http_status=response.status_code)
            raise RegistryUnavailable(f"the registry answered {response.status_code}")
        try:
            company = response.json()["results"]["company"]
            if not isinstance(company, dict):
                raise TypeError("company is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            bound.warning("registry_bad_body")
            raise RegistryUnavailable("the registry answered an unreadable body") from exc
        return self._result(company)

    def _result(self, company: dict[str, Any]) -> RegistryResult:
        def text(key: str) -> str | None:
            value = company.get(key)
            if value is None:
                return None
            return str(value).strip()[:300] or None

        status = text("current_status")
        if status is None and company.get("inactive") is not None:
            status = "Inactive" if company["inactive"] else "Active"
        return RegistryResult(
            found=True,
            verdict=verdict_for(company),
            source=self.name,
            name=text("name"),
            status=status,
            incorporation_date=_date(company.get("incorporation_date")),
            registered_address=_address(company.get("registered_address")),
            url=text("opencorporates_url"),
        )
