"""The signing PKI: the local CA and seal, PKCS#12 loading, one-use signer certificates."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from mindlinks.cli import app
from mindlinks.config import Settings
from mindlinks.esign import pki
from mindlinks.esign.pki import (
    DESCRIPTION,
    DOCUMENT_SIGNING,
    MS_DOCUMENT_SIGNING,
    SigningAuthorityError,
    ensure_local_signing_ca,
    issue_signer_certificate,
    load_signing_authority,
    local_authority_path,
    platform_ca_pem,
)

YEAR = timedelta(days=365)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def authority(settings):
    return load_signing_authority(settings)


def _issue(authority, **fields):
    values = {
        "name": "Zoë Łukasiewicz",
        "email": "zoe@example.com",
        "role": "contractor",
        "contract_id": "01jcontract",
        "kyc_session_id": "01jkycsession",
        "signature_id": "01jsignature",
    }
    values.update(fields)
    return issue_signer_certificate(authority, **values)


def _attr(cert: x509.Certificate, oid) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


def _asn1(cert: x509.Certificate):
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


# --- the local CA --------------------------------------------------------------------


def test_the_local_ca_and_seal_are_created_once_owner_only(settings):
    assert ensure_local_signing_ca(settings) is True
    path = local_authority_path(settings)
    assert path.stat().st_mode & 0o777 == 0o600
    before = path.read_bytes()
    assert ensure_local_signing_ca(settings) is False
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_the_local_ca_is_a_20_year_root_that_signs_certificates(authority):
    ca = authority.ca_cert
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Mind-Links Local Signing CA"
    )
    assert ca.issuer == ca.subject
    ca.verify_directly_issued_by(ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert 20 * YEAR <= lifetime <= 20 * YEAR + timedelta(days=10)
    assert isinstance(authority.ca_key, ec.EllipticCurvePrivateKey)


def test_the_platform_seal_is_issued_by_the_ca_for_document_signing(authority):
    seal, ca = authority.seal_cert, authority.ca_cert
    assert seal.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Mind-Links Platform Seal"
    )
    seal.verify_directly_issued_by(ca)
    usage = seal.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    ekus = set(seal.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert {DOCUMENT_SIGNING, MS_DOCUMENT_SIGNING} <= ekus
    assert not seal.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = seal.not_valid_after_utc - seal.not_valid_before_utc
    assert 10 * YEAR <= lifetime <= 10 * YEAR + timedelta(days=10)


def test_processes_starting_together_agree_on_one_ca(settings):
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        barrier.wait()
        results.append(ensure_local_signing_ca(settings))

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    document = json.loads(local_authority_path(settings).read_text())
    assert set(document) == {"ca_key", "ca_cert", "seal_key", "seal_cert"}


def test_the_authority_is_created_on_first_use_and_read_once(settings):
    assert not local_authority_path(settings).exists()
    first = load_signing_authority(settings)
    assert local_authority_path(settings).exists()
    assert load_signing_authority(Settings(data_dir=settings.data_dir)) is first


def test_a_damaged_local_file_is_refused_with_its_path(settings):
    path = local_authority_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text('{"ca_key": "nope"}')
    with pytest.raises(SigningAuthorityError, match=str(path)):
        load_signing_authority(settings)


def test_the_published_ca_is_the_ca_certificate(settings, authority):
    published = platform_ca_pem(settings)
    assert x509.load_pem_x509_certificates(published) == [authority.ca_cert]


def test_keys_init_lists_the_signing_ca_it_created(tmp_path, monkeypatch):
    monkeypatch.setenv("MINDLINKS_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    first = runner.invoke(app, ["keys", "init"])
    assert first.exit_code == 0, first.output
    assert "local signing CA and platform seal certificate" in first.output
    assert (tmp_path / "keys" / pki.LOCAL_AUTHORITY_FILE).stat().st_mode & 0o777 == 0o600
    again = runner.invoke(app, ["keys", "init"])
    assert "signing CA" not in again.output


# --- production: PKCS#12 -----------------------------------------------------------------


def _p12(key, cert, extra, password: bytes) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"mindlinks",
        key,
        cert,
        extra,
        serialization.BestAvailableEncryption(password),
    )


@pytest.fixture
def p12_files(tmp_path):
    """A CA and a seal it issued, as two password-protected PKCS#12 files."""
    source = pki._new_local_authority(datetime.now(UTC))
    ca_path, seal_path = tmp_path / "ca.p12", tmp_path / "seal.p12"
    ca_path.write_bytes(_p12(source.ca_key, source.ca_cert, None, b"ca-secret"))
    seal_path.write_bytes(_p12(source.seal_key, source.seal_cert, [source.ca_cert], b"seal-pw"))
    return source, ca_path, seal_path


