"""The development CA: what it writes is what the hub trusts and signs with, it is reused rather
than remade, and it is reachable three ways — the module, ``lgsp certs dev-ca`` (an installed
command: no checkout needed) and the ``certs/make_dev_ca.py`` script — each refusing bad input
in one line, with nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import certs.make_dev_ca
from hub.edxml import devca
from hub.edxml.devca import issue_agency, make_dev_ca
from hub.edxml.signature import sign, verify
from hub.edxml.trust import SigningKey, TrustStore
from tests.edxml.samples import edoc_xml

ROOT = Path(__file__).resolve().parents[2]
PROVINCE, COMMUNE = "000.00.00.H49", "000.00.20.H49"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def _pems(directory: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in directory.rglob("*.pem")}


def _signs_and_verifies(trust_dir: Path, keys_dir: Path, code: str) -> None:
    """The agency's key signs an edoc that the trust store verifies as that agency's."""
    signed = sign(edoc_xml(), SigningKey.for_agency(keys_dir, code))
    assert verify(signed, TrustStore.load(trust_dir)).agency_code == code


# --- the module -------------------------------------------------------------------------------
def test_what_it_writes_is_a_trust_store_and_keys_the_hub_signs_with(tmp_path):
    ca = make_dev_ca(tmp_path, [PROVINCE, COMMUNE], key_size=2048)
    assert sorted(p.name for p in ca.trust_dir.iterdir()) == ["dev-ca.pem"]  # no key in it
    assert len(TrustStore.load(ca.trust_dir)) == 1
    for code in (PROVINCE, COMMUNE):
        _signs_and_verifies(ca.trust_dir, ca.keys_dir, code)
    keys = list(tmp_path.rglob("*.key.pem"))
    assert len(keys) == 3 and all(k.stat().st_mode & 0o777 == 0o600 for k in keys)


def test_a_certificate_near_its_end_or_from_another_ca_is_reissued_a_good_one_kept(tmp_path):
    ca = make_dev_ca(tmp_path / "dev", [PROVINCE], key_size=2048)
    issue_agency(ca, COMMUNE, days=20)  # under the 30 days left that make it worth keeping
    foreign = make_dev_ca(tmp_path / "foreign", ["000.00.21.H49"], key_size=2048)
    stranger = foreign.agencies["000.00.21.H49"]
    for path in (stranger.key_path, stranger.cert_path):
        (ca.keys_dir / path.name).write_bytes(path.read_bytes())
    before = _pems(ca.keys_dir)
    again = make_dev_ca(tmp_path / "dev", [PROVINCE, COMMUNE, "000.00.21.H49"], key_size=2048)
    after = _pems(ca.keys_dir)
    assert after[ca.agencies[PROVINCE].cert_path] == before[ca.agencies[PROVINCE].cert_path]
    for code in (COMMUNE, "000.00.21.H49"):
        cert_path = again.agencies[code].cert_path
        assert after[cert_path] != before[cert_path]
        _signs_and_verifies(again.trust_dir, again.keys_dir, code)


@pytest.mark.parametrize("code", ["../escape", ".hidden", "a/b", ""])
def test_a_bad_agency_code_leaves_nothing_written(tmp_path, code):
    with pytest.raises(ValueError, match="not an agency code"):
        make_dev_ca(tmp_path / "ca", [PROVINCE, code], key_size=2048)
    assert not (tmp_path / "ca").exists()


def test_a_ca_key_that_cannot_be_read_is_named(tmp_path):
    ca = make_dev_ca(tmp_path, [], key_size=2048)
    key_path = tmp_path / "ca" / "dev-ca.key.pem"
    key_path.write_bytes(
        ca.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ValueError, match="cannot load the CA key") as caught:
        make_dev_ca(tmp_path, [PROVINCE])
    assert str(key_path) in str(caught.value)


# --- lgsp certs dev-ca ------------------------------------------------------------------------
def test_lgsp_certs_dev_ca_makes_keys_anywhere_and_reuses_them(tmp_path):
    out = tmp_path / "pki"
    done = _run(
        "-m",
        "hub.cli",
        "certs",
        "dev-ca",
        "--out",
        str(out),
        "--key-size",
        "2048",
        PROVINCE,
        COMMUNE,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    trust, keys = out / "trust", out / "agencies"
    assert done.stdout.splitlines() == [
        f"trust store: {trust}",
        f"{PROVINCE}: {keys / PROVINCE}.key.pem {keys / PROVINCE}.cert.pem",
        f"{COMMUNE}: {keys / COMMUNE}.key.pem {keys / COMMUNE}.cert.pem",
        f"export LGSP_EDOC_TRUST_DIR={trust} LGSP_EDOC_KEYS_DIR={keys}",
    ]
    _signs_and_verifies(trust, keys, COMMUNE)
    before = _pems(out)
    again = _run(
        "-m", "hub.cli", "certs", "dev-ca", "--out", str(out), "--json", PROVINCE, cwd=ROOT
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "trust_dir": str(trust),
        "keys_dir": str(keys),
        "agencies": {
            PROVINCE: {
                "key": f"{keys / PROVINCE}.key.pem",
                "certificate": f"{keys / PROVINCE}.cert.pem",
            }
        },
    }
    assert _pems(out) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["../escape"], "error: not an agency code: '../escape'"),
        (["--key-size", "512", PROVINCE], "error: key_size must be at least 1024-bits."),
    ],
)
def test_lgsp_certs_dev_ca_refuses_bad_input_in_one_line(tmp_path, args, message):
    out = tmp_path / "pki"
    done = _run("-m", "hub.cli", "certs", "dev-ca", "--out", str(out), *args, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [message] and done.stdout == ""
    assert not out.exists()


def test_lgsp_certs_dev_ca_names_an_out_that_is_a_file(tmp_path):
    out = tmp_path / "pki"
    out.write_text("not a directory")
    done = _run("-m", "hub.cli", "certs", "dev-ca", "--out", str(out), PROVINCE, cwd=tmp_path)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ") and "Not a directory" in line and str(out) in line


# --- certs/make_dev_ca.py ---------------------------------------------------------------------
def test_the_script_runs_from_anywhere_on_the_hubs_module(tmp_path):
    assert certs.make_dev_ca.make_dev_ca is devca.make_dev_ca  # a thin script, not a copy
    script = str(ROOT / "certs" / "make_dev_ca.py")
    done = _run(
        script, "--out", str(tmp_path / "pki"), "--key-size", "2048", PROVINCE, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"trust store: {tmp_path / 'pki' / 'trust'}"
    _signs_and_verifies(tmp_path / "pki" / "trust", tmp_path / "pki" / "agencies", PROVINCE)
    bad = _run(script, "--out", str(tmp_path / "bad"), "a/b", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.splitlines() == ["error: not an agency code: 'a/b'"]
    assert not (tmp_path / "bad").exists()
