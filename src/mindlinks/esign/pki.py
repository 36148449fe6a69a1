"""The platform's signing PKI: a CA that vouches for signers, and the platform seal.

Every PDF signature on a sealed contract is made with a certificate that the
platform's signing CA issues to one signer's verified identity for that one
signature (`issue_signer_certificate`): a fresh EC P-256 key, used once inside the
sealing step and then dropped (never stored, never logged). The platform seal is
made with a long-lived certificate issued by the same CA. The CA certificate is
published (`platform_ca_pem`; the evidence bundle carries it as
`keys/platform-ca.pem`) so anyone can check every signature offline.

Where the material comes from:

- embedded mode: `ensure_local_signing_ca(settings)` (run by `mindlinks keys init`
  and on first use) creates the root "Mind-Links Local Signing CA" and the
  "Mind-Links Platform Seal" certificate it issues, together, in one owner-only
  file under the keys dir, published atomically so two processes starting at once
  agree on one CA;
- production: `MINDLINKS_SIGNING_CA_P12_PATH` (+ password) holds the CA key and
  certificate (and any issuers above it), `MINDLINKS_PLATFORM_SEAL_P12_PATH`
  (+ password) the seal key, certificate and chain.

Signer certificates stay valid for 15 years (capped at the CA's own expiry), so a
signature still validates years later without a timestamp; they carry no CRL or
OCSP address because a one-use key cannot be compromised after it is gone.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from mindlinks.config import Settings
from mindlinks.platform.clock import now

LOCAL_AUTHORITY_FILE: Final = "signing-authority.json"
CA_COMMON_NAME: Final = "Mind-Links Local Signing CA"
SEAL_COMMON_NAME: Final = "Mind-Links Platform Seal"
ORGANIZATION: Final = "Mind-Links"

CA_VALIDITY: Final = timedelta(days=20 * 365 + 5)
SEAL_VALIDITY: Final = timedelta(days=10 * 365 + 2)
SIGNER_VALIDITY: Final = timedelta(days=15 * 365 + 4)
# Certificates start a little in the past so a verifier whose clock lags a few
# minutes behind ours does not see a signature made "before" its certificate.
BACKDATE: Final = timedelta(minutes=5)

# Microsoft's "Document Signing" (what Acrobat and Windows show) and RFC 9336
# id-kp-documentSigning; emailProtection for tools that only know S/MIME signers.
MS_DOCUMENT_SIGNING: Final = ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")
DOCUMENT_SIGNING: Final = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
DESCRIPTION: Final = ObjectIdentifier("2.5.4.13")
COMMON_NAME_MAX: Final = 64  # RFC 5280 ub-common-name; `cryptography` counts UTF-8 bytes
_SIGNER_EKUS: Final = (DOCUMENT_SIGNING, MS_DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION)


class SigningAuthorityError(RuntimeError):
    """The CA or seal material is missing, unreadable, or does not fit together."""


@dataclass(frozen=True)
class SigningAuthority:
    """The CA that issues signer certificates and the platform seal's key pair.

    `ca_chain` holds the CA's own issuers (empty when the CA is a root, as in the
    embedded mode); `seal_chain` the certificates that link the seal to a root."""

    ca_key: CertificateIssuerPrivateKeyTypes = field(repr=False)
    ca_cert: x509.Certificate
    seal_key: PrivateKeyTypes = field(repr=False)
    seal_cert: x509.Certificate
    ca_chain: tuple[x509.Certificate, ...] = ()
    seal_chain: tuple[x509.Certificate, ...] = ()

    @property
    def signer_chain(self) -> tuple[x509.Certificate, ...]:
        """What a signer's CMS carries besides the signer's own certificate."""
        return (self.ca_cert, *self.ca_chain)

    @property
    def trust_anchors(self) -> tuple[x509.Certificate, ...]:
        """The certificates a verifier trusts: the signing CA and its issuers."""
        return (self.ca_cert, *self.ca_chain)

    @property
    def ca_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.trust_anchors)


class SignerCredential(NamedTuple):
    """A one-use key and the certificate issued for it."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def certificate_sha256(cert: x509.Certificate) -> str:
    """Lowercase hex SHA-256 fingerprint of the DER certificate."""
    return cert.fingerprint(hashes.SHA256()).hex()


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


# --- issuing -------------------------------------------------------------------------


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    # EdDSA signs the message itself; every other key type signs a SHA-256 digest.
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        public_key = issuer.public_key()
        assert isinstance(
            public_key,
            rsa.RSAPublicKey
            | ec.EllipticCurvePublicKey
            | ed25519.Ed25519PublicKey
            | ed448.Ed448PublicKey,
        )
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _end_entity_usages(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    return (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(_SIGNER_EKUS)), critical=False)
    )


