"""edXML signatures: what the hub signs verifies (here, in signxml, at any size), what real
producers sign verifies in either placement, and each way a signature can fail is refused with
its reason. The streaming canonicaliser is proven byte-identical to lxml."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner, XMLVerifier

from certs.make_dev_ca import main
from hub.edxml.c14n import Canonicaliser, canonicalize
from hub.edxml.devca import DevCA, issue_agency, make_dev_ca
from hub.edxml.signature import (
    DSIG_NS,
    EDXML_NS,
    SigningKey,
    TrustStore,
    sign,
    sign_file,
    sign_tree,
    verify,
    verify_file,
)
from hub.errors import HostileInput, MalformedInput, SignatureInvalid, Unsigned
from tests.edxml.samples import SAMPLES, STRAY_BYTES, sample_files

ROOT = Path(__file__).resolve().parents[2]
AGENCY = "000.00.00.H49"
TAYNINH = "bkav-edoc-integrator/edoc_new_tayninh.edxml"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def _key(agency) -> SigningKey:
    return SigningKey.load(agency.key_path, agency.cert_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A trusted dev CA with its agencies (one expired, one not for signing), and a second CA
    that the trust store does not know."""
    base = tmp_path_factory.mktemp("pki")
    ca = make_dev_ca(base / "dev", [AGENCY], key_size=2048)
    expired = issue_agency(
        ca, "000.00.09.H49", not_before=datetime.now(UTC) - timedelta(days=800), days=730
    )
    no_signing = issue_agency(ca, "000.00.08.H49", signing=False)
    foreign = make_dev_ca(base / "foreign", [AGENCY], key_size=2048)
    return SimpleNamespace(
        ca=ca,
        trust=TrustStore.load(ca.trust_dir),
        signer=SigningKey.for_agency(ca.keys_dir, AGENCY),
        expired=_key(expired),
        no_signing=_key(no_signing),
        foreign=_key(foreign.agencies[AGENCY]),
    )


def _sample(name: str) -> bytes:
    data = (SAMPLES / name).read_bytes()
    return data[4:] if name == STRAY_BYTES else data


def _edxml_samples() -> list[str]:
    return [n for n in sample_files() if n.endswith(".edxml")]


@pytest.fixture(scope="module")
def inner_edxml() -> bytes:
    """The edXML zipped in the Tây Ninh sample's attachment: xmldsig-namespaced Signature,
    enveloped transform only, CRLF line endings, comments. It uses the prefixes ``xlink`` and
    (outside the envelope) ``edXML`` without declaring them: not namespace-well-formed, lxml
    and expat refuse it. Both are declared on the root here."""
    data = _sample(TAYNINH)
    text = re.search(rb"<edXML:ContentTransferEncoded[^>]*>([^<]*)<", data).group(1)
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(text)))
    inner = archive.read(archive.namelist()[0])
    assert b"xmlns:xlink" not in inner
    declared = f'<edXML xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:edXML="{EDXML_NS}" '
    return inner.replace(b"<edXML ", declared.encode(), 1)


def _reason(call) -> str:
    with pytest.raises(SignatureInvalid) as caught:
        call()
    assert caught.value.status == 422 and caught.value.as_dict()["details"]["reason"]
    return caught.value.reason


# --- signing and verifying --------------------------------------------------------------------
def test_a_signed_edoc_verifies_with_the_agency_code_of_its_certificate(pki):
    verified = verify(sign(_sample(TAYNINH), pki.signer), pki.trust)
    assert verified.agency_code == AGENCY
    assert verified.placement == "xmldsig"
    assert verified.algorithm.endswith("#rsa-sha256")
    assert verified.digest_algorithm.endswith("#sha256")
    assert "Development CA" in verified.issuer and f"UID={AGENCY}" in verified.subject
    assert verified.not_after == pki.signer.certificate.not_valid_after_utc


