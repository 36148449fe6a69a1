"""`mindlinks evidence verify | trust`: exit codes, what is printed, pinned trust."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mindlinks.cli import app
from mindlinks.config import Settings
from mindlinks.db import make_engine
from mindlinks.esign.evidence import build_evidence_bundle
from mindlinks.esign.evidence_cli import (
    fetch_trust_anchors,
    load_pins,
    trust_dir,
)
from mindlinks.esign.pki import platform_ca_pem
from mindlinks.ledger.checkpoints import keyring_for
from mindlinks.ledger.keys import load_ledger_keys
from mindlinks.migrations.runner import upgrade
from tests.esign.evidence_factories import TestCa, flip_byte, rezip, sealed_contract, unzip
from tests.live_server import loopback_socket, serving

runner = CliRunner()


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch) -> Path:
    """Pins go to a fresh config dir per test, never the user's."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def bundle_file(session, app_context, tmp_path) -> Path:
    sealed = sealed_contract(session, app_context)
    built = build_evidence_bundle(
        session, app_context, sealed.contract, platform_ca_pem=sealed.ca_pem
    )
    path = tmp_path / built.filename
    path.write_bytes(built.data)
    (tmp_path / "ca.pem").write_bytes(sealed.ca_pem)
    return path


def verify(*args: str):
    return runner.invoke(app, ["evidence", "verify", *args])


def anchors(app_context, tmp_path) -> list[str]:
    ca = tmp_path / "ca.pem"
    args = ["--ca", str(ca)]
    for vkey in keyring_for(app_context).vkeys:
        args += ["--ledger-key", vkey]
    return args


def test_verify_with_given_anchors_exits_0_and_ticks_every_check(
    bundle_file, app_context, tmp_path
):
    result = verify(str(bundle_file), *anchors(app_context, tmp_path))
    assert result.exit_code == 0, result.output
    assert "✓ manifest" in result.output
    assert "✓ pdf-signatures: 3 signatures intact, valid and trusted" in result.output
    assert "platform-seal (Mind-Links Platform Seal" in result.output
    assert "✗" not in result.output
    assert "TRUST NOT ANCHORED" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("OK: all")


def test_a_ledger_key_may_be_the_public_keys_document_in_a_file(client, bundle_file, tmp_path):
    keys = tmp_path / "ledger-keys.json"
    keys.write_text(client.get("/api/ledger/public-keys").text)
    result = verify(str(bundle_file), "--ledger-key", str(keys), "--ca", str(tmp_path / "ca.pem"))
    assert result.exit_code == 0, result.output


def test_without_any_anchor_it_passes_but_says_so_loudly(bundle_file):
    result = verify(str(bundle_file))
    assert result.exit_code == 0, result.output
    assert result.output.count("TRUST NOT ANCHORED") >= 2
    assert result.output.strip().endswith("(TRUST NOT ANCHORED)")


def test_a_flipped_byte_exits_1_with_the_first_failing_check(bundle_file, app_context, tmp_path):
    files = unzip(bundle_file.read_bytes())
    files["contract.pdf"] = flip_byte(files["contract.pdf"], 1234)
    bundle_file.write_bytes(rezip(files))
    result = verify(str(bundle_file), *anchors(app_context, tmp_path))
    assert result.exit_code == 1
    assert "✗ manifest" in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("FAILED manifest: contract.pdf does not match its SHA-256")
    assert "Traceback" not in result.output


def test_a_wrong_ca_exits_1(bundle_file, app_context, tmp_path):
    (tmp_path / "ca.pem").write_bytes(TestCa("Not The Platform").pem)
    result = verify(str(bundle_file), *anchors(app_context, tmp_path))
    assert result.exit_code == 1
    assert "does not chain to the trusted CA" in result.output


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"not a zip", "FAILED bundle: not a zip archive"), (None, "FAILED: ")],
)
def test_no_bundle_exits_1_with_a_reason_and_no_traceback(tmp_path, content, reason):
    path = tmp_path / "bundle.zip"
    if content is not None:
        path.write_bytes(content)
    result = verify(str(path))
    assert result.exit_code == 1
    assert reason in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_bad_ledger_key_argument_exits_1(bundle_file):
    result = verify(str(bundle_file), "--ledger-key", "/no/such/file")
    assert result.exit_code == 1
    assert "neither a vkey nor a readable file" in result.output


