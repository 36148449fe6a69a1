"""`mindlinks ledger verify | checkpoint | prove | verify-proof` against a database of
their own (committed rows: the ledger can never delete them)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from mindlinks.cli import app
from tests.ledger.db_helpers import append_n, lift_guard

runner = CliRunner()


@pytest.fixture
def ledger_env(scratch_engine, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "MINDLINKS_DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("MINDLINKS_DATA_DIR", str(tmp_path / "var"))
    with Session(scratch_engine) as session, session.begin():
        append_n(session, 30)
    return scratch_engine


def test_verify_reports_a_sound_ledger(ledger_env):
    result = runner.invoke(app, ["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "ok: 30 entries checked" in result.output


def test_verify_names_the_exact_seq_of_a_changed_payload_byte(ledger_env):
    with Session(ledger_env) as session, session.begin():
        lift_guard(session, "ledger_entries", "update")
        data = bytearray(
            session.execute(
                text("SELECT entry_bytes FROM ledger_entries WHERE seq = 17")
            ).scalar_one()
        )
        at = data.index(b'"n":') + 4
        data[at] = ord("7") if data[at] != ord("7") else ord("8")
        session.execute(
            text("UPDATE ledger_entries SET entry_bytes = :b WHERE seq = 17"), {"b": bytes(data)}
        )
        # The guard comes back for everyone else (PostgreSQL: re-enable; SQLite:
        # the dropped trigger is gone, which this scratch database can live with).
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_no_update")
            )
    result = runner.invoke(app, ["ledger", "verify"])
    assert result.exit_code == 1
    assert "FAILED at seq 17 after 17 entries checked" in result.output


def test_checkpoint_prove_and_verify_proof_offline(ledger_env, tmp_path):
    issued = runner.invoke(app, ["ledger", "checkpoint"])
    assert issued.exit_code == 0, issued.output
    assert "issued tree size 30" in issued.output
    again = runner.invoke(app, ["ledger", "checkpoint"])
    assert "unchanged since tree size 30" in again.output

    proof_file = tmp_path / "proof.json"
    proved = runner.invoke(app, ["ledger", "prove", "12", "--output", str(proof_file)])
    assert proved.exit_code == 0, proved.output
    bundle = json.loads(proof_file.read_text())
    assert bundle["entry"]["seq"] == 12
    assert bundle["proof"]["tree_size"] == 30

    ok = runner.invoke(app, ["ledger", "verify-proof", str(proof_file)])
    assert ok.exit_code == 0, ok.output
    assert "OK entry seq 12" in ok.output

    bundle["proof"]["audit_path"] = bundle["proof"]["audit_path"][:-1]
    proof_file.write_text(json.dumps(bundle))
    truncated = runner.invoke(app, ["ledger", "verify-proof", str(proof_file)])
    assert truncated.exit_code == 1
    assert "FAILED proof-length" in truncated.output


def test_verify_proof_refuses_a_key_it_was_not_told_to_trust(ledger_env, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mindlinks.ledger import note

    runner.invoke(app, ["ledger", "checkpoint"])
    proof_file = tmp_path / "proof.json"
    runner.invoke(app, ["ledger", "prove", "3", "--output", str(proof_file)])
    stranger = note.vkey("mindlinks.local/ledger", Ed25519PrivateKey.generate().public_key())
    result = runner.invoke(app, ["ledger", "verify-proof", str(proof_file), "--key", stranger])
    assert result.exit_code == 1
    assert "FAILED" in result.output


def test_prove_a_seq_beyond_the_tree_is_an_error(ledger_env):
    runner.invoke(app, ["ledger", "checkpoint"])
    result = runner.invoke(app, ["ledger", "prove", "999"])
    assert result.exit_code == 1
    assert "seq 999" in result.output