def test_the_signature_replaces_the_old_one_as_the_headers_last_child(pki):
    signed = sign(_sample(TAYNINH), pki.signer)
    header = etree.fromstring(signed).find(f".//{{{EDXML_NS}}}edXMLHeader")
    assert [e.tag for e in header][-2:] == [
        f"{{{EDXML_NS}}}TraceHeaderList",
        f"{{{DSIG_NS}}}Signature",
    ]
    assert header[-1].prefix is None and _signatures(signed) == 1
    resigned = sign(signed, pki.signer)
    assert _signatures(resigned) == 1 and verify(resigned, pki.trust)


def _signatures(document: bytes) -> int:
    root = etree.fromstring(document)
    return len(list(root.iter(f"{{{DSIG_NS}}}Signature", f"{{{EDXML_NS}}}Signature")))


def test_a_status_message_without_trace_headers_is_signed_too(pki):
    signed = sign(_sample("vxp-sdk-example/status.edxml"), pki.signer)
    assert verify(signed, pki.trust).agency_code == AGENCY


def test_sign_file_and_verify_file_work_in_place(pki, tmp_path):
    path = tmp_path / "doc.edxml"
    path.write_bytes(_sample(TAYNINH))
    sign_file(path, path, pki.signer)
    assert verify_file(path, pki.trust).agency_code == AGENCY
    assert [p.name for p in tmp_path.iterdir()] == ["doc.edxml"]


def test_tree_and_streaming_signatures_agree(pki):
    document = _sample(TAYNINH)
    streamed = sign(document, pki.signer)
    tree = etree.tostring(sign_tree(etree.fromstring(document), pki.signer))
    for field in (b"DigestValue", b"SignatureValue"):
        pattern = rb"<" + field + rb">([^<]+)<"
        assert re.findall(pattern, streamed) == re.findall(pattern, tree)
    assert verify(tree, pki.trust).agency_code == AGENCY


def test_signxml_accepts_what_the_hub_signed(pki, tmp_path):
    path = tmp_path / "doc.edxml"
    path.write_bytes(_sample("vxp-sdk-example/status_finish_06.edxml"))
    sign_file(path, path, pki.signer)
    result = XMLVerifier().verify(path.read_bytes(), ca_pem_file=str(pki.ca.cert_path))
    assert result.signed_xml is not None


@pytest.mark.parametrize(
    "c14n",
    [
        EXC_C14N,
        "http://www.w3.org/2006/12/xml-c14n11",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    ],
)
def test_verify_file_accepts_what_signxml_signed(pki, tmp_path, c14n):
    signer = XMLSigner(c14n_algorithm=c14n)  # its Signature: the root's last child, ds: prefix
    signed = signer.sign(
        etree.fromstring(_sample("vxp-sdk-example/status_inbox_01.edxml")),
        key=pki.signer.private_key,
        cert=[pki.signer.certificate],
    )
    path = tmp_path / "signxml.edxml"
    path.write_bytes(etree.tostring(signed))
    assert verify_file(path, pki.trust).agency_code == AGENCY