def _validity(
    issuer: x509.Certificate, at: datetime, length: timedelta
) -> tuple[datetime, datetime]:
    if not issuer.not_valid_before_utc <= at < issuer.not_valid_after_utc:
        raise SigningAuthorityError(
            f"the signing CA is valid from {issuer.not_valid_before_utc:%Y-%m-%d} to "
            f"{issuer.not_valid_after_utc:%Y-%m-%d}; it cannot issue a certificate at {at:%Y-%m-%d}"
        )
    return (
        max(at - BACKDATE, issuer.not_valid_before_utc),
        min(at + length, issuer.not_valid_after_utc),
    )


def clean_name(name: str) -> str:
    """A display name fit for a certificate: NFC, control characters removed,
    whitespace collapsed. Empty stays empty (the caller decides)."""
    text = unicodedata.normalize("NFC", name)
    text = "".join(" " if unicodedata.category(c)[0] in {"C", "Z"} else c for c in text)
    return " ".join(text.split())


def _common_name(name: str) -> str:
    cleaned = clean_name(name)
    if not cleaned:
        raise ValueError("a signer certificate needs the signer's name")
    if len(cleaned.encode("utf-8")) > COMMON_NAME_MAX:
        # The full name stays in the certificate's description and on the
        # certificate of completion; the CN holds at most 64 bytes of UTF-8.
        while len(cleaned.encode("utf-8")) > COMMON_NAME_MAX - len("…".encode()):
            cleaned = cleaned[:-1]
        cleaned = cleaned.rstrip() + "…"
    return cleaned


def issue_signer_certificate(
    authority: SigningAuthority,
    *,
    name: str,
    email: str,
    role: str,
    contract_id: str,
    kyc_session_id: str | None,
    signature_id: str,
    organization: str | None = None,
    at: datetime | None = None,
) -> SignerCredential:
    """A fresh key and a certificate for one signer's one signature.

    Subject: CN = the verified name (UTF8String, any script), emailAddress, O =
    the organisation the signer signs for (the client company, the EOR entity),
    OU = the role, serialNumber = `kyc:<session id>` when a KYC session verified
    the signer, description = which signature of which contract this is for. The
    email is also the rfc822Name SAN. The key is the caller's to use once and drop.
    """
    at = at or now()
    common_name = _common_name(name)
    full_name = clean_name(name)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization and clean_name(organization):
        attributes.append(
            x509.NameAttribute(
                NameOID.ORGANIZATION_NAME, clean_name(organization)[:COMMON_NAME_MAX]
            )
        )
    attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    if kyc_session_id:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, f"kyc:{kyc_session_id}"))
    email_ok = email.isascii() and "@" in email
    if email_ok:
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    description = f"Signature {signature_id} on contract {contract_id} as {role}"
    if full_name != common_name:
        description += f", by {full_name}"
    attributes.append(x509.NameAttribute(DESCRIPTION, description[:1024]))

    key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _validity(authority.ca_cert, at, SIGNER_VALIDITY)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(authority.ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_id(authority.ca_cert), critical=False)
    )
    if email_ok:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
        )
    certificate = _end_entity_usages(builder).sign(authority.ca_key, _hash_for(authority.ca_key))
    return SignerCredential(key, certificate)


# --- the embedded mode's local CA ----------------------------------------------------


def _ca_name() -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
        ]
    )


def _new_local_authority(at: datetime) -> SigningAuthority:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _ca_name()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - BACKDATE)
        .not_valid_after(at + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    seal_key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _validity(ca_cert, at, SEAL_VALIDITY)
    seal_builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, SEAL_COMMON_NAME),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(seal_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(seal_key.public_key()), critical=False
        )
        .add_extension(_authority_key_id(ca_cert), critical=False)
    )
    seal_cert = _end_entity_usages(seal_builder).sign(ca_key, hashes.SHA256())
    return SigningAuthority(ca_key, ca_cert, seal_key, seal_cert, (), (ca_cert,))


def local_authority_path(settings: Settings) -> Path:
    return settings.keys_dir / LOCAL_AUTHORITY_FILE


def _uses_pkcs12(settings: Settings) -> bool:
    return bool(settings.signing_ca_p12_path or settings.platform_seal_p12_path)


