"""The XML-DSig vocabulary of edXML signatures: which algorithm URIs mean what, and the
``Signature`` element itself — read into a ``Signature`` (form checked) and built from a digest
and a signing key.

Its own module because it is the part that knows the shape of the element and nothing of the
document around it: no file, no stream, no trust store. ``hub.edxml.signature`` is the flow —
the walks over a document of any size, the splice, which algorithms a peer may use, whose
certificate is trusted — and asks this module only what a Signature says or should say. Reading
and building sit side by side so that SignedInfo is canonicalised by the same code whichever
way it goes.

What a Signature may say is described in ``hub.edxml.signature``; a Signature that does not say
it in a form read here is ``SignatureInvalid`` with ``reason="malformed_signature"``.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from hub import xmlsafe
from hub.edxml.c14n import Canonicaliser, Element
from hub.edxml.trust import SigningKey
from hub.errors import SignatureInvalid

__all__ = [
    "CANONICALISATIONS",
    "DIGESTS",
    "DSIG_NS",
    "EDXML_NS",
    "ENVELOPED",
    "EXC_C14N",
    "HASHES",
    "SIGNATURES",
    "SIGNING",
    "Signature",
    "build_signature",
    "read_signature",
]

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = DSIG_NS + "enveloped-signature"
_C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
# Canonicalisation URI -> exclusive? (comments never reach a same-document reference)
CANONICALISATIONS = {
    _C14N10: False,
    _C14N10 + "#WithComments": False,
    _C14N11: False,
    _C14N11 + "#WithComments": False,
    EXC_C14N: True,
    EXC_C14N + "WithComments": True,
    "http://www.w3.org/TR/xml-exc-c14n#": True,  # sic: the VNPT SDK's samples say so
}
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
DIGESTS = {
    DSIG_NS + "sha1": "sha1",
    _MORE + "sha224": "sha224",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    _MORE + "sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
    _MORE + "md5": "md5",
}
SIGNATURES = {
    DSIG_NS + "rsa-sha1": "sha1",
    _MORE + "rsa-sha256": "sha256",
    _MORE + "rsa-sha384": "sha384",
    _MORE + "rsa-sha512": "sha512",
    _MORE + "rsa-md5": "md5",
}
HASHES = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "md5": hashes.MD5,
}
SIGNING = ("sha1", "sha256", "sha384", "sha512")  # what sign* emit


@dataclass(frozen=True)
class Signature:
    """What a Signature element says, checked for form."""

    placement: str
    signed_info: bytes  # canonical, as signed
    signature_method: str
    digest_method: str
    digest_value: bytes
    exclusive: bool  # how the document is canonicalised for the digest
    prefixes: tuple[str, ...]
    value: bytes
    certificates: tuple[x509.Certificate, ...]


def build_signature(digest_b64: str, signer: SigningKey, algorithm: str) -> bytes:
    """The Signature element: SignedInfo built here, canonicalised by the same code that
    verifies it, signed with the agency's key."""
    signature_uri = next(u for u, h in SIGNATURES.items() if h == algorithm)
    digest_uri = next(u for u, h in DIGESTS.items() if h == algorithm)
    signed_info = (
        f'<SignedInfo><CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
        f'<SignatureMethod Algorithm="{signature_uri}"/><Reference URI=""><Transforms>'
        f'<Transform Algorithm="{ENVELOPED}"/><Transform Algorithm="{EXC_C14N}"/></Transforms>'
        f'<DigestMethod Algorithm="{digest_uri}"/><DigestValue>{digest_b64}</DigestValue>'
        "</Reference></SignedInfo>"
    )
    canonical = _canonical_signed_info(
        f'<Signature xmlns="{DSIG_NS}">{signed_info}</Signature>'.encode(), True, ()
    )
    value = signer.private_key.sign(canonical, padding.PKCS1v15(), HASHES[algorithm]())
    certificates = "".join(
        "<X509Certificate>"
        + base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
        + "</X509Certificate>"
        for c in (signer.certificate, *signer.chain)
    )
    return (
        f'<Signature xmlns="{DSIG_NS}">{signed_info}'
        f"<SignatureValue>{base64.b64encode(value).decode()}</SignatureValue>"
        f"<KeyInfo><X509Data>{certificates}</X509Data></KeyInfo></Signature>"
    ).encode("ascii")