def _like_the_samples(document: bytes, key: SigningKey) -> bytes:
    """Sign as the producers of the samples do, independently of the hub's code: the
    document's own Signature (either namespace) filled in, its algorithms kept (RSA-SHA1,
    inclusive C14N of SignedInfo), the digest computed with lxml on the tree without it."""
    root = etree.fromstring(document)
    signature = next(root.iter(f"{{{EDXML_NS}}}Signature", f"{{{DSIG_NS}}}Signature"))
    ns = etree.QName(signature).namespace
    unsigned = copy.deepcopy(root)
    old = next(unsigned.iter(signature.tag))
    previous = old.getprevious()
    previous.tail = (previous.tail or "") + (old.tail or "")
    old.getparent().remove(old)
    transforms = [t.get("Algorithm") for t in signature.iter(f"{{{ns}}}Transform")]
    exclusive = len(transforms) > 1  # the enveloped transform alone: inclusive C14N
    c14n = etree.tostring(
        unsigned.getroottree(), method="c14n", exclusive=exclusive, with_comments=False
    )
    signature.find(f".//{{{ns}}}DigestValue").text = base64.b64encode(
        hashlib.sha1(c14n).digest()
    ).decode()
    signed_info = signature.find(f"{{{ns}}}SignedInfo")
    # As a standalone document carrying the namespaces in scope (lxml's own C14N of a
    # subelement adds a stray xmlns="" two levels down).
    standalone = etree.fromstring(etree.tostring(signed_info))
    canonical = etree.tostring(standalone, method="c14n", with_comments=False)
    value = key.private_key.sign(canonical, padding.PKCS1v15(), hashes.SHA1())
    signature.find(f"{{{ns}}}SignatureValue").text = base64.b64encode(value).decode()
    der = key.certificate.public_bytes(serialization.Encoding.DER)
    signature.find(f".//{{{ns}}}X509Certificate").text = base64.b64encode(der).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_the_samples_edxml_namespaced_signature_verifies_when_sha1_is_allowed(pki):
    signed = _like_the_samples(_sample(TAYNINH), pki.signer)
    assert b"<Signature>" in signed  # the edXML default namespace, as in the sample
    verified = verify(signed, pki.trust, allow_sha1=True)
    assert (verified.placement, verified.agency_code) == ("edxml", AGENCY)
    assert verified.algorithm == DSIG_NS + "rsa-sha1"
    assert _reason(lambda: verify(signed, pki.trust)) == "weak_algorithm"


def test_the_inner_samples_xmldsig_signature_with_inclusive_c14n_verifies(pki, inner_edxml):
    signed = _like_the_samples(inner_edxml, pki.signer)
    assert verify(signed, pki.trust, allow_sha1=True).placement == "xmldsig"
    tampered = signed.replace(b"<edXML:Subject>", b"<edXML:Subject>X", 1)
    assert _reason(lambda: verify(tampered, pki.trust, allow_sha1=True)) == "digest_mismatch"


def test_sha1_signatures_are_refused_unless_allowed_for_the_peer(pki):
    signed = sign(_sample(TAYNINH), pki.signer, hash_name="sha1")
    assert _reason(lambda: verify(signed, pki.trust)) == "weak_algorithm"
    assert verify(signed, pki.trust, allow_sha1=True).digest_algorithm == DSIG_NS + "sha1"


# --- refusals ---------------------------------------------------------------------------------
def test_one_changed_attachment_byte_is_a_digest_mismatch(pki):
    signed = sign(_sample(TAYNINH), pki.signer)
    at = signed.index(b"UEsDBBQAAAAIAEuSPE3") + 40
    tampered = signed[:at] + (b"B" if signed[at : at + 1] != b"B" else b"C") + signed[at + 1 :]
    assert _reason(lambda: verify(tampered, pki.trust)) == "digest_mismatch"


def test_a_changed_subject_is_a_digest_mismatch(pki):
    signed = sign(_sample(TAYNINH), pki.signer)
    tampered = signed.replace("Báo cáo tài chính tỉnh".encode(), "Báo cáo tài chính".encode(), 1)
    assert tampered != signed
    assert _reason(lambda: verify(tampered, pki.trust)) == "digest_mismatch"


def test_a_changed_signed_info_is_a_bad_signature_value(pki):
    """The attacker changes the subject and puts the new digest in SignedInfo."""
    document = _sample(TAYNINH).replace("Báo cáo tài chính tỉnh".encode(), b"Other", 1)
    honest, forged = sign(_sample(TAYNINH), pki.signer), sign(document, pki.signer)
    digest = re.search(rb"<DigestValue>[^<]+</DigestValue>", forged).group(0)
    tampered = re.sub(rb"<DigestValue>[^<]+</DigestValue>", digest, honest).replace(
        "Báo cáo tài chính tỉnh".encode(), b"Other", 1
    )
    assert _reason(lambda: verify(tampered, pki.trust)) == "bad_signature_value"


