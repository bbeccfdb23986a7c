"""edXML signatures (QCVN 102:2016 ``edXMLHeader/Signature``): sign as the sending agency,
verify what arrives, at flat memory. The Signature element itself — the algorithm URIs, reading
and building it — is ``hub.edxml.dsig``; which keys sign and which CAs are trusted —
``SigningKey``, ``TrustStore``, the chain check, the agency code in a certificate — is
``hub.edxml.trust`` (re-exported here, where callers have always found them).

**What the hub emits.** An enveloped XML-DSig signature over the whole document
(``Reference URI=""``, transforms enveloped-signature + exclusive C14N), SHA-256 digest,
RSA-SHA256, the signer's certificate in ``KeyInfo/X509Data``, as the last child of
``edXMLHeader`` in the xmldsig namespace, without a prefix (``<Signature xmlns="…xmldsig#">``).
A Signature already there (either namespace) is replaced. ``hash_name="sha1"`` signs for a
legacy peer that accepts nothing else.

**What it accepts.** The Signature as a child of ``edXMLHeader`` (or of the root), in the
xmldsig namespace or in the edXML default namespace as the samples have it (``placement``);
SignedInfo canonicalised by C14N 1.0/1.1 or exclusive C14N (also under the misspelt URI
``http://www.w3.org/TR/xml-exc-c14n#`` the VNPT samples use); one reference to the whole
document (enveloped, then at most one C14N transform); RSA with SHA-256/384/512 — SHA-1 (and
RSA keys from 1024 bits) only with ``allow_sha1=True``, set per peer agency by the caller; MD5
never. The signer's certificate must chain to a CA in the trust store
(``hub.edxml.trust.trusted_signer``). Revocation (CRL, OCSP) is not checked.

Checks go from cheap to dear: the Signature's form, the algorithms, the signer's chain, the
SignatureValue over SignedInfo, and last the digest, the one pass over the whole document.
Each failure is ``SignatureInvalid`` with a ``reason``; no Signature is ``Unsigned``.

**Flat memory.** Verification and ``sign_file`` never hold the document: the digest is the
streaming C14N of ``hub.edxml.c14n``; ``sign_file`` then copies the file with the old
Signatures cut out and the new one spliced in — where the old one was if it was the header's
last child, else before ``</edXMLHeader>`` — at the byte offsets expat reported; the bytes
around are kept as they were. ``sign_tree`` makes the same signature with signxml on a tree,
for documents built in memory (the tests check that both give the same SignatureValue).
"""

from __future__ import annotations

import base64
import copy
import hmac
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from hub.edxml.c14n import Canonicaliser, Element, element_end, is_empty, splice
from hub.edxml.dsig import (
    DIGESTS,
    DSIG_NS,
    EDXML_NS,
    EXC_C14N,
    HASHES,
    SIGNATURES,
    SIGNING,
    Signature,
    build_signature,
    read_signature,
)
from hub.edxml.trust import SigningKey, TrustStore, agency_code_of, masked_name, trusted_signer
from hub.errors import MalformedInput, SignatureInvalid, Unsigned

__all__ = [
    "DSIG_NS",
    "EDXML_NS",
    "SigningKey",
    "TrustStore",
    "Verified",
    "agency_code_of",
    "sign",
    "sign_file",
    "sign_tree",
    "verify",
    "verify_file",
]


@dataclass(frozen=True)
class Verified:
    """Who signed, with what. ``subject`` and ``issuer`` are RFC 4514 names with ID-like
    numbers masked; ``placement`` is ``"xmldsig"`` or ``"edxml"`` (the Signature's namespace);
    ``algorithm`` and ``digest_algorithm`` the URIs the Signature names."""

    subject: str
    agency_code: str | None
    algorithm: str
    digest_algorithm: str
    placement: str
    not_after: datetime
    issuer: str


# --- signing ----------------------------------------------------------------------------------
def sign(document: bytes, signer: SigningKey, *, hash_name: str = "sha256") -> bytes:
    """``document`` signed: its bytes as they were, the Signature spliced in."""
    out = io.BytesIO()
    _sign_stream(io.BytesIO(document), out, signer, hash_name)
    return out.getvalue()


