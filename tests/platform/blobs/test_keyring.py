"""The AES-GCM key ring: sealing format, record binding, rotation, embedded key file."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from mindlinks.config import Settings
from mindlinks.platform.blobs.base import BlobIntegrityError
from mindlinks.platform.blobs.keyring import (
    MAGIC,
    NONCE_BYTES,
    BlobKeyError,
    KeyRing,
    keyring_path,
    load_keyring,
    parse_header,
    rotate_local_blob_key,
)
from mindlinks.platform.keys import init_keys

AD = b"kyc-document:sess-1:front"


def b64key(fill: int) -> str:
    return base64.b64encode(bytes([fill]) * 32).decode()


def ring(**keys: int) -> KeyRing:
    return KeyRing.from_mapping({kid: b64key(fill) for kid, fill in keys.items()}, None)


def test_sealed_blob_round_trips_and_hides_the_plaintext() -> None:
    keys = ring(k1=1)
    plaintext = b"passport scan bytes" * 10
    sealed = keys.seal(plaintext, AD)
    assert plaintext not in sealed
    assert keys.open(sealed, AD) == plaintext


def test_header_names_the_key_and_each_seal_uses_a_fresh_nonce() -> None:
    keys = ring(k1=1)
    first, second = keys.seal(b"same", AD), keys.seal(b"same", AD)
    header = parse_header(first)
    assert first.startswith(MAGIC + bytes([1, 2]) + b"k1")
    assert header.key_id == "k1" and len(header.nonce) == NONCE_BYTES
    assert header.nonce != parse_header(second).nonce
    assert first != second


def test_other_associated_data_does_not_open_the_blob() -> None:
    keys = ring(k1=1)
    sealed = keys.seal(b"front of the id", AD)
    with pytest.raises(BlobIntegrityError):
        keys.open(sealed, b"kyc-document:sess-2:front")


@pytest.mark.parametrize("position", [0, 3, 4, 6, 10, -1, -20])
def test_any_changed_byte_fails_to_open(position: int) -> None:
    keys = ring(k1=1)
    sealed = bytearray(keys.seal(b"a document of some length", AD))
    sealed[position] ^= 0x01
    with pytest.raises(BlobIntegrityError):
        keys.open(bytes(sealed), AD)


def test_header_is_authenticated_even_when_the_new_key_id_exists() -> None:
    # Relabelling a blob as sealed by another known key must not open it.
    keys = KeyRing.from_mapping({"k1": b64key(1), "k2": b64key(1)}, "k1")
    sealed = keys.seal(b"x", AD)
    relabelled = sealed.replace(b"k1", b"k2", 1)
    with pytest.raises(BlobIntegrityError):
        keys.open(relabelled, AD)


def test_truncated_or_foreign_bytes_fail_to_open() -> None:
    keys = ring(k1=1)
    sealed = keys.seal(b"document", AD)
    for bad in (b"", b"MLB", sealed[:20], b"PNG\x89 not sealed at all, just bytes....."):
        with pytest.raises(BlobIntegrityError):
            keys.open(bad, AD)


def test_unknown_key_id_fails_to_open() -> None:
    sealed = ring(old=1).seal(b"document", AD)
    with pytest.raises(BlobIntegrityError, match="unknown key id 'old'"):
        ring(new=2).open(sealed, AD)


def test_rotated_ring_opens_old_blobs_and_seals_new_ones_with_the_current_key() -> None:
    before = ring(k1=1)
    old_blob = before.seal(b"old", AD)
    after = KeyRing.from_mapping({"k1": b64key(1), "k2": b64key(2)}, "k2")
    assert after.open(old_blob, AD) == b"old"
    new_blob = after.seal(b"new", AD)
    assert parse_header(new_blob).key_id == "k2"
    with pytest.raises(BlobIntegrityError):
        before.open(new_blob, AD)


def test_configured_keys_pick_the_first_unless_a_current_id_is_set(tmp_path: Path) -> None:
    keys = json.dumps({"a": b64key(1), "b": b64key(2)})
    assert load_keyring(Settings(data_dir=tmp_path, blob_keys=keys)).current_id == "a"
    chosen = Settings(data_dir=tmp_path, blob_keys=keys, blob_current_key_id="b")
    assert load_keyring(chosen).current_id == "b"
    assert not keyring_path(chosen).exists()


@pytest.mark.parametrize(
    ("blob_keys", "current", "message"),
    [
        ("not json", None, "not valid JSON"),
        ("[1]", None, "JSON object"),
        ("{}", None, "empty"),
        ('{"a": "short"}', None, "base64|32 bytes"),
        (json.dumps({"a": base64.b64encode(b"x" * 16).decode()}), None, "32 bytes"),
        (json.dumps({"../a": b64key(1)}), None, "must match"),
        (json.dumps({"a": b64key(1)}), "missing", "not in the ring"),
    ],
)
def test_malformed_configured_keys_are_refused(
    tmp_path: Path, blob_keys: str, current: str | None, message: str
) -> None:
    settings = Settings(data_dir=tmp_path, blob_keys=blob_keys, blob_current_key_id=current)
    with pytest.raises(BlobKeyError, match=message):
        load_keyring(settings)


def test_keys_init_creates_an_owner_only_ring_file_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert "blob encryption key ring" in init_keys(settings)
    path = keyring_path(settings)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "blob encryption key ring" not in init_keys(settings)
    document = json.loads(path.read_text())
    assert list(document["keys"]) == [document["current"]]
    assert load_keyring(settings).current_id == document["current"]


def test_local_rotation_adds_a_current_key_and_old_blobs_still_open(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    before = load_keyring(settings)
    old_blob = before.seal(b"old document", AD)
    new_id = rotate_local_blob_key(settings)
    after = load_keyring(settings)
    assert after.current_id == new_id != before.current_id
    assert set(after.keys) == {before.current_id, new_id}
    assert after.open(old_blob, AD) == b"old document"
    assert parse_header(after.seal(b"new", AD)).key_id == new_id
    assert stat.S_IMODE(os.stat(keyring_path(settings)).st_mode) == 0o600


def test_rotation_refuses_when_keys_are_configured(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, blob_keys=json.dumps({"a": b64key(1)}))
    with pytest.raises(BlobKeyError, match="configured"):
        rotate_local_blob_key(settings)


def test_production_without_configured_keys_has_no_embedded_fallback(tmp_path: Path) -> None:
    settings = Settings.model_construct(data_dir=tmp_path, env="production", blob_keys=None)
    with pytest.raises(BlobKeyError, match="MINDLINKS_BLOB_KEYS"):
        load_keyring(settings)
    assert not keyring_path(settings).exists()