def test_a_signer_from_another_ca_is_unknown(pki):
    signed = sign(_sample(TAYNINH), pki.foreign)
    assert _reason(lambda: verify(signed, pki.trust)) == "unknown_signer"


def test_an_expired_certificate_is_refused(pki):
    signed = sign(_sample(TAYNINH), pki.expired)
    assert _reason(lambda: verify(signed, pki.trust)) == "expired_certificate"
    valid = sign(_sample(TAYNINH), pki.signer)
    later = pki.signer.certificate.not_valid_after_utc + timedelta(seconds=1)
    assert _reason(lambda: verify(valid, pki.trust, at=later)) == "expired_certificate"


def test_a_certificate_not_for_signing_is_refused(pki):
    signed = sign(_sample(TAYNINH), pki.no_signing)
    assert _reason(lambda: verify(signed, pki.trust)) == "certificate_not_for_signing"


def test_a_document_without_signature_is_unsigned(pki):
    with pytest.raises(Unsigned) as caught:
        verify(_sample("vxp-sdk-example/status.edxml"), pki.trust)
    assert caught.value.code == "unsigned" and caught.value.status == 422


def test_the_samples_dummy_signatures_are_refused_not_a_crash(pki, inner_edxml):
    signed = 0
    for document in [*map(_sample, _edxml_samples()), inner_edxml]:
        try:
            verify(document, pki.trust, allow_sha1=True)
        except Unsigned:
            continue
        except SignatureInvalid as exc:  # the truncated certificate "MIIFqTCCBJG"
            assert exc.reason in ("malformed_signature", "unknown_signer"), exc.message
            signed += 1
        else:
            raise AssertionError("a dummy signature verified")
    assert signed >= 6 or not _edxml_samples()


@pytest.mark.parametrize(
    "change",
    [
        (rb"</SignedInfo>", b"</SignedInfo><SignedInfo/>"),
        (rb'URI=""', b'URI="#body"'),
        (rb"<Transform Algorithm=\"[^\"]+enveloped-signature\"/>", b""),
        (
            rb"xml-exc-c14n#\"/></Transforms>",
            b'xml-exc-c14n#"/><Transform Algorithm="x"/></Transforms>',
        ),
        (rb"xmldsig-more#rsa-sha256", b"xmldsig#hmac-sha1"),
        (rb"<SignatureValue>", b"<SignatureValue>!"),
        (rb"<X509Certificate>", b"<X509Certificate>AAAA"),
    ],
    ids=[
        "two SignedInfo",
        "id reference",
        "not enveloped",
        "three transforms",
        "hmac",
        "value",
        "cert",
    ],
)
def test_a_malformed_signature_says_so(pki, change):
    pattern, replacement = change
    tampered = re.sub(pattern, replacement, sign(_sample(TAYNINH), pki.signer), count=1)
    assert _reason(lambda: verify(tampered, pki.trust)) == "malformed_signature"


def test_a_document_without_edxml_header_is_not_signed(pki):
    with pytest.raises(MalformedInput, match="edXMLHeader"):
        sign(b'<edXML xmlns="' + EDXML_NS.encode() + b'"><edXMLEnvelope/></edXML>', pki.signer)


def test_a_document_with_a_doctype_is_hostile(pki):
    document = b'<!DOCTYPE edXML [<!ENTITY a "b">]><edXML xmlns="' + EDXML_NS.encode() + b'"/>'
    with pytest.raises(HostileInput):
        verify(document, pki.trust)


