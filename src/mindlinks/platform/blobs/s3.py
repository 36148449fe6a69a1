"""Blobs as S3 objects (any S3-compatible service), sealed before they leave the app.

The object body is the sealed blob (header, ciphertext, tag), so the bucket and
anyone reading it hold only ciphertext. boto3 signs with SigV4 (`s3v4`), which is
also what the presigned GET uses: S3 checks its signature and expiry on its own.
A custom endpoint (MinIO, SeaweedFS, …) is addressed path-style, which they all
serve without per-bucket DNS names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from mindlinks.config import Settings
from mindlinks.platform.blobs.base import BlobNotFound
from mindlinks.platform.blobs.keyring import KeyRing
from mindlinks.platform.blobs.naming import check_blob_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3ConfigError(RuntimeError):
    """The S3 store was chosen but not configured."""


def make_s3_client(settings: Settings) -> S3Client:
    addressing: Literal["auto", "path"] = "path" if settings.s3_endpoint_url else "auto"
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": addressing},
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


class S3BlobStore:
    name = "s3"

    def __init__(self, client: S3Client, bucket: str, keyring: KeyRing) -> None:
        self.client = client
        self.bucket = bucket
        self.keyring = keyring

    @classmethod
    def from_settings(cls, settings: Settings, keyring: KeyRing) -> S3BlobStore:
        if not settings.s3_bucket:
            raise S3ConfigError("MINDLINKS_BLOB_STORE=s3 needs MINDLINKS_S3_BUCKET")
        return cls(make_s3_client(settings), settings.s3_bucket, keyring)

    def put(self, key: str, data: bytes, *, associated_data: bytes, content_type: str) -> None:
        # The object is ciphertext whatever the document is; its real content
        # type travels in the signed URL.
        self.client.put_object(
            Bucket=self.bucket,
            Key=check_blob_key(key),
            Body=bytes(self.keyring.seal(data, associated_data)),
            ContentType="application/octet-stream",
        )

    def read_sealed(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=check_blob_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                raise BlobNotFound(key) from exc
            raise
        return response["Body"].read()

    def get(self, key: str, *, associated_data: bytes) -> bytes:
        return self.keyring.open(self.read_sealed(key), associated_data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_blob_key(key))

    def presigned_ciphertext_url(self, key: str, *, expires_in: int) -> str | None:
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": check_blob_key(key)},
            ExpiresIn=expires_in,
        )
