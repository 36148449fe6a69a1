"""The bundled sandbox registry: offline, deterministic, used by default.

Registration numbers beginning with `REJ` are dissolved companies (rejected),
`PEND` are incorporations the registry cannot decide yet (undecided: the
company stays pending), and any other number is an active company whose name
and incorporation date are derived from the number, so the same number always
gives the same answer.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from mindlinks.companies.providers.base import RegistryResult

_FIRST = (
    "Northwind",
    "Bluefin",
    "Cedar",
    "Harbor",
    "Silverline",
    "Granite",
    "Juniper",
    "Meridian",
    "Orchard",
    "Polaris",
    "Quartz",
    "Redwood",
    "Summit",
    "Tidewater",
    "Vantage",
    "Willow",
)
_SECOND = (
    "Analytics",
    "Logistics",
    "Consulting",
    "Software",
    "Design",
    "Engineering",
    "Media",
    "Robotics",
    "Health",
    "Energy",
    "Foods",
    "Labs",
    "Partners",
    "Systems",
    "Studio",
    "Works",
)
_SUFFIX = {"gb": "Ltd", "ie": "Limited", "de": "GmbH", "fr": "SAS", "nl": "B.V.", "us": "Inc."}
_EPOCH = date(1980, 1, 1)


class SandboxRegistry:
    name = "sandbox"

    def lookup(self, jurisdiction_code: str, registration_number: str) -> RegistryResult:
        number = registration_number.upper()
        digest = hashlib.sha256(f"{jurisdiction_code}:{number}".encode()).digest()
        suffix = _SUFFIX.get(jurisdiction_code.split("_", 1)[0], "Ltd")
        name = f"{_FIRST[digest[0] % 16]} {_SECOND[digest[1] % 16]} {suffix}"
        incorporated = _EPOCH + timedelta(days=int.from_bytes(digest[2:4], "big") % 16000)
        if number.startswith("REJ"):
            return RegistryResult(
                found=True,
                verdict="rejected",
                source=self.name,
                name=name,
                status="Dissolved",
                incorporation_date=incorporated,
            )
        if number.startswith("PEND"):
            return RegistryResult(
                found=True,
                verdict="undecided",
                source=self.name,
                name=name,
                status="Pending incorporation",
            )
        return RegistryResult(
            found=True,
            verdict="verified",
            source=self.name,
            name=name,
            status="Active",
            incorporation_date=incorporated,
            registered_address=f"{1 + digest[4] % 200} High Street, Sandbox Town",
        )