def read_signature(namespace: str, xml: str) -> Signature:
    """The Signature element ``xml`` (a standalone copy, in ``namespace``) read and checked
    for form; which algorithms a peer may use is the caller's question."""
    root = xmlsafe.parse(xml.encode("utf-8"))
    signed_info = _only(root, "SignedInfo")
    method = _only(signed_info, "CanonicalizationMethod")
    c14n = _algorithm(method, CANONICALISATIONS)
    signature_method = _algorithm(_only(signed_info, "SignatureMethod"), SIGNATURES)
    references = _children(signed_info, "Reference")
    if len(references) != 1 or references[0].get("URI") != "":
        raise _malformed('only one Reference, to the whole document (URI=""), is supported')
    reference = references[0]
    transforms_element = _children(reference, "Transforms")
    transforms = _children(transforms_element[0], "Transform") if transforms_element else []
    uris = [t.get("Algorithm") for t in transforms]
    if not uris or uris[0] != ENVELOPED or len(uris) > 2:
        raise _malformed("the Reference must be enveloped (then at most one C14N transform)")
    last = transforms[-1]
    exclusive = CANONICALISATIONS.get(uris[-1]) if len(uris) == 2 else False
    if exclusive is None:
        raise _malformed(f"unsupported transform {uris[-1]}")
    digest_method = _algorithm(_only(reference, "DigestMethod"), DIGESTS)
    certificates = tuple(
        _certificate(c.text or "")
        for data in _children(_only(root, "KeyInfo", required=False), "X509Data")
        for c in _children(data, "X509Certificate")
    )
    return Signature(
        placement="xmldsig" if namespace == DSIG_NS else "edxml",
        signed_info=_canonical_signed_info(
            xml.encode("utf-8"), CANONICALISATIONS[c14n], _prefixes(method)
        ),
        signature_method=signature_method,
        digest_method=digest_method,
        digest_value=_base64(_only(reference, "DigestValue").text or "", "DigestValue"),
        exclusive=bool(exclusive),
        prefixes=_prefixes(last) if exclusive else (),
        value=_base64(_only(root, "SignatureValue").text or "", "SignatureValue"),
        certificates=certificates,
    )


class _SignedInfoWalk(Canonicaliser):
    def apex(self, element: Element) -> bool:
        return element.depth == 1 and element.local == "SignedInfo"


def _canonical_signed_info(signature: bytes, exclusive: bool, prefixes: tuple[str, ...]) -> bytes:
    parts: list[bytes] = []
    walk = _SignedInfoWalk(
        parts.append, exclusive=exclusive, inclusive_prefixes=prefixes, subtree=True
    )
    walk.run(io.BytesIO(signature))
    return b"".join(parts)


# --- small helpers ----------------------------------------------------------------------------
def _children(element: etree._Element | None, local: str) -> list[etree._Element]:
    if element is None:
        return []
    return [c for c in element if c.tag in (f"{{{DSIG_NS}}}{local}", f"{{{EDXML_NS}}}{local}")]


def _only(element: etree._Element, local: str, required: bool = True) -> etree._Element:
    found = _children(element, local)
    if len(found) > 1 or (required and not found):
        raise _malformed(f"the Signature needs exactly one {local}")
    return found[0] if found else None  # type: ignore[return-value]


def _algorithm(element: etree._Element, known: dict[str, Any]) -> str:
    uri = element.get("Algorithm") or ""
    if uri not in known:
        raise _malformed(f"unsupported algorithm {uri!r}", algorithm=uri)
    return uri


def _prefixes(element: etree._Element) -> tuple[str, ...]:
    found = element.find(f"{{{EXC_C14N}}}InclusiveNamespaces")  # in the exc-c14n namespace
    return tuple((found.get("PrefixList") or "").split()) if found is not None else ()


def _base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(f"{what} is not base64") from None


def _certificate(text: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(_base64(text, "X509Certificate"))
    except ValueError:
        raise _malformed("an X509Certificate cannot be read") from None


def _malformed(message: str, **details) -> SignatureInvalid:
    return SignatureInvalid(message, reason="malformed_signature", **details)
