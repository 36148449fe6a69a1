"""Business registries: the `BusinessRegistry` protocol, the sandbox and OpenCorporates.

`get_registry(settings)` builds the one chosen by `settings.registry`;
`registry_for(ctx)` keeps one per process in the app context (the
OpenCorporates adapter holds a pooled HTTP client), and is where a caller that
wants another registry (a test standing in a failing one) puts it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from mindlinks.companies.providers.base import (
    BusinessRegistry,
    RegistryResult,
    RegistryUnavailable,
    Verdict,
)
from mindlinks.config import Settings

if TYPE_CHECKING:
    from mindlinks.platform.context import AppContext

__all__ = [
    "REGISTRY_EXTRA",
    "BusinessRegistry",
    "RegistryResult",
    "RegistryUnavailable",
    "Verdict",
    "get_registry",
    "registry_for",
]

REGISTRY_EXTRA = "companies.registry"


def get_registry(settings: Settings) -> BusinessRegistry:
    """A new registry client of the kind `settings.registry` names."""
    if settings.registry == "opencorporates":
        from mindlinks.companies.providers.opencorporates import OpenCorporatesRegistry

        return OpenCorporatesRegistry(
            base_url=settings.opencorporates_base_url,
            api_token=settings.opencorporates_api_token,
            timeout_seconds=settings.registry_timeout_seconds,
        )
    from mindlinks.companies.providers.sandbox import SandboxRegistry

    return SandboxRegistry()


def registry_for(ctx: AppContext) -> BusinessRegistry:
    """The process's registry, built on first use and kept in `ctx.extras`."""
    registry = ctx.extras.get(REGISTRY_EXTRA)
    if registry is None:
        registry = ctx.extras.setdefault(REGISTRY_EXTRA, get_registry(ctx.settings))
    return cast(BusinessRegistry, registry)