def _ca_certificate(name: str, issuer=None, path_length: int | None = None):
    """A CA (key, certificate), self-signed or issued by ``issuer`` = (key, certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signing_key, issuer_name = (key, subject) if issuer is None else (issuer[0], issuer[1].subject)
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .sign(signing_key, hashes.SHA256())
    )
    return key, certificate


@pytest.mark.parametrize("root_path_length", [None, 0])
def test_a_signer_under_an_intermediate_ca_chains_through_the_certificates_it_carries(
    tmp_path, root_path_length
):
    """As VGCA issues: root → issuing CA → agency; the trust store holds the root only."""
    root = _ca_certificate("Root CA", path_length=root_path_length)
    issuing = _ca_certificate("Issuing CA", issuer=root, path_length=0)
    agency = issue_agency(DevCA(tmp_path, *issuing), AGENCY)
    leaf = SigningKey.load(agency.key_path, agency.cert_path)
    signed = sign(_sample(TAYNINH), SigningKey(leaf.private_key, leaf.certificate, (issuing[1],)))
    trust = TrustStore([root[1]])
    if root_path_length == 0:  # the root allows no CA under it
        assert _reason(lambda: verify(signed, trust)) == "unknown_signer"
        return
    assert verify(signed, trust).agency_code == AGENCY
    alone = sign(_sample(TAYNINH), leaf)  # without the issuing CA's certificate
    assert _reason(lambda: verify(alone, trust)) == "unknown_signer"


# --- keys, trust store, the dev CA ------------------------------------------------------------
def test_an_encrypted_key_loads_with_its_passphrase_only(pki, tmp_path):
    agency = pki.ca.agencies[AGENCY]
    key = serialization.load_pem_private_key(agency.key_path.read_bytes(), None)
    locked = tmp_path / "locked.key.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"mat khau"),
        )
    )
    assert SigningKey.load(locked, agency.cert_path, passphrase="mat khau").certificate
    with pytest.raises(ValueError):
        SigningKey.load(locked, agency.cert_path, passphrase="sai")
    with pytest.raises(ValueError, match="does not belong"):
        SigningKey.load(
            agency.key_path, pki.ca.agencies[AGENCY].cert_path.with_name("000.00.08.H49.cert.pem")
        )


def test_the_trust_store_refuses_a_private_key_and_a_leaf_certificate(pki, tmp_path):
    agency = pki.ca.agencies[AGENCY]
    (tmp_path / "key.pem").write_bytes(agency.key_path.read_bytes())
    with pytest.raises(ValueError, match="private key"):
        TrustStore.load(tmp_path)
    (tmp_path / "key.pem").unlink()
    (tmp_path / "leaf.crt").write_bytes(agency.cert_path.read_bytes())
    with pytest.raises(ValueError, match="not a CA"):
        TrustStore.load(tmp_path)


def test_make_dev_ca_is_idempotent_and_keeps_keys_private(tmp_path, capsys):
    codes = ["000.00.00.H49", "000.00.01.H49"]
    assert main(["--out", str(tmp_path), "--key-size", "2048", *codes]) == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.pem")}
    ca = make_dev_ca(tmp_path, codes, key_size=2048)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.pem")} == before
    assert sorted(p.name for p in ca.trust_dir.iterdir()) == ["dev-ca.pem"]
    for key in tmp_path.rglob("*.key.pem"):
        assert key.stat().st_mode & 0o777 == 0o600
    assert len(TrustStore.load(ca.trust_dir)) == 1 and "000.00.01.H49" in capsys.readouterr().out


# --- the streaming canonicaliser --------------------------------------------------------------
class _Trickle(io.BytesIO):
    """A reader that hands over a few bytes at a time: UTF-8 sequences split across reads."""

    def read(self, size=-1):
        return super().read(3)


def _lxml_c14n(document: bytes, exclusive: bool) -> bytes:
    parser = etree.XMLParser(huge_tree=True, resolve_entities=False)
    tree = etree.fromstring(document, parser).getroottree()
    return etree.tostring(tree, method="c14n", exclusive=exclusive, with_comments=False)


@pytest.mark.parametrize("exclusive", [True, False])
def test_streaming_c14n_is_byte_identical_to_lxml_on_every_sample(exclusive, inner_edxml):
    documents = [*map(_sample, _edxml_samples()), inner_edxml]
    for document in documents:
        assert canonicalize(io.BytesIO(document), exclusive=exclusive) == _lxml_c14n(
            document, exclusive
        )


def test_the_enveloped_digest_leaves_out_only_the_signature(inner_edxml):
    """As lxml sees the tree with the Signature removed and its following text kept."""
    root = etree.fromstring(inner_edxml)
    signature = next(root.iter(f"{{{DSIG_NS}}}Signature"))
    signature.getprevious().tail += signature.tail
    signature.getparent().remove(signature)
    want = etree.tostring(root.getroottree(), method="c14n", exclusive=True, with_comments=False)

    class WithoutSignature(Canonicaliser):
        def omit(self, element):
            return element.local == "Signature"

    parts: list[bytes] = []
    WithoutSignature(parts.append).run(_Trickle(inner_edxml))
    assert b"".join(parts) == want


TRICKY = [
    b'<a xmlns="urn:u"><b xmlns="urn:u"><c xmlns=""><d xmlns="urn:v"/></c></b></a>',
    b'<p:a xmlns:p="urn:u" xmlns:q="urn:v"><q:b p:x="1" q:y="2" z="3" '
    b'a="&amp;&lt;&gt;&quot;&#9;&#10;&#13;"/></p:a>',
    b"<a>text &amp; &lt; &gt; &#13; \r\n crlf\r\nx</a>",
    b"<?pi1 x?><!--c--><?pi2?><a><?in  side ?><!--c2--></a><!--c3--><?pi3 y?>",
    b'<a xmlns:x="urn:u"><x:b xmlns:x="urn:u"><x:c xmlns:x="urn:w"/></x:b></a>',
    b'<a xml:lang="vi"><b xml:space="preserve"/></a>',
    "<a attr='tiếng Việt'>Tiếng Việt có dấu ✓ 𝔘</a>".encode(),
    b"<a><![CDATA[<x> & ]]>]]&gt;</a>",
    b'<a  b = "1"   c="2" ></a  >',
    b'<e:a xmlns:e="urn:u" xmlns="urn:v"><b/><e:c x="1"/></e:a>',
    b'<a b="x\ty\nz\r\n"/>',
    b"\xef\xbb\xbf<a/>",
    b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>',
    '<?xml version="1.0" encoding="UTF-16"?><a>é</a>'.encode("utf-16"),
    b'<a xmlns="urn:u" xmlns:a="urn:u"><a:b/><b/></a>',
]


def _random_document(rng: random.Random) -> bytes:
    """Nested elements with prefixes declared, redeclared and undeclared at random depths,
    attributes in and out of namespaces, and text and values full of characters to escape."""
    uris, prefixes = ["urn:a", "urn:b", "http://x/y?q=1;z=%22"], ["", "p", "q"]
    chars = ["a", "é", " ", "&amp;", "&lt;", ">", '"', "'", "\t", "\n", "\r\n", "&#13;", "✓"]

    def text():
        return "".join(rng.choice(chars) for _ in range(rng.randint(0, 6))).replace('"', "&quot;")

    def element(depth, bound):
        declared = {}
        for prefix in rng.sample(prefixes, rng.randint(0, 2)):
            if prefix == "" and rng.random() < 0.2:
                declared[""] = ""
            else:
                declared[prefix] = rng.choice(uris)
        scope = {**bound, **declared}
        usable = [p for p in scope if p and scope[p]]
        prefix = rng.choice(usable + [""])
        name = f"{prefix}:e{depth}" if prefix else f"e{depth}"
        attrs = [f'{"xmlns:" + p if p else "xmlns"}="{u}"' for p, u in declared.items()]
        for i, p in enumerate(rng.sample(usable, min(len(usable), rng.randint(0, 2)))):
            attrs.append(f'{p}:a{i}="{text()}"')
        attrs += [f'b{i}="{text()}"' for i in range(rng.randint(0, 2))]
        rng.shuffle(attrs)
        inner = ""
        if depth < 4:
            for _ in range(rng.randint(0, 3)):
                kind = rng.random()
                inner += (
                    element(depth + 1, scope)
                    if kind < 0.5
                    else text().replace(">", "&gt;")
                    if kind < 0.8
                    else "<!-- x -->"
                    if kind < 0.9
                    else "<?pi d?>"
                )
        return f"<{name}{''.join(' ' + a for a in attrs)}>{inner}</{name}>"

    return element(0, {}).encode()


def test_a_namespace_uri_is_escaped_as_c14n_says_where_libxml2_does_not():
    document = b'<a xmlns="http://x/?q=1&amp;r=2"/>'
    assert canonicalize(io.BytesIO(document)) == b'<a xmlns="http://x/?q=1&amp;r=2"></a>'
    assert _lxml_c14n(document, True) == b'<a xmlns="http://x/?q=1&r=2"></a>'


@pytest.mark.parametrize("exclusive", [True, False])
def test_streaming_c14n_matches_lxml_on_tricky_documents(exclusive):
    rng = random.Random(102)
    documents = TRICKY + [_random_document(rng) for _ in range(300)]
    for document in documents:
        want = _lxml_c14n(document, exclusive)
        assert canonicalize(_Trickle(document), exclusive=exclusive) == want, document


# --- large documents --------------------------------------------------------------------------
MEASURE = """
import json, sys, time
from hub.edxml.signature import SigningKey, TrustStore, sign_file, verify_file