def test_production_loads_the_ca_and_seal_from_pkcs12(tmp_path, p12_files):
    source, ca_path, seal_path = p12_files
    settings = Settings(
        data_dir=tmp_path / "data",
        signing_ca_p12_path=ca_path,
        signing_ca_p12_password="ca-secret",
        platform_seal_p12_path=seal_path,
        platform_seal_p12_password="seal-pw",
    )
    assert ensure_local_signing_ca(settings) is False
    assert not local_authority_path(settings).exists()
    authority = load_signing_authority(settings)
    assert authority.ca_cert == source.ca_cert
    assert authority.seal_cert == source.seal_cert
    assert authority.seal_chain == (source.ca_cert,)
    assert x509.load_pem_x509_certificates(platform_ca_pem(settings)) == [source.ca_cert]
    _key, cert = _issue(authority)
    cert.verify_directly_issued_by(source.ca_cert)


def test_a_wrong_pkcs12_password_is_refused(tmp_path, p12_files):
    _, ca_path, seal_path = p12_files
    settings = Settings(
        data_dir=tmp_path / "wrong",
        signing_ca_p12_path=ca_path,
        signing_ca_p12_password="not-it",
        platform_seal_p12_path=seal_path,
        platform_seal_p12_password="seal-pw",
    )
    with pytest.raises(SigningAuthorityError, match="does not open"):
        load_signing_authority(settings)


def test_a_seal_from_another_ca_is_refused(tmp_path, p12_files):
    _, ca_path, _ = p12_files
    stranger = pki._new_local_authority(datetime.now(UTC))
    other_seal = tmp_path / "other-seal.p12"
    other_seal.write_bytes(_p12(stranger.seal_key, stranger.seal_cert, None, b"x"))
    settings = Settings(
        data_dir=tmp_path / "other",
        signing_ca_p12_path=ca_path,
        signing_ca_p12_password="ca-secret",
        platform_seal_p12_path=other_seal,
        platform_seal_p12_password="x",
    )
    with pytest.raises(SigningAuthorityError, match="issuer"):
        load_signing_authority(settings)


def test_one_pkcs12_path_alone_is_refused(tmp_path, p12_files):
    _, ca_path, _ = p12_files
    settings = Settings(
        data_dir=tmp_path / "half",
        signing_ca_p12_path=ca_path,
        signing_ca_p12_password="ca-secret",
    )
    with pytest.raises(SigningAuthorityError, match="PLATFORM_SEAL_P12_PATH"):
        load_signing_authority(settings)


def test_an_end_entity_certificate_is_not_accepted_as_the_ca(tmp_path, p12_files):
    source, _, seal_path = p12_files
    not_a_ca = tmp_path / "not-a-ca.p12"
    not_a_ca.write_bytes(_p12(source.seal_key, source.seal_cert, None, b"pw"))
    settings = Settings(
        data_dir=tmp_path / "nca",
        signing_ca_p12_path=not_a_ca,
        signing_ca_p12_password="pw",
        platform_seal_p12_path=seal_path,
        platform_seal_p12_password="seal-pw",
    )
    with pytest.raises(SigningAuthorityError, match="not a CA"):
        load_signing_authority(settings)