def test_json_prints_the_report(bundle_file, app_context, tmp_path):
    result = verify(str(bundle_file), "--json", *anchors(app_context, tmp_path))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["anchored"] is True
    assert {"name", "ok", "detail"} <= report["checks"][0].keys()


def test_fetch_trust_anchors_reads_the_published_endpoints(app, app_context):
    with TestClient(app) as http:
        anchors_ = fetch_trust_anchors("http://testserver", http)
    assert anchors_.vkeys == keyring_for(app_context).vkeys
    assert anchors_.ca_pem == platform_ca_pem(app_context.settings)


def test_trust_refuses_plain_http_to_another_machine():
    result = runner.invoke(app, ["evidence", "trust", "--url", "http://platform.example"])
    assert result.exit_code == 1
    assert "https" in result.output


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    sock, base_url = loopback_socket()
    settings = Settings(
        env="development",
        data_dir=tmp_path / "server",
        database_url=f"sqlite:///{tmp_path / 'live.db'}",
        public_url=base_url,
        run_worker_in_process=False,
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    engine.dispose()
    with serving(settings, sock):
        yield base_url, settings


def test_trust_pins_the_platform_anchors_and_verify_then_uses_them(
    live_server, config_home, session, app_context, tmp_path
):
    base_url, settings = live_server
    result = runner.invoke(app, ["evidence", "trust", "--url", base_url])
    assert result.exit_code == 0, result.output
    served_keys = load_ledger_keys(settings).vkeys
    for vkey in served_keys:
        assert f"ledger key {vkey}" in result.output
    assert "SHA-256" in result.output
    pins = load_pins(trust_dir())
    assert pins is not None and pins.vkeys == served_keys
    assert pins.ca_pem == platform_ca_pem(settings)
    assert trust_dir() == config_home / "mindlinks" / "trust"

    again = runner.invoke(app, ["evidence", "trust", "--url", base_url])
    assert again.exit_code == 0
    assert "already pinned (unchanged)" in again.output

    # A bundle from this test database's platform is not the pinned platform's.
    sealed = sealed_contract(session, app_context)
    built = build_evidence_bundle(
        session, app_context, sealed.contract, platform_ca_pem=sealed.ca_pem
    )
    path = tmp_path / built.filename
    path.write_bytes(built.data)
    foreign = verify(str(path))
    assert foreign.exit_code == 1
    assert f"ledger keys pinned from {base_url}" in foreign.output
    assert "unknown-key" in foreign.output

    # Anchors given on the command line win over the pins.
    (tmp_path / "ca.pem").write_bytes(sealed.ca_pem)
    own = verify(str(path), *anchors(app_context, tmp_path))
    assert own.exit_code == 0, own.output


def test_trust_replaces_other_pins_only_with_force(live_server, app_context, tmp_path):
    base_url, _ = live_server
    folder = trust_dir()
    folder.mkdir(parents=True)
    (folder / "ledger-public-keys.json").write_text(
        json.dumps({"items": [{"vkey": keyring_for(app_context).vkeys[0]}]})
    )
    old_ca = TestCa("Old Platform CA").pem
    (folder / "platform-ca.pem").write_bytes(old_ca)

    refused = runner.invoke(app, ["evidence", "trust", "--url", base_url])
    assert refused.exit_code == 1
    assert "other trust anchors are pinned" in refused.output
    assert "--force" in refused.output
    assert load_pins(folder).ca_pem == old_ca

    forced = runner.invoke(app, ["evidence", "trust", "--url", base_url, "--force"])
    assert forced.exit_code == 0, forced.output
    assert load_pins(folder).ca_pem != old_ca


def test_trust_against_no_platform_exits_1(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = runner.invoke(app, ["evidence", "trust", "--url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert "FAILED: GET" in result.output
    assert not (trust_dir() / "platform-ca.pem").exists()
