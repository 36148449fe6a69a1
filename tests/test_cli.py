"""The `mindlinks` command: keys init, admin create."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from mindlinks.cli import app
from mindlinks.identity.models import User

runner = CliRunner()


def test_keys_init_creates_missing_keys_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MINDLINKS_DATA_DIR", str(tmp_path))
    first = runner.invoke(app, ["keys", "init"])
    assert first.exit_code == 0, first.output
    assert "token signing key" in first.output
    assert "ledger signing key" in first.output
    assert (tmp_path / "keys" / "ledger" / "ledger-ed25519.pem").stat().st_mode & 0o777 == 0o600
    key_file = tmp_path / "keys" / "token-signing-ed25519.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    secrets = json.loads((tmp_path / "keys" / "webhook-secrets.json").read_text())
    assert len(secrets["kyc-sandbox"]) == 64
    before = key_file.read_bytes()
    again = runner.invoke(app, ["keys", "init"])
    assert "already exist" in again.output
    assert key_file.read_bytes() == before


def test_rotate_blob_key_adds_a_current_key_and_old_blobs_still_open(tmp_path, monkeypatch):
    from mindlinks.config import Settings
    from mindlinks.platform.blobs.keyring import load_keyring

    monkeypatch.setenv("MINDLINKS_DATA_DIR", str(tmp_path))
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    settings = Settings(data_dir=tmp_path)
    before = load_keyring(settings)
    sealed = before.seal(b"passport scan", b"kyc:1:front")

    rotated = runner.invoke(app, ["keys", "rotate-blob-key"])
    assert rotated.exit_code == 0, rotated.output
    after = load_keyring(settings)
    assert after.current_id != before.current_id
    assert after.current_id in rotated.output
    assert after.open(sealed, b"kyc:1:front") == b"passport scan"


def test_rotate_blob_key_refuses_configured_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("MINDLINKS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MINDLINKS_BLOB_KEYS", '{"k1": "' + "A" * 43 + '="}')
    refused = runner.invoke(app, ["keys", "rotate-blob-key"])
    assert refused.exit_code == 1
    assert "MINDLINKS_BLOB_KEYS" in refused.output


def test_admin_create_makes_a_verified_admin(engine, database_url, data_dir, monkeypatch):
    monkeypatch.setenv("MINDLINKS_DATABASE_URL", database_url)
    monkeypatch.setenv("MINDLINKS_DATA_DIR", str(data_dir))
    email = "cli-admin@example.com"
    try:
        result = runner.invoke(
            app, ["admin", "create", "--email", email, "--password", "a long admin passphrase"]
        )
        assert result.exit_code == 0, result.output
        with engine.connect() as conn:
            row = conn.execute(
                select(User.role, User.email_verified_at).where(User.email_normalized == email)
            ).one()
        assert row.role == "admin" and row.email_verified_at is not None
        duplicate = runner.invoke(
            app,
            ["admin", "create", "--email", email.upper(), "--password", "a long admin passphrase"],
        )
        assert duplicate.exit_code == 1
        assert "already exists" in duplicate.output
        weak = runner.invoke(
            app, ["admin", "create", "--email", "x@example.com", "--password", "short"]
        )
        assert weak.exit_code == 1
    finally:
        with engine.begin() as conn:
            conn.execute(User.__table__.delete().where(User.email_normalized == email))