def sign_file(
    src: str | Path, dst: str | Path, signer: SigningKey, *, hash_name: str = "sha256"
) -> None:
    """``sign`` from file to file at flat memory; ``dst`` is replaced whole when done (it may
    be ``src``). Raises ``MalformedInput`` for a document that is not edXML."""
    dst = Path(dst)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part")
    try:
        with open(src, "rb") as fh, os.fdopen(fd, "wb") as out:
            _sign_stream(fh, out, signer, hash_name)
        shutil.copymode(src, tmp)  # mkstemp made it 0600
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sign_tree(
    root: etree._Element, signer: SigningKey, *, hash_name: str = "sha256"
) -> etree._Element:
    """The same signature made by signxml on a tree (``root`` is left as it was): a signed
    copy, the Signature the last child of ``edXMLHeader``. SHA-1 only through ``sign``."""
    from signxml import XMLSigner  # imported here: only the tree path needs it

    root = copy.deepcopy(root)
    header = next((e for e in root.iter(f"{{{EDXML_NS}}}edXMLHeader")), None)
    if header is None:
        raise MalformedInput("not an edXML document: no edXMLHeader", reason="no_header")
    old = [e for e in (*header, *root) if _is_signature_tag(e)]
    placeholder = etree.Element(f"{{{DSIG_NS}}}Signature", nsmap={None: DSIG_NS}, Id="placeholder")
    last = next((e for e in reversed(header) if isinstance(e.tag, str)), None)
    if last is not None and _is_signature_tag(last):  # as the streaming path: take its place
        placeholder.tail = last.tail
        header.replace(last, placeholder)
        old.remove(last)
    else:
        header.append(placeholder)
    for element in old:
        _remove_keeping_tail(element)
    algorithm = _hash_name(hash_name)
    tree_signer = XMLSigner(
        signature_algorithm=f"rsa-{algorithm}",
        digest_algorithm=algorithm,
        c14n_algorithm=EXC_C14N,
    )
    tree_signer.namespaces = {None: DSIG_NS}
    return tree_signer.sign(root, key=signer.private_key, cert=[signer.certificate, *signer.chain])


def _sign_stream(fh: BinaryIO, out: BinaryIO, signer: SigningKey, hash_name: str) -> None:
    """Two passes over ``fh``: the digest (and where the old Signatures and the header's end
    are), then the copy with the new Signature spliced in."""
    algorithm = _hash_name(hash_name)
    head = fh.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\0" in head:
        raise MalformedInput("only UTF-8 edXML is signed here", reason="encoding")
    fh.seek(0)
    digest = hashes.Hash(HASHES[algorithm]())
    walk = _SigningWalk(digest.update)
    walk.run(fh)
    if walk.header_end is None:
        raise MalformedInput("not an edXML document: no edXMLHeader", reason="no_header")
    if is_empty(fh, walk.header_start):
        raise MalformedInput("edXMLHeader is empty: no MessageHeader", reason="no_header")
    signature = build_signature(base64.b64encode(digest.finalize()).decode(), signer, algorithm)
    edits = [(s, element_end(fh, s, end), b"") for s, end in walk.cuts]
    if walk.replace is not None:  # the old Signature was the header's last child: its place
        edits = [(s, e, signature if s == walk.replace else b"") for s, e, _ in edits]
    else:
        edits.append((walk.header_end, walk.header_end, signature))
    fh.seek(0)
    splice(fh, out, edits)


# --- verifying --------------------------------------------------------------------------------
def verify(
    document: bytes, trust: TrustStore, *, allow_sha1: bool = False, at: datetime | None = None
) -> Verified:
    """Check ``document``'s Signature (see the module docstring). Raises ``Unsigned``,
    ``SignatureInvalid`` (``reason``), ``MalformedInput`` / ``HostileInput``."""
    return _verify_stream(io.BytesIO(document), trust, allow_sha1, at)


def verify_file(
    path: str | Path,
    trust: TrustStore,
    *,
    allow_sha1: bool = False,
    at: datetime | None = None,
) -> Verified:
    """``verify`` for a stored document, at flat memory whatever its size."""
    with open(path, "rb") as fh:
        return _verify_stream(fh, trust, allow_sha1, at)


