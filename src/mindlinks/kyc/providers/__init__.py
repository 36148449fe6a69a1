"""Identity-verification providers: the `KycProvider` protocol, the sandbox, Veriff, Onfido.

`kyc_provider_for(ctx)` is the provider new sessions start with (`settings.kyc_provider`);
`webhook_parser_for(ctx, name)` is the one that verifies `/api/webhooks/kyc/{name}`,
for any of the three whose secret is configured (a session started before a switch of
provider still gets its decision). Instances are built once per app context and kept
in `ctx.extras[PROVIDERS_EXTRA]`, which is also where a test puts a stand-in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

from sqlalchemy.orm import Session, sessionmaker

from mindlinks.config import Settings
from mindlinks.kyc.errors import KycProviderNotConfigured
from mindlinks.kyc.providers.base import (
    KycProvider,
    KycProviderRejected,
    KycProviderUnavailable,
    ProviderDecision,
    StartedSession,
    WebhookPayloadInvalid,
    WebhookSignatureInvalid,
)
from mindlinks.kyc.providers.sandbox import ReadSession, SandboxKycProvider
from mindlinks.platform.keys import WEBHOOK_SECRETS_FILE

if TYPE_CHECKING:
    from mindlinks.platform.context import AppContext

__all__ = [
    "PROVIDERS_EXTRA",
    "PROVIDER_NAMES",
    "WEBHOOK_TRANSPORT_EXTRA",
    "KycProvider",
    "KycProviderRejected",
    "KycProviderUnavailable",
    "ProviderDecision",
    "SandboxKycProvider",
    "StartedSession",
    "WebhookPayloadInvalid",
    "WebhookSignatureInvalid",
    "kyc_provider_for",
    "provider_named",
    "sandbox_provider_for",
    "sandbox_webhook_secret",
    "webhook_parser_for",
]

PROVIDERS_EXTRA: Final = "kyc.providers"
# An httpx transport for the sandbox's webhook delivery (tests: the app's ASGI
# transport); unset, the job speaks real HTTP to `settings.base_url`.
WEBHOOK_TRANSPORT_EXTRA: Final = "kyc.webhook_transport"
PROVIDER_NAMES: Final = ("sandbox", "veriff", "onfido")
SANDBOX_SECRET_NAME: Final = "kyc-sandbox"  # noqa: S105 - a key in the secrets file


def sandbox_webhook_secret(settings: Settings) -> str | None:
    """The `kyc-sandbox` entry of `<keys dir>/webhook-secrets.json`, if there is one."""
    path = settings.keys_dir / WEBHOOK_SECRETS_FILE
    try:
        secrets = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = secrets.get(SANDBOX_SECRET_NAME) if isinstance(secrets, dict) else None
    return value if isinstance(value, str) and value else None


def _read_only(factory: sessionmaker[Session]) -> ReadSession:
    @contextmanager
    def read_session() -> Iterator[Session]:
        # A deferred transaction on SQLite: a read never queues behind the writer.
        with factory() as session:
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            yield session
            session.rollback()

    return read_session


def _build(ctx: AppContext, name: str) -> KycProvider:
    settings = ctx.settings
    if name == "veriff":
        from mindlinks.kyc.providers.veriff import VeriffProvider

        return VeriffProvider(settings)
    if name == "onfido":
        from mindlinks.kyc.providers.onfido import OnfidoProvider

        return OnfidoProvider(settings)
    return SandboxKycProvider(
        secret=sandbox_webhook_secret(settings),
        base_url=settings.base_url,
        read_session=_read_only(ctx.session_factory),
    )


def provider_named(ctx: AppContext, name: str) -> KycProvider:
    """The provider `name` (one of PROVIDER_NAMES), built on first use."""
    if name not in PROVIDER_NAMES:
        raise KycProviderNotConfigured(f"There is no KYC provider named {name!r}.")
    providers: dict[str, KycProvider] = ctx.extras.setdefault(PROVIDERS_EXTRA, {})
    provider = providers.get(name)
    if provider is None:
        provider = providers.setdefault(name, _build(ctx, name))
    return provider


def kyc_provider_for(ctx: AppContext) -> KycProvider:
    """The provider new verification sessions start with."""
    return provider_named(ctx, ctx.settings.kyc_provider)


def sandbox_provider_for(ctx: AppContext) -> SandboxKycProvider:
    provider = provider_named(ctx, "sandbox")
    if not isinstance(provider, SandboxKycProvider):
        raise TypeError("the sandbox provider slot holds something else")
    return provider


def _webhook_secret_configured(provider: KycProvider) -> bool:
    # Read from the instance, not the settings, so a provider built with other
    # settings (a test's, or one kept from before a restart) is judged as it is.
    if provider.name == "veriff":
        return bool(getattr(provider, "shared_secret", None) and getattr(provider, "api_key", None))
    if provider.name == "onfido":
        return bool(getattr(provider, "webhook_token", None))
    return bool(getattr(provider, "secret", None))


def webhook_parser_for(ctx: AppContext, name: str) -> KycProvider:
    """The provider that verifies `/api/webhooks/kyc/{name}`; 404 for an unknown name or
    one whose webhook secret is not configured (nothing could verify its signature)."""
    provider = provider_named(ctx, name)
    if not _webhook_secret_configured(provider):
        raise KycProviderNotConfigured(f"The {name} KYC provider is not configured here.")
    return provider
