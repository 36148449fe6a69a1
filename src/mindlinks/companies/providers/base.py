"""The business registry seen from the companies module: one `lookup` call.

A registry answers with a `RegistryResult` whose `verdict` says what the answer
means for the company:

- `verified`: the company exists and is in good standing;
- `rejected`: it does not exist, or it is dissolved/struck off/inactive;
- `undecided`: the registry answered but cannot decide yet (e.g. an
  incorporation still being processed, or a status word we do not recognise).

`RegistryUnavailable` is different from `undecided`: it means we got no usable
answer at all (downtime, timeout, 429/5xx, a misconfigured API token), so the
same question should be asked again later with backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol, runtime_checkable

Verdict = Literal["verified", "rejected", "undecided"]


class RegistryUnavailable(Exception):
    """No usable answer from the registry now; asking again later may work."""


@dataclass(frozen=True)
class RegistryResult:
    found: bool
    verdict: Verdict
    source: str
    name: str | None = None
    status: str | None = None
    incorporation_date: date | None = None
    registered_address: str | None = None
    url: str | None = None


@runtime_checkable
class BusinessRegistry(Protocol):
    """Looks a company up by jurisdiction (e.g. `gb`, `us_de`) and number."""

    name: str

    def lookup(self, jurisdiction_code: str, registration_number: str) -> RegistryResult:
        """Answer what the registry knows; raise `RegistryUnavailable` when it cannot say."""
        ...