def _verify_stream(
    fh: BinaryIO, trust: TrustStore, allow_sha1: bool, at: datetime | None
) -> Verified:
    if at is not None and at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    start = fh.tell()
    finder = _SignatureWalk(keep=True)
    finder.run(fh)
    if finder.signature is None:
        raise Unsigned("the edXML document carries no Signature")
    sig = read_signature(*finder.signature)
    _check_algorithms(sig, allow_sha1)
    leaf = trusted_signer(sig.certificates, trust, at or datetime.now(UTC), allow_sha1=allow_sha1)
    try:
        leaf.public_key().verify(  # type: ignore[union-attr]  # RSA, checked above
            sig.value,
            sig.signed_info,
            padding.PKCS1v15(),
            HASHES[SIGNATURES[sig.signature_method]](),
        )
    except InvalidSignature:
        raise _invalid(
            "bad_signature_value", "the SignatureValue does not match SignedInfo"
        ) from None
    fh.seek(start)
    digest = hashes.Hash(HASHES[DIGESTS[sig.digest_method]]())
    _SignatureWalk(digest.update, exclusive=sig.exclusive, prefixes=sig.prefixes).run(fh)
    if not hmac.compare_digest(digest.finalize(), sig.digest_value):
        raise _invalid("digest_mismatch", "the document changed after it was signed")
    return Verified(
        subject=masked_name(leaf.subject),
        agency_code=agency_code_of(leaf),
        algorithm=sig.signature_method,
        digest_algorithm=sig.digest_method,
        placement=sig.placement,
        not_after=leaf.not_valid_after_utc,
        issuer=masked_name(leaf.issuer),
    )


def _check_algorithms(sig: Signature, allow_sha1: bool) -> None:
    for uri in (sig.signature_method, sig.digest_method):
        name = SIGNATURES.get(uri) or DIGESTS[uri]
        if name == "md5" or (name == "sha1" and not allow_sha1):
            raise _invalid("weak_algorithm", f"{uri} is refused", algorithm=uri)


# --- the walks over the document --------------------------------------------------------------
def _is_signature(element: Element) -> bool:
    parent = element.parent
    return (
        element.local == "Signature"
        and element.namespace in (DSIG_NS, EDXML_NS)
        and parent is not None
        and (parent.parent is None or _is_header(parent))
    )


def _is_header(element: Element) -> bool:
    return (
        element.local == "edXMLHeader"
        and element.namespace == EDXML_NS
        and element.parent is not None
        and element.parent.local == "edXMLEnvelope"
    )


class _SignatureWalk(Canonicaliser):
    """The document canonicalised with its first Signature left out (the enveloped
    transform); with ``keep``, only that Signature's copy is wanted, and the walk stops there."""

    def __init__(
        self,
        write: Callable[[bytes], Any] | None = None,
        *,
        exclusive: bool = True,
        prefixes: tuple[str, ...] = (),
        keep: bool = False,
    ) -> None:
        super().__init__(write, exclusive=exclusive, inclusive_prefixes=prefixes)
        self.keeping = keep
        self.found = False
        self.signature: tuple[str, str] | None = None  # (namespace, standalone XML)

    def omit(self, element: Element) -> bool:
        if self.found or not _is_signature(element):
            return False
        self.found = True
        return True

    def keep(self, element: Element) -> bool:
        return self.keeping

    def kept(self, element: Element, xml: str) -> None:
        self.signature = (element.namespace, xml)
        self.stop()


class _SigningWalk(Canonicaliser):
    """The digest of the document as it will be signed (every old Signature left out), where
    those are, and where ``edXMLHeader``'s end tag begins. When the header's last element is
    an old Signature, the new one takes its place (``replace``: its offset)."""

    def __init__(self, write: Callable[[bytes], Any]) -> None:
        super().__init__(write, exclusive=True)
        self.cuts: list[tuple[int, int]] = []  # (start, the index expat reports at its end)
        self.header_start: int | None = None
        self.header_end: int | None = None
        self.last: Element | None = None  # the header's last element child so far
        self.replace: int | None = None

    def omit(self, element: Element) -> bool:
        if self.header_end is None and element.parent and _is_header(element.parent):
            self.last = element
        return _is_signature(element)

    def ended(self, element: Element, index: int) -> None:
        if not element.visible and element.parent and element.parent.visible:
            self.cuts.append((element.start, index))
        elif self.header_end is None and _is_header(element):
            self.header_start, self.header_end = element.start, index
            if self.last is not None and not self.last.visible:
                self.replace = self.last.start


# --- small helpers ----------------------------------------------------------------------------
def _hash_name(name: str) -> str:
    if name not in SIGNING:
        raise ValueError(f"hash_name must be one of {SIGNING}")
    return name


def _is_signature_tag(element: etree._Element) -> bool:
    return isinstance(element.tag, str) and element.tag in (
        f"{{{DSIG_NS}}}Signature",
        f"{{{EDXML_NS}}}Signature",
    )


def _remove_keeping_tail(element: etree._Element) -> None:
    parent, previous = element.getparent(), element.getprevious()
    if element.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _invalid(reason: str, message: str, **details) -> SignatureInvalid:
    return SignatureInvalid(message, reason=reason, **details)