def _private_pem(key: PrivateKeyTypes) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _publish_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` owner-only, all at once: readers see the whole file
    or none, and FileExistsError if another process published first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(temporary, path)  # atomic; refuses to replace an existing file
    finally:
        os.unlink(temporary)


def ensure_local_signing_ca(settings: Settings) -> bool:
    """Create the embedded mode's signing CA and platform seal certificate if
    missing; True when they were created. Does nothing when PKCS#12 files are
    configured (production manages its own CA)."""
    if _uses_pkcs12(settings):
        return False
    path = local_authority_path(settings)
    if path.exists():
        return False
    authority = _new_local_authority(now())
    document = {
        "ca_key": _private_pem(authority.ca_key),
        "ca_cert": _cert_pem(authority.ca_cert),
        "seal_key": _private_pem(authority.seal_key),
        "seal_cert": _cert_pem(authority.seal_cert),
    }
    try:
        _publish_private(path, json.dumps(document, indent=2).encode("ascii"))
    except FileExistsError:
        return False
    return True


# --- loading -----------------------------------------------------------------------------


def _load_private_key(pem: str, source: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningAuthorityError(f"{source}: the private key does not load") from exc


def _check_pair(key: PrivateKeyTypes, cert: x509.Certificate, what: str) -> None:
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    certified = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != certified:
        raise SigningAuthorityError(f"the {what} key does not belong to its certificate")


def _check_ca(key: PrivateKeyTypes, cert: x509.Certificate) -> CertificateIssuerPrivateKeyTypes:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise SigningAuthorityError("the signing CA certificate is not a CA (basicConstraints)")
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise SigningAuthorityError("the signing CA key cannot issue certificates")
    return key


def _load_local(path: Path) -> SigningAuthority:
    try:
        document = json.loads(path.read_text("ascii"))
        ca_cert = x509.load_pem_x509_certificate(document["ca_cert"].encode("ascii"))
        seal_cert = x509.load_pem_x509_certificate(document["seal_cert"].encode("ascii"))
        ca_pem, seal_pem = document["ca_key"], document["seal_key"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SigningAuthorityError(f"{path} does not hold a signing CA and seal") from exc
    ca_key = _check_ca(_load_private_key(ca_pem, str(path)), ca_cert)
    seal_key = _load_private_key(seal_pem, str(path))
    _check_pair(ca_key, ca_cert, "signing CA")
    _check_pair(seal_key, seal_cert, "platform seal")
    return SigningAuthority(ca_key, ca_cert, seal_key, seal_cert, (), (ca_cert,))


def _load_pkcs12(
    path: Path, password: str | None, what: str
) -> tuple[PrivateKeyTypes, x509.Certificate, tuple[x509.Certificate, ...]]:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(
            path.read_bytes(), password.encode("utf-8") if password else None
        )
    except (OSError, ValueError) as exc:
        raise SigningAuthorityError(f"the {what} PKCS#12 file {path} does not open") from exc
    if key is None or cert is None:
        raise SigningAuthorityError(f"the {what} PKCS#12 file {path} lacks a key or certificate")
    _check_pair(key, cert, what)
    return key, cert, tuple(extra)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _load_from_pkcs12(settings: Settings) -> SigningAuthority:
    if not (settings.signing_ca_p12_path and settings.platform_seal_p12_path):
        raise SigningAuthorityError(
            "set both MINDLINKS_SIGNING_CA_P12_PATH and MINDLINKS_PLATFORM_SEAL_P12_PATH"
        )
    ca_key, ca_cert, ca_chain = _load_pkcs12(
        settings.signing_ca_p12_path, settings.signing_ca_p12_password, "signing CA"
    )
    seal_key, seal_cert, seal_chain = _load_pkcs12(
        settings.platform_seal_p12_path, settings.platform_seal_p12_password, "platform seal"
    )
    issuer = _check_ca(ca_key, ca_cert)
    if not any(_issued_by(seal_cert, c) for c in (ca_cert, *ca_chain, *seal_chain)):
        raise SigningAuthorityError(
            "the platform seal certificate's issuer is neither the signing CA nor in its chain"
        )
    # The seal's CMS carries a path to a root: its own chain, then the CA's.
    chain = list(seal_chain)
    chain.extend(c for c in (ca_cert, *ca_chain) if c not in chain)
    return SigningAuthority(issuer, ca_cert, seal_key, seal_cert, ca_chain, tuple(chain))


_cache: dict[tuple[str, ...], SigningAuthority] = {}
_cache_lock = threading.Lock()


def _cache_key(settings: Settings) -> tuple[str, ...]:
    if _uses_pkcs12(settings):
        return ("p12", str(settings.signing_ca_p12_path), str(settings.platform_seal_p12_path))
    return ("local", str(local_authority_path(settings).resolve()))


def load_signing_authority(settings: Settings) -> SigningAuthority:
    """The signing CA and platform seal, read once per process (and, in the
    embedded mode, created on first use)."""
    key = _cache_key(settings)
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            return found
        if _uses_pkcs12(settings):
            authority = _load_from_pkcs12(settings)
        else:
            ensure_local_signing_ca(settings)
            authority = _load_local(local_authority_path(settings))
        _cache[key] = authority
        return authority


def platform_ca_pem(settings: Settings) -> bytes:
    """The published trust anchor(s) in PEM: the signing CA certificate first,
    then any issuers above it."""
    return load_signing_authority(settings).ca_pem
