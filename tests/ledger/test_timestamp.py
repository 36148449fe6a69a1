"""RFC 3161 timestamps, against a real local TSA served over HTTP (tests/ledger/tsa.py)."""

from __future__ import annotations

import base64
import hashlib
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asn1crypto import cms, tsp  # type: ignore[import-untyped]
from rfc3161_client import VerificationError, VerifierBuilder

from mindlinks.ledger.timestamp import (
    TimestampError,
    request_timestamp,
    response_from_token,
    verify_timestamp,
)
from tests.ledger.tsa import LocalPKI, TSAServer, running_tsa

DATA = b"mindlinks.test/ledger\n7\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n"


@pytest.fixture
def tsa() -> Iterator[TSAServer]:
    with running_tsa() as server:
        yield server


def test_a_token_from_the_local_tsa_verifies(tsa: TSAServer) -> None:
    token = request_timestamp(tsa.url, DATA)
    when = verify_timestamp(token, DATA, tsa.pki.ca_pem)
    assert when.tzinfo is not None
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=1)

    # the request on the wire: SHA-256 imprint of the data, a nonce, the cert requested
    (sent,) = tsa.requests
    request = tsp.TimeStampReq.load(sent)
    assert request["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert request["message_imprint"]["hashed_message"].native == hashlib.sha256(DATA).digest()
    assert request["nonce"].native is not None and request["cert_req"].native is True

    # the token is a CMS SignedData over a TSTInfo; rfc3161-client's own Verifier accepts it
    assert cms.ContentInfo.load(token)["content_type"].native == "signed_data"
    response = response_from_token(token)
    verifier = VerifierBuilder().add_root_certificate(tsa.pki.ca_cert).build()
    assert verifier.verify_message(response, DATA) is True
    assert response.tst_info.nonce == request["nonce"].native


def test_the_token_binds_the_data_and_the_root(tsa: TSAServer) -> None:
    token = request_timestamp(tsa.url, DATA, trusted_roots_pem=tsa.pki.ca_pem.decode())
    with pytest.raises(TimestampError):
        verify_timestamp(token, DATA + b"x", tsa.pki.ca_pem)
    with pytest.raises(TimestampError):
        verify_timestamp(token, DATA, LocalPKI().ca_pem)
    with pytest.raises(TimestampError):
        verify_timestamp(token, DATA, b"")
    with pytest.raises(TimestampError):
        verify_timestamp(
            token, DATA, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
    with pytest.raises(TimestampError):
        verify_timestamp(b"\x30\x00", DATA, tsa.pki.ca_pem)
    tampered = token[:-1] + bytes([token[-1] ^ 1])
    with pytest.raises(TimestampError):
        verify_timestamp(tampered, DATA, tsa.pki.ca_pem)


def test_a_forged_signature_is_caught(tsa: TSAServer) -> None:
    tsa.mode = "bad-signature"
    token = request_timestamp(tsa.url, DATA)  # status, imprint and nonce are fine
    with pytest.raises(TimestampError, match="does not verify"):
        verify_timestamp(token, DATA, tsa.pki.ca_pem)
    with pytest.raises(TimestampError):
        request_timestamp(tsa.url, DATA, trusted_roots_pem=tsa.pki.ca_pem)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("reject", "refused: test TSA says no"),
        ("wrong-nonce", "nonce"),
        ("wrong-imprint", "does not timestamp the data"),
        ("http-500", "HTTP 500"),
        ("garbage", "not a TimeStampResp"),
    ],
)
def test_a_misbehaving_tsa_is_refused(tsa: TSAServer, mode: str, reason: str) -> None:
    tsa.mode = mode
    with pytest.raises(TimestampError, match=reason):
        request_timestamp(tsa.url, DATA)


def test_a_tsa_certificate_without_a_critical_eku_is_refused() -> None:
    with running_tsa(LocalPKI(eku_critical=False)) as tsa:
        token = request_timestamp(tsa.url, DATA)
        with pytest.raises(TimestampError, match="does not verify"):
            verify_timestamp(token, DATA, tsa.pki.ca_pem)


def test_an_unreachable_tsa_is_a_timestamp_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TimestampError, match="did not answer"):
        request_timestamp(f"http://127.0.0.1:{port}/tsa", DATA, timeout=2)


def test_a_given_client_is_used_and_left_open(tsa: TSAServer) -> None:
    with httpx.Client(timeout=5) as client:
        token = request_timestamp(tsa.url, DATA, client=client)
        assert not client.is_closed
        request_timestamp(tsa.url, DATA, client=client)
    verify_timestamp(token, DATA, [tsa.pki.ca_cert])
    with pytest.raises(ValueError):
        request_timestamp(tsa.url, b"")


def test_verification_error_is_what_rfc3161_client_raises(tsa: TSAServer) -> None:
    token = request_timestamp(tsa.url, DATA)
    verifier = VerifierBuilder().add_root_certificate(LocalPKI().ca_cert).build()
    with pytest.raises(VerificationError):
        verifier.verify_message(response_from_token(token), DATA)


def test_a_timestamped_checkpoint_in_a_proof_bundle(tsa: TSAServer) -> None:
    from mindlinks.ledger import verifier
    from tests.ledger.test_verifier import VKEY, make_bundle

    bundle = make_bundle()
    token = request_timestamp(tsa.url, bundle["checkpoint"].encode())
    bundle["timestamp_token"] = base64.b64encode(token).decode()
    result = verifier.verify_proof_bundle(bundle, [VKEY], None)
    assert result.timestamp_token == token
    verify_timestamp(token, result.checkpoint.note.encode(), tsa.pki.ca_pem)