def rss(field):
    status = open("/proc/self/status").read()
    return int(status.split(field + ":")[1].split()[0])

key, trust = SigningKey.load(sys.argv[3], sys.argv[4]), TrustStore.load(sys.argv[5])
with open("/proc/self/clear_refs", "w") as fh:  # the peak (VmHWM) starts again from now
    fh.write("5")
base = rss("VmRSS")
started = time.perf_counter()
sign_file(sys.argv[1], sys.argv[2], key)
signed = time.perf_counter()
verified = verify_file(sys.argv[2], trust)
print(json.dumps({"agency": verified.agency_code, "sign": signed - started,
                  "verify": time.perf_counter() - signed, "peak_kib": rss("VmHWM") - base}))
"""


def _large_edoc(path: Path, megabytes: int) -> None:
    """The Tây Ninh sample with one base64 attachment of ``megabytes`` MB."""
    head, _, tail = _sample(TAYNINH).partition(b"UEsDBBQAAAAIAEuSPE3")
    tail = tail[tail.index(b"</edXML:ContentTransferEncoded>") :]
    block = base64.b64encode(random.Random(7).randbytes(3 * 1024 * 1024))
    with open(path, "wb") as out:
        out.write(head)
        for _ in range(megabytes * 1024 * 1024 // len(block)):
            out.write(block)
        out.write(tail)


def test_a_50_mb_edoc_is_signed_and_verified_at_flat_memory(pki, tmp_path):
    source, signed = tmp_path / "big.edxml", tmp_path / "big.signed.edxml"
    _large_edoc(source, 50)
    agency = pki.ca.agencies[AGENCY]
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            str(source),
            str(signed),
            str(agency.key_path),
            str(agency.cert_path),
            str(pki.ca.trust_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stderr
    measured = json.loads(run.stdout)
    assert measured["agency"] == AGENCY
    assert measured["peak_kib"] < 24 * 1024, measured  # a tree would take several times 50 MB
    with open(signed, "r+b") as fh:  # one attachment byte changed, far into the file
        fh.seek(30 * 1024 * 1024)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(b"A" if byte != b"A" else b"B")
    assert _reason(lambda: verify_file(signed, pki.trust)) == "digest_mismatch"
