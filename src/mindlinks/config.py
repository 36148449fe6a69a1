"""Settings for every process, read from `MINDLINKS_*` environment variables.

The defaults describe the embedded mode (SQLite under the data dir, sandbox
providers, in-process worker). Production mode refuses those development
secrets and sandboxes that would be unsafe with real users.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"  # noqa: S105


class InsecureProductionSettings(RuntimeError):
    """Production mode was asked to start with development secrets or sandboxes."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINDLINKS_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    public_url: str | None = None
    redis_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    token_signing_key_path: Path | None = None

    ledger_origin: str = "mindlinks.local/ledger"
    checkpoint_interval_seconds: int = 10
    tsa_url: str | None = None
    tsa_timeout_seconds: float = 10.0
    ledger_key_path: Path | None = None
    ledger_private_key: str | None = None
    ledger_public_keys_path: Path | None = None

    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    email_verification_ttl_seconds: int = 48 * 3600
    invite_ttl_seconds: int = 7 * 24 * 3600
    max_body_bytes: int = 1024 * 1024

    mailer: Literal["dev", "smtp"] = "dev"
    mail_from: str = "Mind-Links <no-reply@mindlinks.local>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = 10.0

    registry: Literal["sandbox", "opencorporates"] = "sandbox"
    opencorporates_base_url: str = "https://api.opencorporates.com/v0.4"
    opencorporates_api_token: str | None = None
    registry_timeout_seconds: float = 10.0

    rate_limit_login_failures: str = "10/15minutes"
    rate_limit_login_attempts: str = "60/minute"
    rate_limit_register: str = "30/hour"
    rate_limit_verification_resend: str = "5/hour"
    rate_limit_invites: str = "100/day"
    rate_limit_kyc_sessions: str = "5/day"
    trusted_proxies: list[str] = Field(default_factory=list)

    kyc_provider: Literal["sandbox", "veriff", "onfido"] = "sandbox"
    kyc_max_upload_bytes: int = 10 * 1024 * 1024
    kyc_retention_days: int = 30
    kyc_session_ttl_seconds: int = 7 * 24 * 3600
    veriff_base_url: str = "https://stationapi.veriff.com"
    veriff_api_key: str | None = None
    veriff_shared_secret: str | None = None
    onfido_base_url: str = "https://api.eu.onfido.com/v3.6"
    onfido_api_token: str | None = None
    onfido_webhook_token: str | None = None
    onfido_workflow_id: str | None = None
    kyc_provider_timeout_seconds: float = 10.0

    blob_store: Literal["local", "s3"] = "local"
    blob_keys: str | None = None  # JSON {"key_id": "<base64 32 bytes>", ...}; first is current
    blob_current_key_id: str | None = None
    blob_url_ttl_seconds: int = 3600
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

    # Contracts and signing. Embedded mode: `mindlinks keys init` creates the local
    # CA (issues each signer a one-use certificate) and the platform seal certificate
    # under the keys dir; production loads both from PKCS#12 files.
    signing_ca_p12_path: Path | None = None
    signing_ca_p12_password: str | None = None
    platform_seal_p12_path: Path | None = None
    platform_seal_p12_password: str | None = None
    eor_entity_name: str = "Mind-Links Employer of Record Ltd."
    contract_reminder_days: list[int] = Field(default_factory=lambda: [3, 7])
    seal_stuck_after_seconds: int = 300
    max_signature_png_bytes: int = 1024 * 1024

    run_worker_in_process: bool = True
    worker_poll_seconds: float = 1.0
    job_lease_seconds: int = 300

    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> Settings:
        if self.env != "production":
            return self
        problems: list[str] = []
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("MINDLINKS_SECRET_KEY must be set to a random value of 32+ chars")
        if self.mailer == "dev":
            problems.append("MINDLINKS_MAILER=dev keeps mail in a development mailbox")
        if not (self.ledger_key_path or self.ledger_private_key):
            problems.append(
                "MINDLINKS_LEDGER_KEY_PATH or MINDLINKS_LEDGER_PRIVATE_KEY must hold the ledger key"
            )
        if not self.redis_url:
            problems.append("MINDLINKS_REDIS_URL must be set so rate limits hold across processes")
        if not self.public_url or not self.public_url.startswith("https://"):
            problems.append("MINDLINKS_PUBLIC_URL must be an https:// address")
        if self.kyc_provider == "sandbox":
            problems.append("MINDLINKS_KYC_PROVIDER=sandbox approves identities without checks")
        if not self.blob_keys:
            problems.append("MINDLINKS_BLOB_KEYS must hold the document encryption key ring")
        if not (self.signing_ca_p12_path and self.platform_seal_p12_path):
            problems.append(
                "MINDLINKS_SIGNING_CA_P12_PATH and MINDLINKS_PLATFORM_SEAL_P12_PATH must hold "
                "the signing CA and the platform seal certificate"
            )
        if problems:
            raise InsecureProductionSettings("; ".join(problems))
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'mindlinks.db').resolve()}"

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def base_url(self) -> str:
        return (self.public_url or "http://127.0.0.1:8000").rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
