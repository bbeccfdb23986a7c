"""Who may sign edXML: an agency's signing key, the CAs the hub trusts, and the check that a
signer's certificate chains to one of them.

Kept apart from the XML-DSig handling (``hub.edxml.signature``) because it is a question of
certificates, not of XML: ``hub.documents.keys`` loads keys and CAs with nothing of XML.

**Trust.** The signer's certificate must chain, through the certificates the Signature carries,
to a CA in the ``TrustStore``; every certificate of the chain valid at verification time, every
CA's path length respected, and the signer's key usage, if stated, must allow signing. RSA keys
from 2048 bits (1024 only for a peer allowed SHA-1). Revocation (CRL, OCSP) is not checked.

**Agency code.** Read from the certificate subject's ``UID`` attribute (OID
0.9.2342.19200300.100.1.1), the way ``hub.edxml.devca`` issues it; a UID of another scheme
(``MST:…`` tax code, ``CCCD:…``) is not an agency code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from hub.errors import SignatureInvalid
from hub.security import mask_text

__all__ = ["SigningKey", "TrustStore", "agency_code_of", "masked_name", "trusted_signer"]

_MAX_CHAIN = 6  # certificates from the signer to the trust anchor


@dataclass(frozen=True)
class SigningKey:
    """An agency's RSA private key and its certificate (then any intermediates, in order)."""

    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def for_agency(
        cls, keys_dir: str | Path, agency_code: str, passphrase: str | bytes | None = None
    ) -> SigningKey:
        """``{keys_dir}/{agency_code}.key.pem`` and ``.cert.pem`` (``LGSP_EDOC_KEYS_DIR``)."""
        if not agency_code or "/" in agency_code or "\\" in agency_code or agency_code[0] == ".":
            raise ValueError(f"not an agency code: {agency_code!r}")
        base = Path(keys_dir)
        return cls.load(
            base / f"{agency_code}.key.pem", base / f"{agency_code}.cert.pem", passphrase
        )

    @classmethod
    def load(
        cls, key_path: str | Path, cert_path: str | Path, passphrase: str | bytes | None = None
    ) -> SigningKey:
        """PEM files; ``ValueError`` if the key is not RSA, is encrypted and no (or a wrong)
        passphrase is given, or does not belong to the certificate."""
        password = passphrase.encode() if isinstance(passphrase, str) else passphrase
        try:
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{key_path}: cannot load the private key ({exc})") from None
        certificates = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path}: only RSA keys sign edXML here")
        if key.public_key().public_numbers() != certificates[0].public_key().public_numbers():
            raise ValueError(f"{key_path} does not belong to the certificate in {cert_path}")
        return cls(key, certificates[0], tuple(certificates[1:]))


class TrustStore:
    """The CA certificates a signer's chain must reach (``certs/README.md``)."""

    def __init__(self, anchors: list[x509.Certificate]) -> None:
        self.anchors = tuple(anchors)
        self._by_subject: dict[bytes, list[x509.Certificate]] = {}
        for anchor in anchors:
            self._by_subject.setdefault(anchor.subject.public_bytes(), []).append(anchor)

    def __len__(self) -> int:
        return len(self.anchors)

    @classmethod
    def load(cls, directory: str | Path) -> TrustStore:
        """Every ``*.pem`` / ``*.crt`` under ``directory`` (PEM, several per file, or DER).
        ``ValueError`` names a file that is not a CA certificate (a private key above all)."""
        root = Path(directory)
        if not root.is_dir():
            raise ValueError(f"trust store {root} is not a directory")
        anchors: list[x509.Certificate] = []
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".pem", ".crt")):
            data = path.read_bytes()
            if b"PRIVATE KEY" in data:
                raise ValueError(f"{path} holds a private key: it has no place in a trust store")
            try:
                found = (
                    x509.load_pem_x509_certificates(data)
                    if b"-----BEGIN" in data
                    else [x509.load_der_x509_certificate(data)]
                )
            except ValueError as exc:
                raise ValueError(f"{path} is not a certificate ({exc})") from None
            for cert in found:
                if not _is_ca(cert):
                    raise ValueError(f"{path}: {masked_name(cert.subject)} is not a CA certificate")
            anchors += found
        return cls(anchors)

    def issuers_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        return self._by_subject.get(cert.issuer.public_bytes(), [])


