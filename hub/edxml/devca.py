"""A development CA and one signing certificate per agency, for the demo, the tests and an
operator trying the hub without a real CA (``lgsp certs dev-ca``, ``certs/make_dev_ca.py``).

It lives in the installed package, not only in ``certs/``, so that installed commands (the
demo, ``lgsp``) can make development keys on a machine without a checkout. It writes

    DIR/ca/dev-ca.key.pem            the CA's key (0600) — never a trust anchor's place
    DIR/trust/dev-ca.pem             the CA certificate: the trust store (LGSP_EDOC_TRUST_DIR)
    DIR/agencies/{code}.key.pem      each agency's key (0600)   } LGSP_EDOC_KEYS_DIR
    DIR/agencies/{code}.cert.pem     and certificate            }

Idempotent: an existing CA in DIR is reused, and so is an agency certificate it issued that is
valid for at least 30 more days. The agency code goes into the subject's ``UID`` attribute,
where ``hub.edxml.trust.agency_code_of`` reads it. Development only: production certificates
come from a real CA (VGCA), see certs/README.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["Agency", "DevCA", "issue_agency", "load_or_create_ca", "make_dev_ca"]

CA_NAME = "LGSP Hub Development CA"
ORGANIZATION = "LGSP Hub (development only)"
CA_DAYS = 3650
AGENCY_DAYS = 730
RENEW_WITHIN = timedelta(days=30)


@dataclass(frozen=True)
class Agency:
    """Where an agency's development key and certificate are (``SigningKey.load`` reads them)."""

    code: str
    key_path: Path
    cert_path: Path


@dataclass
class DevCA:
    """The CA in ``directory``: its key and certificate, and the agencies it issued here."""

    directory: Path
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    agencies: dict[str, Agency] = field(default_factory=dict)

    @property
    def trust_dir(self) -> Path:
        return self.directory / "trust"

    @property
    def keys_dir(self) -> Path:
        return self.directory / "agencies"

    @property
    def cert_path(self) -> Path:
        return _ca_paths(self.directory)[1]


def load_or_create_ca(directory: str | Path, *, key_size: int = 3072) -> DevCA:
    """The CA already in ``directory``, or a new one (10 years) written there. ``ValueError``
    if the key there cannot be read (encrypted, not RSA, not a key)."""
    directory = Path(directory)
    key_path, cert_path = _ca_paths(directory)
    if key_path.exists() and cert_path.exists():
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{key_path}: cannot load the CA key ({exc})") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} is not an RSA key")
        return DevCA(directory, key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, key)
    _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
    return DevCA(directory, key, certificate)


def _ca_paths(directory: Path) -> tuple[Path, Path]:
    return directory / "ca" / "dev-ca.key.pem", directory / "trust" / "dev-ca.pem"


def issue_agency(
    ca: DevCA,
    code: str,
    *,
    name: str | None = None,
    key_size: int = 2048,
    days: int = AGENCY_DAYS,
    not_before: datetime | None = None,
    signing: bool = True,
) -> Agency:
    """A new key and certificate for agency ``code`` (``UID=code``), written over any old ones.
    ``not_before`` and ``signing=False`` (key usage without digitalSignature) make the
    certificates tests need: expired, not for signing."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name or f"Agency {code}"),
            x509.NameAttribute(NameOID.USER_ID, code),
        ]
    )
    usage = (
        _usage(digital_signature=True, content_commitment=True)
        if signing
        else _usage(key_encipherment=True)
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
        .sign(ca.key, hashes.SHA256())
    )
    agency = _agency(ca, code)
    _write_private(agency.key_path, key)
    _write(agency.cert_path, certificate.public_bytes(serialization.Encoding.PEM))
    ca.agencies[code] = agency
    return agency


def make_dev_ca(
    directory: str | Path,
    agency_codes: Iterable[str],
    *,
    key_size: int = 3072,
    agency_key_size: int = 2048,
) -> DevCA:
    """The CA in ``directory`` (made if missing) and a valid certificate for every code.
    Every code is checked first, so a bad one (``ValueError``) leaves nothing written."""
    codes = list(agency_codes)
    for code in codes:
        _check_code(code)
    ca = load_or_create_ca(directory, key_size=key_size)
    for code in codes:
        agency = _agency(ca, code)
        if _still_good(ca, agency):
            ca.agencies[code] = agency
        else:
            issue_agency(ca, code, key_size=agency_key_size)
    return ca


def _agency(ca: DevCA, code: str) -> Agency:
    _check_code(code)
    return Agency(code, ca.keys_dir / f"{code}.key.pem", ca.keys_dir / f"{code}.cert.pem")


def _still_good(ca: DevCA, agency: Agency) -> bool:
    if not (agency.key_path.exists() and agency.cert_path.exists()):
        return False
    cert = x509.load_pem_x509_certificate(agency.cert_path.read_bytes())
    try:
        cert.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):  # another CA's
        return False
    return cert.not_valid_after_utc - datetime.now(UTC) > RENEW_WITHIN


def _check_code(code: str) -> None:
    """A code becomes a file name: nothing that could leave the agencies' folder."""
    if not code or any(c in code for c in "/\\\0") or code.startswith("."):
        raise ValueError(f"not an agency code: {code!r}")


def _usage(**allowed: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    flags.update(allowed)
    return x509.KeyUsage(**flags)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _write_private(path: Path, key: rsa.RSAPrivateKey) -> None:
    """PEM (PKCS#8, unencrypted: a development key), created 0600 — never world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
