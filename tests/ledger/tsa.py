"""A real, minimal RFC 3161 time-stamping authority for tests, served over HTTP.

`LocalPKI` makes a test root CA and a TSA certificate (critical EKU id-kp-timeStamping,
ECDSA P-256). `build_response` parses a DER TimeStampReq and answers a TimeStampResp
whose token is CMS SignedData over a TSTInfo, with signed attributes content-type,
message-digest, signing-time and ESS signing-certificate-v2, built with asn1crypto and
signed with `cryptography`. `running_tsa()` serves it on 127.0.0.1 at a free port.

`TSAServer.mode` makes it misbehave on purpose: "reject", "wrong-nonce",
"wrong-imprint", "bad-signature", "http-500", "garbage".
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asn1crypto import algos, cms, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

POLICY_OID = "1.3.6.1.4.1.99999.3161.1"  # a test policy under a private arc


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mind-Links tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass
class LocalPKI:
    ca_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    tsa_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    eku_critical: bool = True

    def __post_init__(self) -> None:
        now = datetime.now(UTC) - timedelta(minutes=5)
        ca_name = _name("Mind-Links Test Root CA")
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self.tsa_cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Mind-Links Test TSA"))
            .issuer_name(ca_name)
            .public_key(self.tsa_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                critical=self.eku_critical,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                critical=False,
            )
            .sign(self.ca_key, hashes.SHA256())
        )

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)


_serials = itertools.count(1)


def build_response(request_der: bytes, pki: LocalPKI, mode: str = "ok") -> bytes:
    """A DER TimeStampResp answering a DER TimeStampReq (RFC 3161 §2.4.2)."""
    request = tsp.TimeStampReq.load(request_der)
    if mode == "reject":
        status = {"status": "rejection", "status_string": ["test TSA says no"]}
        status_der = bytes(tsp.PKIStatusInfo(status).dump())  # asn1crypto wants a token
        return b"\x30" + bytes([len(status_der)]) + status_der
    imprint = request["message_imprint"]
    if mode == "wrong-imprint":
        imprint = tsp.MessageImprint(
            {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": bytes(32)}
        )
    now = datetime.now(UTC).replace(microsecond=0)
    info: dict[str, object] = {
        "version": "v1",
        "policy": POLICY_OID,
        "message_imprint": imprint,
        "serial_number": next(_serials),
        "gen_time": now,
        "accuracy": {"seconds": 1},
        "ordering": False,
    }
    if request["nonce"].native is not None:
        info["nonce"] = request["nonce"].native + (1 if mode == "wrong-nonce" else 0)
    tst_info = tsp.TSTInfo(info)
    content = tst_info.dump()

    tsa_cert_der = pki.tsa_cert.public_bytes(serialization.Encoding.DER)
    tsa_cert = asn1_x509.Certificate.load(tsa_cert_der)
    ess = tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "cert_hash": hashlib.sha256(tsa_cert_der).digest(),
                }
            ]
        }
    )
    signed_attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "signing_time", "values": [cms.Time({"utc_time": now})]},
            {"type": "message_digest", "values": [hashlib.sha256(content).digest()]},
            {"type": "signing_certificate_v2", "values": [ess]},
        ]
    )
    signature = pki.tsa_key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
    if mode == "bad-signature":
        other = ec.generate_private_key(ec.SECP256R1())
        signature = other.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value=cms.IssuerAndSerialNumber(
                    {"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}
                ),
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": tst_info},
            "certificates": [tsa_cert] if request["cert_req"].native else [],
            "signer_infos": [signer_info],
        }
    )
    token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    return bytes(
        tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()
    )


class TSAServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pki: LocalPKI) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pki = pki
        self.mode = "ok"
        self.requests: list[bytes] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/tsa"


class _Handler(BaseHTTPRequestHandler):
    server: TSAServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append(body)
        if self.headers.get("Content-Type") != "application/timestamp-query":
            self._reply(415, b"want application/timestamp-query", "text/plain")
        elif self.server.mode == "http-500":
            self._reply(500, b"down", "text/plain")
        elif self.server.mode == "garbage":
            self._reply(200, b"\x30\x03garbage", "application/timestamp-reply")
        else:
            try:
                answer = build_response(body, self.server.pki, self.server.mode)
            except (ValueError, TypeError, KeyError):
                self._reply(400, b"bad request", "text/plain")
                return
            self._reply(200, answer, "application/timestamp-reply")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def running_tsa(pki: LocalPKI | None = None) -> Iterator[TSAServer]:
    server = TSAServer(pki or LocalPKI())
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-tsa", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
