"""Fixtures of the companies tests: a registry stand-in and a movable clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mindlinks.companies.providers import REGISTRY_EXTRA, RegistryResult, RegistryUnavailable
from mindlinks.companies.providers.sandbox import SandboxRegistry
from mindlinks.platform.context import AppContext
from tests.companies.factories import make_company
from tests.factories import auth_headers, make_user


class SwitchableRegistry:
    """The sandbox registry that can be taken down (raises) and brought back."""

    name = "switchable"

    def __init__(self) -> None:
        self.down = False
        self.broken = False
        self.calls = 0
        self.sandbox = SandboxRegistry()

    def lookup(self, jurisdiction_code: str, registration_number: str) -> RegistryResult:
        self.calls += 1
        if self.broken:
            raise RuntimeError("adapter bug")
        if self.down:
            raise RegistryUnavailable("registry is down")
        return self.sandbox.lookup(jurisdiction_code, registration_number)


@pytest.fixture
def registry(app_context: AppContext) -> Iterator[SwitchableRegistry]:
    stand_in = SwitchableRegistry()
    previous = app_context.extras.get(REGISTRY_EXTRA)
    app_context.extras[REGISTRY_EXTRA] = stand_in
    yield stand_in
    if previous is None:
        app_context.extras.pop(REGISTRY_EXTRA, None)
    else:
        app_context.extras[REGISTRY_EXTRA] = previous


@pytest.fixture
def owner(session):
    """A verified client."""
    return make_user(session, role="client")


@pytest.fixture
def owner_headers(client, owner):
    return auth_headers(client, owner)


@pytest.fixture
def company(session, owner):
    """A verified company that `owner` owns."""
    return make_company(session, owner)
