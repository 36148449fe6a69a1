"""Settings: safe embedded defaults; production refuses development secrets."""

from __future__ import annotations

import pytest

from mindlinks.config import InsecureProductionSettings, Settings


def test_embedded_defaults_use_sqlite_in_the_data_dir(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'mindlinks.db'}"
    assert settings.mailer == "dev" and settings.registry == "sandbox"
    assert settings.run_worker_in_process


def test_production_refuses_development_secrets(monkeypatch):
    monkeypatch.setenv("MINDLINKS_ENV", "production")
    with pytest.raises(InsecureProductionSettings) as refused:
        Settings()
    message = str(refused.value)
    assert "MINDLINKS_SECRET_KEY" in message and "MINDLINKS_MAILER" in message


def test_production_starts_with_real_secrets(monkeypatch):
    monkeypatch.setenv("MINDLINKS_ENV", "production")
    monkeypatch.setenv("MINDLINKS_SECRET_KEY", "k" * 48)
    monkeypatch.setenv("MINDLINKS_MAILER", "smtp")
    monkeypatch.setenv("MINDLINKS_PUBLIC_URL", "https://app.mindlinks.example")
    monkeypatch.setenv("MINDLINKS_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("MINDLINKS_LEDGER_KEY_PATH", "/etc/mindlinks/ledger-ed25519.pem")
    monkeypatch.setenv("MINDLINKS_KYC_PROVIDER", "veriff")
    monkeypatch.setenv("MINDLINKS_BLOB_KEYS", '{"k1": "' + "A" * 43 + '="}')
    monkeypatch.setenv("MINDLINKS_SIGNING_CA_P12_PATH", "/etc/mindlinks/signing-ca.p12")
    monkeypatch.setenv("MINDLINKS_PLATFORM_SEAL_P12_PATH", "/etc/mindlinks/platform-seal.p12")
    assert Settings().env == "production"


def test_production_refuses_the_kyc_sandbox_and_missing_blob_keys(monkeypatch):
    monkeypatch.setenv("MINDLINKS_ENV", "production")
    with pytest.raises(InsecureProductionSettings) as refused:
        Settings()
    message = str(refused.value)
    assert "MINDLINKS_KYC_PROVIDER" in message and "MINDLINKS_BLOB_KEYS" in message


def test_production_refuses_missing_signing_certificates(monkeypatch):
    monkeypatch.setenv("MINDLINKS_ENV", "production")
    with pytest.raises(InsecureProductionSettings) as refused:
        Settings()
    message = str(refused.value)
    assert "MINDLINKS_SIGNING_CA_P12_PATH" in message
    assert "MINDLINKS_PLATFORM_SEAL_P12_PATH" in message
