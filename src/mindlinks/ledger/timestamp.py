"""RFC 3161 timestamps for checkpoints (`MINDLINKS_TSA_URL`), via `rfc3161-client`.

`request_timestamp` asks a time-stamping authority over HTTP for a token over the
SHA-256 of `data` (the checkpoint note bytes), with a fresh nonce and the TSA's
certificate requested, and checks the answer (granted, same imprint, same nonce)
before returning the TimeStampToken (a DER CMS ContentInfo, what `.tst` files hold
and what the proof bundle's `timestamp_token` carries, base64).

`verify_timestamp` checks such a token against the operator's trusted root
certificates: CMS signature, chain to a root at the token's time, critical
id-kp-timeStamping EKU on the signer, and the imprint equal to SHA-256(data). It
answers the time the TSA vouches for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import httpx
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
_GRANTED_STATUS = b"\x30\x03\x02\x01\x00"  # PKIStatusInfo { status granted(0) }


class TimestampError(RuntimeError):
    """The TSA could not be reached, refused, or answered something that does not check."""


def request_timestamp(
    tsa_url: str,
    data: bytes,
    *,
    client: httpx.Client | None = None,
    timeout: float = 10.0,
    trusted_roots_pem: bytes | str | Sequence[x509.Certificate] | None = None,
) -> bytes:
    """A checked RFC 3161 TimeStampToken (DER) over SHA-256(data) from `tsa_url`.

    With `trusted_roots_pem`, the token is also fully verified before it is returned.
    """
    if not data:
        raise ValueError("nothing to timestamp")
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    headers = {"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE}
    http = client if client is not None else httpx.Client(timeout=timeout)
    try:
        answer = http.post(tsa_url, content=request.as_bytes(), headers=headers)
    except httpx.HTTPError as exc:
        raise TimestampError(f"the TSA at {tsa_url} did not answer: {exc}") from exc
    finally:
        if client is None:
            http.close()
    if answer.status_code != 200:
        raise TimestampError(f"the TSA answered HTTP {answer.status_code}")
    try:
        response = decode_timestamp_response(answer.content)
    except ValueError as exc:
        raise TimestampError(f"the TSA answer is not a TimeStampResp: {exc}") from None
    if response.status != PKIStatus.GRANTED:
        reason = "; ".join(response.status_string) or f"status {response.status}"
        raise TimestampError(f"the TSA refused: {reason}")
    info = response.tst_info
    imprint = info.message_imprint
    if imprint.hash_algorithm != SHA256_OID or imprint.message != hashlib.sha256(data).digest():
        raise TimestampError("the token does not timestamp the data we sent")
    if info.nonce != request.nonce:
        raise TimestampError("the token's nonce is not ours (a replayed answer?)")
    token = response.time_stamp_token()
    if trusted_roots_pem is not None:
        verify_timestamp(token, data, trusted_roots_pem)
    return token


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def response_from_token(token_der: bytes) -> TimeStampResponse:
    """Wrap a bare token in a granted TimeStampResp, the shape rfc3161-client parses."""
    body = _GRANTED_STATUS + token_der
    try:
        return decode_timestamp_response(b"\x30" + _der_length(len(body)) + body)
    except ValueError as exc:
        raise TimestampError(f"not an RFC 3161 timestamp token: {exc}") from None


def _load_roots(
    trusted_roots_pem: bytes | str | Sequence[x509.Certificate],
) -> list[x509.Certificate]:
    if isinstance(trusted_roots_pem, str):
        trusted_roots_pem = trusted_roots_pem.encode("ascii")
    if isinstance(trusted_roots_pem, bytes):
        try:
            return x509.load_pem_x509_certificates(trusted_roots_pem)
        except ValueError as exc:
            raise TimestampError(f"the trusted roots are not PEM certificates: {exc}") from None
    return list(trusted_roots_pem)


def verify_timestamp(
    token_der: bytes,
    data: bytes,
    trusted_roots_pem: bytes | str | Sequence[x509.Certificate],
) -> datetime:
    """Check a token over SHA-256(data) chains to a trusted root; answer its time."""
    roots = _load_roots(trusted_roots_pem)
    if not roots:
        raise TimestampError("no trusted root certificate was given")
    response = response_from_token(token_der)
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify_message(response, data)
    except (VerificationError, ValueError) as exc:
        raise TimestampError(f"the timestamp does not verify: {exc}") from None
    return response.tst_info.gen_time
