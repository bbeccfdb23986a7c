"""The NDXP gateway simulator's own contract, spoken to with plain ``requests``: the token
endpoint, Bearer checks, the catalogue, the population service in both forms (its SOAP answers
validated against the sample XSDs), state and faults."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree

from sandbox.ndxp import NdxpGateway
from sandbox.population import DAN, DC, QLDC, SOAP, Citizen, Parent

SAMPLES = Path("/work/shared/domain/samples/population-db-mock")
KEY, SECRET = "lgsp-test", "gateway-secret-7f3a"
KNOWN_ID = "099085000001"


@pytest.fixture
def gateway() -> Iterator[NdxpGateway]:
    with NdxpGateway(consumer_key=KEY, consumer_secret=SECRET) as server:
        yield server


def token(gateway: NdxpGateway, key: str = KEY, secret: str = SECRET) -> requests.Response:
    return requests.post(
        f"{gateway.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(key, secret),
        timeout=5,
    )


def bearer(gateway: NdxpGateway) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(gateway).json()['access_token']}"}


def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SAMPLES / name)))


def soap(operation: str, namespace: str, **fields: str) -> bytes:
    items = "".join(f"<n:{k}>{v}</n:{k}>" for k, v in fields.items())
    return (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:n="{namespace}"><s:Body>'
        f"<n:{operation}Request>{items}</n:{operation}Request></s:Body></s:Envelope>"
    ).encode()


def verification(**overrides: str) -> bytes:
    fields = {
        "MaYeuCau": "req-1",
        "MaDVC": "1.000001",
        "MaTichHop": "TH",
        "MaDonVi": "000.00.00.H57",
        "MaCanBo": "cb-1",
        "SoDinhDanh": KNOWN_ID,
        "SoCMND": "",
        "HoVaTen": "Nguyễn Văn Thử",
        "NgayThangNamSinh": "19850312",
        **overrides,
    }
    return soap("XacMinhThongTinNhanThan", QLDC, **fields)


def body_of(answer: bytes) -> etree._Element:
    return etree.fromstring(answer).find(f"{{{SOAP}}}Body")[0]


# --- the token endpoint -------------------------------------------------------------------------
def test_token_is_issued_for_the_consumers_credentials_and_counted(gateway) -> None:
    answer = token(gateway)
    assert answer.status_code == 200
    data = answer.json()
    assert data["token_type"] == "Bearer" and data["expires_in"] == 3600 and data["access_token"]
    assert gateway.token_requests == 1 and gateway.received == []


@pytest.mark.parametrize(("key", "secret"), [(KEY, "wrong"), ("other", SECRET)])
def test_wrong_client_credentials_are_refused_as_invalid_client(gateway, key, secret) -> None:
    answer = token(gateway, key, secret)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert gateway.token_requests == 1


def test_another_grant_type_is_refused(gateway) -> None:
    answer = requests.post(
        f"{gateway.url}/token", data={"grant_type": "password"}, auth=(KEY, SECRET), timeout=5
    )
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"


# --- Bearer checks ------------------------------------------------------------------------------
def test_an_api_call_without_a_valid_token_is_refused_in_the_envelope(gateway) -> None:
    url = f"{gateway.url}/danhmuc/1.0/donvihanhchinh"
    for headers in ({}, {"Authorization": "Bearer forged"}):
        answer = requests.post(url, json={}, headers=headers, timeout=5)
        assert answer.status_code == 401
        assert answer.json()["code"] == 401 and answer.json()["response"] is None
    assert gateway.received == []


def test_tokens_expire_after_their_ttl_and_on_demand(gateway) -> None:
    url = f"{gateway.url}/danhmuc/1.0/donvihanhchinh"
    headers = bearer(gateway)
    assert requests.post(url, json={}, headers=headers, timeout=5).status_code == 200
    gateway.expire_tokens()
    assert requests.post(url, json={}, headers=headers, timeout=5).status_code == 401
    with NdxpGateway(consumer_key=KEY, consumer_secret=SECRET, token_ttl=0.2) as short:
        headers = bearer(short)
        time.sleep(0.25)
        url = f"{short.url}/danhmuc/1.0/donvihanhchinh"
        assert requests.post(url, json={}, headers=headers, timeout=5).status_code == 401


# --- the catalogue ------------------------------------------------------------------------------
def test_catalogue_answers_in_the_envelope_with_old_and_new_codes(gateway) -> None:
    answer = requests.post(
        f"{gateway.url}/danhmuc/1.0/donvihanhchinh",
        json={"Cap": "TINH", "TrangThai": "merged"},
        headers={**bearer(gateway), "X-Correlation-ID": "corr-9", "Idempotency-Key": "k1"},
        timeout=5,
    )
    envelope = answer.json()
    assert set(envelope) == {"code", "status", "correlationId", "response"}
    assert (envelope["code"], envelope["correlationId"]) == (200, "corr-9")
    units = {u["MaDonVi"]: u for u in envelope["response"]["DonViHanhChinh"]}
    assert units["44"]["MaKeThua"] == ["45"] and units["02"]["MaKeThua"] == ["08"]
    [rec] = gateway.received
    assert (rec.operation, rec.idempotency_key) == ("danhmuc/donvihanhchinh", "k1")


def test_catalogue_one_old_ward_maps_to_several_new_ones_and_ndop_serves_it_too(gateway) -> None:
    answer = requests.post(
        f"{gateway.url}/ndop-danhmuc/1.0/donvihanhchinh",
        json={"MaDonVi": "99902"},
        headers=bearer(gateway),
        timeout=5,
    )
    [unit] = answer.json()["response"]["DonViHanhChinh"]
    assert unit["TrangThai"] == "merged" and unit["MaKeThua"] == ["99911", "99912"]


@pytest.mark.parametrize(
    ("query", "code"), [({"MaDonVi": "77777"}, 404), ({"Cap": "THON"}, 400), ({"x": "1"}, 400)]
)
def test_catalogue_refuses_unknown_units_and_filters(gateway, query, code) -> None:
    answer = requests.post(
        f"{gateway.url}/danhmuc/1.0/donvihanhchinh", json=query, headers=bearer(gateway), timeout=5
    )
    assert (answer.status_code, answer.json()["code"]) == (code, code)


def test_an_unknown_context_or_version_is_404(gateway) -> None:
    for path in ("/nowhere/1.0/x", "/danhmuc/2.0/donvihanhchinh", "/csdldc/1.0/XoaCongDan"):
        answer = requests.post(gateway.url + path, json={}, headers=bearer(gateway), timeout=5)
        assert answer.json()["code"] == 404


# --- the population service, SOAP --------------------------------------------------------------
def test_soap_verification_answer_validates_against_both_xsds(gateway) -> None:
    answer = requests.post(
        f"{gateway.url}/csdldc/1.0/XacMinhThongTinNhanThan",
        data=verification(),
        headers={**bearer(gateway), "Content-Type": "text/xml"},
        timeout=5,
    )
    assert answer.status_code == 200
    response = body_of(answer.content)
    schema("XacMinhThongTinNhanThanResponse.xsd").assertValid(response)
    collection = response[0]
    schema("CongdanCollection.xsd").assertValid(collection)
    assert collection.get("SoCongDan") == "1"
    assert collection.findtext(f"{{{DC}}}CongDan/{{{DC}}}SoDinhDanh") == KNOWN_ID


def test_soap_existence_check_answers_tontai_and_validates(gateway) -> None:
    xsd = schema("XacThucThongTinCongDan.xsd")
    for number, expected in ((KNOWN_ID, "true"), ("099085000999", "false")):
        request = soap(
            "XacThucThongTinCongDan",
            DAN,
            MaYeuCau="r",
            MaDichVu="033",
            MaCanBo="cb",
            SoDinhDanh=number,
            SoCMND="",
            HoVaTen="Nguyễn Văn Thử",
        )
        xsd.assertValid(etree.fromstring(request).find(f"{{{SOAP}}}Body")[0])
        answer = requests.post(
            f"{gateway.url}/csdldc/1.0/XacThucThongTinCongDan",
            data=request,
            headers=bearer(gateway),
            timeout=5,
        )
        result = body_of(answer.content)
        xsd.assertValid(result)
        assert result.findtext(f"{{{DAN}}}TonTai") == expected


@pytest.mark.parametrize(
    "overrides",
    [{"SoDinhDanh": "099085000777"}, {"HoVaTen": "Người Khác"}, {"NgayThangNamSinh": "19850313"}],
)
def test_soap_verification_not_found_is_an_empty_collection(gateway, overrides) -> None:
    answer = requests.post(
        f"{gateway.url}/csdldc/1.0/XacMinhThongTinNhanThan",
        data=verification(**overrides),
        headers=bearer(gateway),
        timeout=5,
    )
    collection = body_of(answer.content)[0]
    assert collection.get("SoCongDan") == "0" and len(collection) == 0


@pytest.mark.parametrize(
    "request_body",
    [
        verification(MaCanBo=""),
        verification(NgayThangNamSinh="12/03/1985"),
        b"<not-xml",
        b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',
        soap("Unknown", QLDC, A="1"),
    ],
)
def test_soap_refusals_are_client_faults(gateway, request_body) -> None:
    answer = requests.post(
        f"{gateway.url}/csdldc/1.0/XacMinhThongTinNhanThan",
        data=request_body,
        headers=bearer(gateway),
        timeout=5,
    )
    assert answer.status_code == 500
    assert body_of(answer.content).findtext("faultcode") == "SOAP-ENV:Client"


def test_a_citizen_added_to_the_state_is_found(gateway) -> None:
    parent = Parent("099050000099", "Đỗ", "Văn", "Cha")
    gateway.add_citizen(Citizen("099301000042", "", "Đỗ", "Thị", "Mới", "20010101", parent, parent))
    answer = requests.post(
        f"{gateway.url}/csdldc/1.0/XacMinhThongTinNhanThan",
        data=verification(
            SoDinhDanh="099301000042", HoVaTen="đỗ  thị mới", NgayThangNamSinh="20010101"
        ),
        headers=bearer(gateway),
        timeout=5,
    )
    assert body_of(answer.content)[0].get("SoCongDan") == "1"


# --- the population service, JSON ---------------------------------------------------------------
def test_json_verification_answers_the_collection_as_an_xml_string(gateway) -> None:
    request = {
        "HoVaTen": "Nguyễn Văn Thử",
        "SoDinhDanh": KNOWN_ID,
        "SoCMND": "099000001",
        "NgayThangNam": "12/03",
        "Nam": "1985",
        "MaTichHop": "TH",
        "MaDVC": "1.000001",
        "MaCanBo": "cb-1",
        "MaYeuCau": "req-2",
    }
    url = f"{gateway.url}/csdldc-json/1.0/XacMinhThongTinNhanThan"
    answer = requests.post(url, json=request, headers=bearer(gateway), timeout=5).json()
    assert answer["error_code"] == 0 and isinstance(answer["message"], str)
    collection = etree.fromstring(answer["message"].encode())
    schema("CongdanCollection.xsd").assertValid(collection)
    refused = requests.post(
        url, json={**request, "LoaiTaiKhoan": 2}, headers=bearer(gateway), timeout=5
    ).json()
    assert refused["error_code"] == 400 and "MaSoThue" in refused["message"]
    [first, second] = gateway.received
    assert first.operation == "csdldc-json/XacMinhThongTinNhanThan"


# --- faults -------------------------------------------------------------------------------------
def test_partner_error_answers_the_envelope_with_the_code(gateway) -> None:
    gateway.set_faults(fail_next=2, error_code="503")
    answer = token(gateway)
    assert answer.status_code == 503 and answer.json()["code"] == 503
    gateway.set_faults(error_code="E_QUOTA")
    answer = requests.post(f"{gateway.url}/danhmuc/1.0/x", json={}, timeout=5)
    assert answer.status_code == 200 and answer.json()["code"] == "E_QUOTA"


def test_fail_status_and_outage(gateway) -> None:
    gateway.set_faults(fail_next=1, fail_status=502)
    answer = token(gateway)
    assert answer.status_code == 502 and answer.json()["code"] == 502
    gateway.set_faults(outage=True)
    with pytest.raises(requests.ConnectionError):
        token(gateway)
    gateway.clear_faults()
    assert token(gateway).status_code == 200


def test_latency_fault_delays_the_answer(gateway) -> None:
    gateway.set_faults(latency_ms=600)
    with pytest.raises(requests.Timeout):
        requests.post(f"{gateway.url}/token", timeout=0.2)


def test_the_gateway_runs_on_a_fixed_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with NdxpGateway(port=port, consumer_key=KEY, consumer_secret=SECRET) as fixed:
        assert fixed.url.endswith(f":{port}")
        assert token(fixed).status_code == 200
