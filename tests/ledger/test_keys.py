"""The ledger key: creation, owner-only files, configured keys, rotation keeps old keys."""

from __future__ import annotations

import base64
import json
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mindlinks.config import Settings
from mindlinks.ledger import keys, note, verifier

ROOT = bytes(range(32))


def make_settings(tmp_path: Path, **extra: object) -> Settings:
    base = Settings(data_dir=tmp_path / "var", ledger_origin="mindlinks.test/ledger")
    return base.model_copy(update=extra)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_ensure_creates_an_owner_only_key_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert keys.ensure_ledger_key(settings) is True
    assert keys.ensure_ledger_key(settings) is False
    path = keys.active_key_path(settings)
    assert mode(path) == 0o600
    assert mode(path.parent) & 0o077 == 0
    ring = keys.load_ledger_keys(settings)
    assert ring.active.key_name == "mindlinks.test/ledger"
    assert ring.public_keys == (ring.active.public,) and ring.retired == ()


def test_concurrent_ensure_creates_exactly_one_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda _: keys.ensure_ledger_key(settings), range(8)))
    assert created.count(True) == 1


def test_public_key_document_matches_api_md(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    keys.ensure_ledger_key(settings)
    ring = keys.load_ledger_keys(settings)
    doc = keys.public_key_document(ring.active)
    assert set(doc) == {"key_id", "algorithm", "key_name", "public_key", "vkey"}
    raw = note.raw_public_key(ring.active.private_key.public_key())
    assert doc["algorithm"] == "Ed25519"
    assert doc["key_name"] == "mindlinks.test/ledger"
    assert base64.b64decode(doc["public_key"]) == raw
    assert doc["key_id"] == note.key_hash("mindlinks.test/ledger", raw).hex()
    assert len(doc["key_id"]) == 8
    assert (
        doc["vkey"]
        == f"mindlinks.test/ledger+{doc['key_id']}+" + base64.b64encode(b"\x01" + raw).decode()
    )
    assert verifier.trusted_vkeys_from_document(doc) == [doc["vkey"]]
    assert keys.public_key_document(ring.active.public) == doc
    assert ring.documents() == [doc]
    assert ring.find(doc["key_id"]) == ring.active.public and ring.find("00000000") is None


def test_rotation_keeps_old_checkpoints_verifiable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    keys.ensure_ledger_key(settings)
    before = keys.load_ledger_keys(settings)
    old_note = note.sign_checkpoint(settings.ledger_origin, 3, ROOT, before.active.private_key)

    when = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    after = keys.rotate_ledger_key(settings, now=when)
    assert after.active.key_id != before.active.key_id
    assert after.retired == (keys.LedgerPublicKey(
        before.active.key_name, before.active.public.public_key, "2026-11-29T10:00:00Z"
    ),)  # fmt: skip
    assert keys.load_ledger_keys(settings).public_keys == after.public_keys
    new_note = note.sign_checkpoint(settings.ledger_origin, 4, ROOT, after.active.private_key)
    for signed in (old_note, new_note):
        verifier.verify_checkpoint(signed, after.vkeys, settings.ledger_origin)

    folder = keys.ledger_keys_dir(settings)
    retired_files = list((folder / keys.RETIRED_DIR).glob("*.json"))
    assert len(retired_files) == 1
    stored = json.loads(retired_files[0].read_text())
    assert stored == keys.public_key_document(before.active) | {
        "retired_at": "2026-11-29T10:00:00Z"
    }
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [keys.ACTIVE_KEY_FILE, keys.RETIRED_DIR, keys.LOCK_FILE]
    )
    assert mode(keys.active_key_path(settings)) == 0o600
    assert pem(before.active.private_key) not in keys.active_key_path(settings).read_bytes()

    later = keys.rotate_ledger_key(settings, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert [k.key_id for k in later.public_keys] == [
        later.active.key_id,
        after.active.key_id,
        before.active.key_id,
    ]


def test_rotate_without_a_key_creates_then_rotates(tmp_path: Path) -> None:
    ring = keys.rotate_ledger_key(make_settings(tmp_path))
    assert len(ring.public_keys) == 2


def test_a_configured_key_file_wins_and_cannot_be_rotated(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "ledger.pem"
    path.write_bytes(pem(key))
    settings = make_settings(tmp_path, ledger_key_path=path)
    assert keys.ensure_ledger_key(settings) is False
    assert not keys.active_key_path(settings).exists()
    ring = keys.load_ledger_keys(settings)
    assert ring.active.public.public_key == note.raw_public_key(key.public_key())
    with pytest.raises(keys.LedgerKeyError):
        keys.rotate_ledger_key(settings)


def test_a_configured_private_key_from_the_environment(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    for value in (base64.b64encode(seed).decode(), pem(key).decode()):
        settings = make_settings(tmp_path, ledger_private_key=value)
        ring = keys.load_ledger_keys(settings)
        assert ring.active.public.public_key == note.raw_public_key(key.public_key())
    for bad in ("not base64!", base64.b64encode(b"short").decode(), "-----BEGIN junk"):
        with pytest.raises(keys.LedgerKeyError):
            keys.load_ledger_keys(make_settings(tmp_path, ledger_private_key=bad))
    both = make_settings(tmp_path, ledger_private_key=value, ledger_key_path=tmp_path / "x.pem")
    with pytest.raises(keys.LedgerKeyError):
        keys.load_ledger_keys(both)


def test_production_requires_a_configured_key_and_lists_old_ones(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, env="production")
    assert keys.ensure_ledger_key(settings) is False
    with pytest.raises(keys.LedgerKeyError, match="MINDLINKS_LEDGER_KEY_PATH"):
        keys.load_ledger_keys(settings)

    old = keys.LedgerSigningKey("mindlinks.test/ledger", Ed25519PrivateKey.generate())
    listed = tmp_path / "public-keys.json"
    listed.write_text(json.dumps([keys.public_key_document(old) | {"retired_at": "2026-01-01"}]))
    key_file = tmp_path / "ledger.pem"
    key_file.write_bytes(pem(Ed25519PrivateKey.generate()))
    settings = make_settings(
        tmp_path, env="production", ledger_key_path=key_file, ledger_public_keys_path=listed
    )
    ring = keys.load_ledger_keys(settings)
    assert [k.key_id for k in ring.retired] == [old.key_id]
    with pytest.raises(keys.LedgerKeyError):
        keys.rotate_ledger_key(settings)


def test_bad_key_material_is_a_clear_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(keys.LedgerKeyError, match="keys init"):
        keys.load_ledger_keys(settings)
    keys.ensure_ledger_key(settings)
    retired = keys.ledger_keys_dir(settings) / keys.RETIRED_DIR
    retired.mkdir()
    (retired / "bad.json").write_text(json.dumps({"vkey": "nope"}))
    with pytest.raises(keys.LedgerKeyError):
        keys.load_ledger_keys(settings)
    (retired / "bad.json").write_text("{")
    with pytest.raises(keys.LedgerKeyError):
        keys.load_ledger_keys(settings)
    (retired / "bad.json").unlink()
    keys.active_key_path(settings).write_bytes(b"garbage")
    with pytest.raises(keys.LedgerKeyError):
        keys.load_ledger_keys(settings)
    with pytest.raises(keys.LedgerKeyError, match="key name"):
        keys.load_ledger_keys(make_settings(tmp_path / "x", ledger_origin="has space",
                                            ledger_private_key=base64.b64encode(ROOT).decode()))  # fmt: skip
