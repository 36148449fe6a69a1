"""The local folder store: encrypted at rest, atomic, fanned out, traversal-proof."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mindlinks.config import Settings
from mindlinks.platform.blobs import make_blob_store
from mindlinks.platform.blobs.base import BlobIntegrityError, BlobNotFound
from mindlinks.platform.blobs.keyring import load_keyring, rotate_local_blob_key
from mindlinks.platform.blobs.local import LocalBlobStore
from mindlinks.platform.blobs.naming import InvalidBlobKey

PLAINTEXT = b"\x89PNG\r\n\x1a\n" + b"identity document pixels " * 40
AD_FRONT = b"kyc-document:s1:front"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def store(settings: Settings) -> LocalBlobStore:
    made = make_blob_store(settings)
    assert isinstance(made, LocalBlobStore)
    return made


def test_put_then_get_round_trips(store: LocalBlobStore) -> None:
    store.put("kyc/s1/front", PLAINTEXT, associated_data=AD_FRONT, content_type="image/png")
    assert store.get("kyc/s1/front", associated_data=AD_FRONT) == PLAINTEXT


def test_file_at_rest_is_ciphertext_under_the_data_dir(
    store: LocalBlobStore, settings: Settings
) -> None:
    store.put("kyc/s1/front", PLAINTEXT, associated_data=AD_FRONT, content_type="image/png")
    path = store.path_for("kyc/s1/front")
    assert path.is_relative_to(settings.data_dir / "blobs")
    assert path.parent.parent.parent == settings.data_dir / "blobs"  # two fan-out levels
    raw = path.read_bytes()
    assert b"identity document pixels" not in raw and b"kyc" not in path.name.encode()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_blob_copied_onto_another_record_fails_to_open(store: LocalBlobStore) -> None:
    store.put("kyc/s1/front", PLAINTEXT, associated_data=AD_FRONT, content_type="image/png")
    store.put("kyc/s2/front", b"other", associated_data=b"kyc-document:s2:front", content_type="x")
    store.path_for("kyc/s2/front").write_bytes(store.path_for("kyc/s1/front").read_bytes())
    with pytest.raises(BlobIntegrityError):
        store.get("kyc/s2/front", associated_data=b"kyc-document:s2:front")


def test_tampered_byte_fails_to_open(store: LocalBlobStore) -> None:
    store.put("kyc/s1/front", PLAINTEXT, associated_data=AD_FRONT, content_type="image/png")
    path = store.path_for("kyc/s1/front")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x80
    path.write_bytes(bytes(raw))
    with pytest.raises(BlobIntegrityError):
        store.get("kyc/s1/front", associated_data=AD_FRONT)


def test_blob_sealed_by_an_unknown_key_fails_to_open(settings: Settings, tmp_path: Path) -> None:
    other = LocalBlobStore(
        settings.data_dir / "blobs", load_keyring(Settings(data_dir=tmp_path / "x"))
    )
    other.put("kyc/s1/front", PLAINTEXT, associated_data=AD_FRONT, content_type="image/png")
    with pytest.raises(BlobIntegrityError, match="unknown key id"):
        make_blob_store(settings).get("kyc/s1/front", associated_data=AD_FRONT)


def test_old_blob_opens_after_rotation_and_new_blobs_use_the_new_key(settings: Settings) -> None:
    make_blob_store(settings).put("a/old", b"old", associated_data=b"a", content_type="x")
    new_id = rotate_local_blob_key(settings)
    rotated = make_blob_store(settings)
    assert rotated.get("a/old", associated_data=b"a") == b"old"
    rotated.put("a/new", b"new", associated_data=b"a", content_type="x")
    assert isinstance(rotated, LocalBlobStore)
    assert new_id.encode() in rotated.path_for("a/new").read_bytes()[:40]


def test_missing_blob_is_not_found_and_delete_is_idempotent(store: LocalBlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.get("kyc/none", associated_data=b"")
    store.put("kyc/s1/front", PLAINTEXT, associated_data=AD_FRONT, content_type="image/png")
    store.delete("kyc/s1/front")
    store.delete("kyc/s1/front")
    with pytest.raises(BlobNotFound):
        store.get("kyc/s1/front", associated_data=AD_FRONT)


def test_put_replaces_a_blob_whole(store: LocalBlobStore) -> None:
    store.put("k", b"first", associated_data=b"a", content_type="x")
    store.put("k", b"second", associated_data=b"a", content_type="x")
    assert store.get("k", associated_data=b"a") == b"second"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../escape",
        "kyc/../../etc/passwd",
        "/etc/passwd",
        "kyc/./front",
        "kyc//front",
        "kyc/front/",
        ".hidden",
        "kyc\\..\\x",
        "kyc/front\x00",
        "kyc/фото",
        "x" * 513,
    ],
)
def test_keys_that_could_escape_the_folder_are_refused(store: LocalBlobStore, key: str) -> None:
    for call in (
        lambda: store.put(key, b"x", associated_data=b"", content_type="x"),
        lambda: store.get(key, associated_data=b""),
        lambda: store.delete(key),
    ):
        with pytest.raises(InvalidBlobKey):
            call()
