"""The S3 store against a real SigV4-enforcing server (SeaweedFS, see conftest)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from mindlinks.app import create_app
from mindlinks.config import Settings
from mindlinks.platform import clock
from mindlinks.platform.blobs import blob_store_for, make_blob_store, signed_blob_url
from mindlinks.platform.blobs.base import BlobIntegrityError, BlobNotFound
from mindlinks.platform.blobs.keyring import MAGIC, KeyRing, load_keyring
from mindlinks.platform.blobs.naming import InvalidBlobKey
from mindlinks.platform.blobs.s3 import S3BlobStore
from mindlinks.platform.blobs.urls import URL_PREFIX, verify_token
from mindlinks.platform.context import AppContext
from tests.factories import problem
from tests.platform.blobs.conftest import SeaweedS3

MARKER = b"PLAINTEXT-MARKER-identity-document-"
IMAGE = b"\xff\xd8\xff\xe0" + MARKER * 50
AD = b"kyc-document:sess-s3:front"


@pytest.fixture
def s3_settings(seaweed_s3: SeaweedS3, settings: Settings) -> Settings:
    return seaweed_s3.settings(settings)


@pytest.fixture
def store(s3_settings: Settings) -> S3BlobStore:
    made = make_blob_store(s3_settings)
    assert isinstance(made, S3BlobStore)
    return made


@pytest.fixture
def key(store: S3BlobStore, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"kyc/{request.node.name.replace('[', '-').replace(']', '')}/front"[:200]
    store.put(name, IMAGE, associated_data=AD, content_type="image/jpeg")
    yield name
    store.delete(name)


@pytest.fixture
def s3_client(app_context: AppContext, s3_settings: Settings, store: S3BlobStore) -> TestClient:
    ctx = dataclasses.replace(app_context, settings=s3_settings, extras={"blob_store": store})
    return TestClient(create_app(context=ctx), raise_server_exceptions=False)


def test_round_trip_through_s3(store: S3BlobStore, key: str) -> None:
    assert store.get(key, associated_data=AD) == IMAGE


def test_stored_object_is_ciphertext_only_our_key_ring_opens(
    seaweed_s3: SeaweedS3, store: S3BlobStore, key: str
) -> None:
    raw = seaweed_s3.client().get_object(Bucket=seaweed_s3.bucket, Key=key)
    body = raw["Body"].read()
    assert MARKER not in body and MARKER[:12] not in body
    assert body.startswith(MAGIC)
    assert raw["ContentType"] == "application/octet-stream"
    assert store.keyring.open(body, AD) == IMAGE


def test_wrong_secret_is_refused_by_the_server(seaweed_s3: SeaweedS3, key: str) -> None:
    intruder = seaweed_s3.client(secret_key="not-the-secret", retries=1)
    with pytest.raises(ClientError) as refused:
        intruder.get_object(Bucket=seaweed_s3.bucket, Key=key)
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    anonymous = httpx.get(f"{seaweed_s3.endpoint}/{seaweed_s3.bucket}/{key}")
    assert anonymous.status_code == 403
    assert MARKER not in anonymous.content


def test_store_with_a_wrong_secret_cannot_read_or_write(s3_settings: Settings, key: str) -> None:
    wrong = make_blob_store(s3_settings.model_copy(update={"s3_secret_access_key": "wrong"}))
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        wrong.get(key, associated_data=AD)
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        wrong.put("kyc/intruder", b"x", associated_data=AD, content_type="x")


def test_presigned_url_works_before_expiry_and_is_refused_after(
    store: S3BlobStore, key: str
) -> None:
    url = store.presigned_ciphertext_url(key, expires_in=1)
    assert url is not None and "X-Amz-Signature=" in url and "X-Amz-Expires=1" in url
    fresh = httpx.get(url)
    assert fresh.status_code == 200
    assert store.keyring.open(fresh.content, AD) == IMAGE
    time.sleep(2.2)
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert b"expired" in expired.content.lower()


def test_presigned_url_with_an_altered_signature_is_refused(store: S3BlobStore, key: str) -> None:
    url = store.presigned_ciphertext_url(key, expires_in=60)
    assert url is not None
    head, signature = url.rsplit("X-Amz-Signature=", 1)
    altered = head + "X-Amz-Signature=" + ("0" if signature[0] != "0" else "1") + signature[1:]
    assert httpx.get(altered).status_code == 403


def test_app_signed_url_over_s3_serves_the_plaintext(
    s3_client: TestClient, s3_settings: Settings, store: S3BlobStore, key: str
) -> None:
    url = signed_blob_url(s3_settings, store, key, associated_data=AD, content_type="image/jpeg")
    claims = verify_token(s3_settings, url.removeprefix(URL_PREFIX))
    assert claims.ciphertext_url is not None
    assert claims.ciphertext_url.startswith(s3_settings.s3_endpoint_url or "-")
    assert "X-Amz-Expires=3600" in claims.ciphertext_url
    response = s3_client.get(url)
    assert response.status_code == 200, response.text
    assert response.content == IMAGE
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store, private"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_app_answers_403_when_s3_refuses_an_expired_presigned_url(
    s3_client: TestClient, s3_settings: Settings, store: S3BlobStore, key: str
) -> None:
    url = signed_blob_url(
        s3_settings, store, key, associated_data=AD, content_type="image/jpeg", expires_in=1
    )
    time.sleep(2.2)
    # Our own check would refuse first; turn our clock back so only S3's
    # independent expiry stands between the token and the bytes.
    clock.set_clock(lambda: datetime.now(UTC) - timedelta(seconds=10))
    try:
        problem(s3_client.get(url), 403, "url-expired")
    finally:
        clock.set_clock(None)
    problem(s3_client.get(url), 403, "url-expired")


def test_app_url_over_s3_for_a_deleted_blob_answers_404(
    s3_client: TestClient, s3_settings: Settings, store: S3BlobStore, key: str
) -> None:
    url = signed_blob_url(s3_settings, store, key, associated_data=AD, content_type="image/jpeg")
    store.delete(key)
    problem(s3_client.get(url), 404, "blob-not-found")


def test_local_url_is_not_honoured_by_the_s3_store(
    s3_client: TestClient, settings: Settings, s3_settings: Settings, key: str
) -> None:
    local = make_blob_store(settings)
    url = signed_blob_url(settings, local, key, associated_data=AD, content_type="image/jpeg")
    problem(s3_client.get(url), 404, "blob-url-invalid")


def test_object_copied_onto_another_record_fails_to_open(
    seaweed_s3: SeaweedS3, store: S3BlobStore, key: str
) -> None:
    other = key + "-other"
    seaweed_s3.client().copy_object(
        Bucket=seaweed_s3.bucket, Key=other, CopySource={"Bucket": seaweed_s3.bucket, "Key": key}
    )
    try:
        with pytest.raises(BlobIntegrityError):
            store.get(other, associated_data=b"kyc-document:another-session:front")
    finally:
        store.delete(other)


def test_tampered_object_fails_to_open(seaweed_s3: SeaweedS3, store: S3BlobStore, key: str) -> None:
    s3 = seaweed_s3.client()
    body = bytearray(s3.get_object(Bucket=seaweed_s3.bucket, Key=key)["Body"].read())
    body[-1] ^= 0x01
    s3.put_object(Bucket=seaweed_s3.bucket, Key=key, Body=bytes(body))
    with pytest.raises(BlobIntegrityError):
        store.get(key, associated_data=AD)


def test_old_object_opens_after_rotation(
    s3_settings: Settings, store: S3BlobStore, key: str
) -> None:
    old = load_keyring(s3_settings)
    rotated = S3BlobStore(
        store.client,
        store.bucket,
        KeyRing(keys={**old.keys, "next-key": bytes(range(32))}, current_id="next-key"),
    )
    assert rotated.get(key, associated_data=AD) == IMAGE
    rotated.put(key + "-new", b"new", associated_data=AD, content_type="x")
    try:
        with pytest.raises(BlobIntegrityError, match="unknown key id 'next-key'"):
            store.get(key + "-new", associated_data=AD)
    finally:
        rotated.delete(key + "-new")


def test_missing_object_is_not_found_and_delete_is_idempotent(store: S3BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.get("kyc/never-stored", associated_data=AD)
    store.delete("kyc/never-stored")


def test_s3_store_refuses_traversal_keys(store: S3BlobStore) -> None:
    for bad in ("../x", "/abs", "a//b", "a/../b"):
        with pytest.raises(InvalidBlobKey):
            store.put(bad, b"x", associated_data=AD, content_type="x")
        with pytest.raises(InvalidBlobKey):
            store.presigned_ciphertext_url(bad, expires_in=60)


def test_blob_store_for_builds_the_s3_store_from_settings(
    app_context: AppContext, s3_settings: Settings
) -> None:
    ctx = dataclasses.replace(app_context, settings=s3_settings, extras={})
    built = blob_store_for(ctx)
    assert isinstance(built, S3BlobStore) and built.bucket == s3_settings.s3_bucket
    assert blob_store_for(ctx) is built