# --- signer certificates -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["Zoë Łukasiewicz", "张伟"])
def test_the_signer_name_is_the_common_name_in_utf8(authority, name):
    _, cert = _issue(authority, name=name)
    assert _attr(cert, NameOID.COMMON_NAME) == [name]
    # UTF8String (tag 12), not a PrintableString or T61String that mangles the name.
    for rdn in _asn1(cert).subject.chosen:
        for attribute in rdn:
            if attribute["type"].native == "common_name":
                assert attribute["value"].name == "utf8_string"
                assert attribute["value"].chosen.tag == 12
                assert attribute["value"].native == name


def test_a_contractor_certificate_carries_the_verified_identity(authority):
    _, cert = _issue(authority)
    assert _attr(cert, NameOID.EMAIL_ADDRESS) == ["zoe@example.com"]
    assert _attr(cert, NameOID.SERIAL_NUMBER) == ["kyc:01jkycsession"]
    assert _attr(cert, NameOID.ORGANIZATIONAL_UNIT_NAME) == ["contractor"]
    (description,) = _attr(cert, DESCRIPTION)
    assert "01jcontract" in description and "01jsignature" in description
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["zoe@example.com"]


def test_a_client_certificate_names_the_company_and_no_kyc(authority):
    _, cert = _issue(
        authority, role="client", kyc_session_id=None, name="Clara Client", organization="Acme Ltd"
    )
    assert _attr(cert, NameOID.SERIAL_NUMBER) == []
    assert _attr(cert, NameOID.ORGANIZATION_NAME) == ["Acme Ltd"]
    assert _attr(cert, NameOID.ORGANIZATIONAL_UNIT_NAME) == ["client"]


def test_signer_certificates_sign_documents_for_years_without_a_timestamp(authority):
    before = datetime.now(UTC)
    _, cert = _issue(authority)
    cert.verify_directly_issued_by(authority.ca_cert)
    assert cert.not_valid_before_utc < before  # a lagging verifier clock still accepts it
    assert cert.not_valid_before_utc >= before - timedelta(minutes=6)
    assert cert.not_valid_after_utc - before >= 15 * YEAR - timedelta(days=1)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    ekus = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert {DOCUMENT_SIGNING, MS_DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION} <= ekus
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = authority.ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_a_signer_certificate_never_outlives_its_ca(authority):
    late = authority.ca_cert.not_valid_after_utc - timedelta(days=30)
    _, cert = _issue(authority, at=late)
    assert cert.not_valid_after_utc == authority.ca_cert.not_valid_after_utc
    with pytest.raises(SigningAuthorityError, match="cannot issue"):
        _issue(authority, at=authority.ca_cert.not_valid_after_utc + timedelta(days=1))


def test_every_signature_gets_its_own_key(authority):
    first_key, first = _issue(authority)
    _second_key, second = _issue(authority)
    assert first.serial_number != second.serial_number
    assert first.public_key() != second.public_key()
    assert first_key.public_key() == first.public_key()
    signature = first_key.sign(b"data", ec.ECDSA(hashes.SHA256()))
    first.public_key().verify(signature, b"data", ec.ECDSA(hashes.SHA256()))


def test_a_long_name_is_shortened_in_the_cn_and_kept_whole_in_the_description(authority):
    name = "Maximiliana Wilhelmina Konstantinopolitanische-Donaudampfschifffahrt " * 2
    _, cert = _issue(authority, name=name)
    (common_name,) = _attr(cert, NameOID.COMMON_NAME)
    assert len(common_name.encode()) <= 64 and common_name.endswith("…")
    (description,) = _attr(cert, DESCRIPTION)
    assert " ".join(name.split()) in description


def test_control_characters_and_blank_names_are_handled(authority):
    _, cert = _issue(authority, name="Zoë\u0000 \t Łukasiewicz\n")
    assert _attr(cert, NameOID.COMMON_NAME) == ["Zoë Łukasiewicz"]
    with pytest.raises(ValueError, match="name"):
        _issue(authority, name=" \n ")