def agency_code_of(cert: x509.Certificate) -> str | None:
    """The subject's ``UID`` when it is an agency code (not ``SCHEME:value``), else None."""
    for attribute in cert.subject.get_attributes_for_oid(NameOID.USER_ID):
        value = str(attribute.value).strip()
        if value and ":" not in value:
            return value
    return None


def masked_name(name: x509.Name) -> str:
    """An RFC 4514 name with ID-like numbers masked: subjects may carry a citizen's ID."""
    return mask_text(name.rfc4514_string())


def trusted_signer(
    certificates: tuple[x509.Certificate, ...],
    trust: TrustStore,
    at: datetime,
    *,
    allow_sha1: bool = False,
) -> x509.Certificate:
    """The signer's certificate among those a Signature carries, once its chain to ``trust``
    holds at ``at`` (see the module docstring). Raises ``SignatureInvalid`` with a ``reason``:
    ``unknown_signer``, ``weak_algorithm``, ``expired_certificate``,
    ``certificate_not_for_signing``, or ``malformed_signature`` for a key that is not RSA."""
    leaf = _signer(certificates)
    _check_chain(leaf, certificates, trust, at, allow_sha1)
    return leaf


def _signer(certificates: tuple[x509.Certificate, ...]) -> x509.Certificate:
    """The certificate that issued none of the others (the first, if that is ambiguous)."""
    if not certificates:
        raise _invalid("unknown_signer", "the Signature carries no X509Certificate")
    issuers = {c.issuer.public_bytes() for c in certificates if not _self_issued(c)}
    leaves = [c for c in certificates if c.subject.public_bytes() not in issuers]
    leaf = leaves[0] if leaves else certificates[0]
    if not isinstance(leaf.public_key(), rsa.RSAPublicKey):
        raise SignatureInvalid("only RSA signers are supported", reason="malformed_signature")
    return leaf


def _check_chain(
    leaf: x509.Certificate,
    carried: tuple[x509.Certificate, ...],
    trust: TrustStore,
    at: datetime,
    allow_sha1: bool,
) -> None:
    """Leaf to a trust anchor through the carried certificates; then validity and usage."""
    minimum = 1024 if allow_sha1 else 2048
    if leaf.public_key().key_size < minimum:  # type: ignore[union-attr]
        raise _invalid("weak_algorithm", f"an RSA key under {minimum} bits is refused")
    chain, current = [leaf], leaf
    while True:
        anchor = next((a for a in trust.issuers_of(current) if _issued(current, a)), None)
        if anchor is not None or any(current == a for a in trust.anchors):
            chain.append(anchor or current)
            break
        step = next(
            (c for c in carried if c not in chain and _can_issue(c) and _issued(current, c)),
            None,
        )
        if step is None or len(chain) >= _MAX_CHAIN:
            raise _invalid(
                "unknown_signer",
                "the signer's certificate does not chain to a trusted CA",
                subject=masked_name(leaf.subject),
                issuer=masked_name(leaf.issuer),
            )
        chain.append(step)
        current = step
    for below, ca in enumerate(chain[1:]):  # ``below``: CA certificates between it and the leaf
        limit = _constraints(ca).path_length
        if limit is not None and below > limit:
            raise _invalid(
                "unknown_signer",
                "the chain is longer than a CA allows (path length)",
                subject=masked_name(ca.subject),
            )
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise _invalid(
                "expired_certificate",
                "a certificate of the signer's chain is not valid now",
                subject=masked_name(cert.subject),
                not_before=cert.not_valid_before_utc.isoformat(),
                not_after=cert.not_valid_after_utc.isoformat(),
            )
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise _invalid(
            "certificate_not_for_signing",
            "the signer's certificate does not allow signing (key usage)",
            subject=masked_name(leaf.subject),
        )


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def _constraints(cert: x509.Certificate) -> x509.BasicConstraints:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return x509.BasicConstraints(ca=False, path_length=None)


def _is_ca(cert: x509.Certificate) -> bool:
    return _constraints(cert).ca


def _can_issue(cert: x509.Certificate) -> bool:
    """A CA certificate whose key usage, if stated, allows signing certificates."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return _is_ca(cert)
    return _is_ca(cert) and usage.key_cert_sign


def _invalid(reason: str, message: str, **details: str) -> SignatureInvalid:
    return SignatureInvalid(message, reason=reason, **details)
