"""The payment-platform simulator's own contract, over real loopback HTTP with checksums computed
here by hand: the token, each operation and its state, the payment page, the callback (24- and
12-hour, or "forgotten"), its error codes and faults."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from sandbox.payment import PaymentPlatform
from sandbox.rest_sink import RestSink

SECRET = "sandbox-secret"
TOKEN = "sandbox-token"
INIT = (
    "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan",
    "MaKenhThanhToan", "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich",
    "ThoiGianGD", "Ip",
)  # fmt: skip
QUERY = ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD")
CALLBACK = (
    "LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaGiaoDich",
    "MaNganHang", "ThoiGianGD", "ThongTinGiaoDich",
)  # fmt: skip


def signed(body: dict[str, Any], fields: tuple[str, ...], secret: str = SECRET) -> dict[str, Any]:
    joined = "|".join([*(str(body.get(f, "")) for f in fields), secret])
    return {**body, "MaXacThuc": hashlib.sha256(joined.encode()).hexdigest()}


def init(reference: str = "HS-1", amount: Any = 50000, **changes: Any) -> dict[str, Any]:
    body = {
        "LoaiBanTin": "INIT", "PhienBan": "1.0.6", "MaDoiTac": "LGSP_H49",
        "MaThamChieu": reference, "SoTien": amount, "LoaiHinhThanhToan": "",
        "MaKenhThanhToan": "", "MaThietBi": "", "NgonNgu": "vi", "MaTienTe": "VND",
        "MaNganHang": "", "ThongTinGiaoDich": "Lệ phí", "ThoiGianGD": "20261125090000",
        "Ip": "203.0.113.7",
        "ThongTinBienLai": {"MaTTHC": "1.000656", "MaDVC": "1.000656.01", "MaHoSo": "H49-1"},
    }  # fmt: skip
    return signed({**body, **changes}, INIT)


def query(reference: str = "HS-1", operation: str = "QUERY") -> dict[str, Any]:
    body = {
        "LoaiBanTin": operation,
        "PhienBan": "1.0.6",
        "MaDoiTac": "LGSP_H49",
        "MaThamChieu": reference,
        "ThoiGianGD": "20261125100000",
    }
    return signed(body, QUERY)


@pytest.fixture
def receiver() -> Iterator[RestSink]:
    """Stands in for the hub's callback endpoint."""
    with RestSink() as sink:
        yield sink


@pytest.fixture
def platform(receiver: RestSink) -> Iterator[PaymentPlatform]:
    with PaymentPlatform(
        secret=SECRET, token=TOKEN, callback_url=f"{receiver.url}/v1/payments/callback"
    ) as server:
        yield server


def call(platform: PaymentPlatform, body: Any, token: str = TOKEN) -> requests.Response:
    return requests.post(
        platform.api_url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )


def ok(platform: PaymentPlatform, body: dict[str, Any]) -> dict[str, Any]:
    answer = call(platform, body).json()
    assert answer["error_code"] == "0", answer
    assert isinstance(answer["message"], str)
    return json.loads(answer["message"])


def code(platform: PaymentPlatform, body: Any) -> str:
    response = call(platform, body)
    assert response.status_code == 200
    return response.json()["error_code"]


def test_a_missing_or_wrong_token_is_refused_401_and_not_recorded(platform):
    assert call(platform, init(), token="wrong").status_code == 401
    naked = requests.post(platform.api_url, json=init(), timeout=5)
    assert naked.status_code == 401 and "Bearer" in naked.headers["WWW-Authenticate"]
    assert platform.received == [] and platform.transactions == {}
    assert requests.head(platform.api_url, timeout=5).status_code == 401
    probe = requests.head(platform.api_url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert probe.status_code == 200


def test_init_stores_the_transaction_and_answers_the_url_inside_a_json_string(platform):
    answer = ok(platform, init())
    assert answer["UrlThanhToan"] == f"{platform.url}/pay/HS-1"
    tx = platform.transactions["HS-1"]
    assert (tx.state, tx.amount, tx.receipt["MaHoSo"]) == ("initiated", 50000, "H49-1")
    assert platform.received[0].operation == "INIT"


def test_the_checksums_are_verified_independently(platform):
    assert code(platform, {**init(), "SoTien": 50001}) == "01"
    assert code(platform, {**init(amount=1), "MaXacThuc": "0" * 64}) == "01"
    assert code(platform, signed(init(), INIT, secret="another")) == "01"
    ok(platform, init())
    assert code(platform, {**query(), "ThoiGianGD": "20261125100001"}) == "01"
    assert platform.transactions.keys() == {"HS-1"}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"MaDoiTac": "LGSP_H99"}, "02"),
        ({"PhienBan": "1.0.5"}, "03"),
        ({"SoTien": 0}, "03"),
        ({"MaTienTe": "USD"}, "03"),
        ({"ThoiGianGD": "2026-11-25 09:00"}, "03"),
        ({"ThongTinBienLai": {"MaTTHC": "1.000656", "MaDVC": "1.000656.02"}}, "03"),
        ({"LoaiBanTin": "REFUND"}, "03"),
    ],
)
def test_invalid_inits_are_refused_with_the_platforms_codes(platform, changes, expected):
    body = init(**changes)
    assert code(platform, body) == expected
    assert platform.transactions == {}


def test_a_repeated_init_is_idempotent_and_another_amount_is_refused(platform):
    first = ok(platform, init())
    assert ok(platform, init())["UrlThanhToan"] == first["UrlThanhToan"]
    assert (len(platform.received), len(platform.unique)) == (2, 1)
    assert code(platform, init(amount=60000)) == "04"


def test_query_follows_the_state_and_get_bill_needs_a_paid_transaction(platform):
    assert code(platform, query()) == "05"
    ok(platform, init())
    assert ok(platform, query())["TrangThaiGD"] == 3
    assert code(platform, query(operation="GET_BILL")) == "06"
    assert platform.settle("HS-1", notify=False) is None
    paid = ok(platform, query())
    assert (paid["TrangThaiGD"], paid["MaGiaoDich"]) == (1, "GD000001")
    bill = ok(platform, query(operation="GET_BILL"))
    assert bill["MaGiaoDich"] == "GD000001" and bill["ThongTinBienLai"]["MaDVC"] == "1.000656.01"
    ok(platform, init("HS-2"))
    platform.settle("HS-2", paid=False, notify=False)
    assert ok(platform, query("HS-2"))["TrangThaiGD"] == 4


def test_the_payment_page_settles_and_calls_back_with_a_valid_checksum(platform, receiver):
    url = ok(platform, init())["UrlThanhToan"]
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and "HS-1" in page.text and 'value="paid"' in page.text
    assert requests.post(url, data={"result": "paid"}, timeout=5).status_code == 200
    [delivered] = receiver.received
    body = delivered.json()
    assert delivered.path == "/v1/payments/callback"
    assert (body["MaLoi"], body["MaGiaoDich"], body["SoTien"]) == ("00", "GD000001", 50000)
    assert body["MaXacThuc"] == signed(body, CALLBACK)["MaXacThuc"]
    datetime.strptime(body["ThoiGianGD"], "%Y%m%d%H%M%S")
    assert platform.callbacks[0].status == 201
    assert requests.post(url, data={"result": "failed"}, timeout=5).status_code == 409


def test_a_failed_payment_calls_back_with_another_code(platform, receiver):
    ok(platform, init())
    sent = platform.settle("HS-1", paid=False)
    assert sent is not None and sent.body["MaLoi"] != "00"
    assert receiver.received[0].json()["MaLoi"] == sent.body["MaLoi"]


def test_a_twelve_hour_callback_is_signed_over_the_string_as_sent(platform, receiver):
    ok(platform, init())
    sent = platform.settle("HS-1", twelve_hour=True)
    stamp = sent.body["ThoiGianGD"]
    assert stamp[-3:] in (" AM", " PM") and len(stamp) == 17
    assert sent.body["MaXacThuc"] == signed(sent.body, CALLBACK)["MaXacThuc"]


def test_a_forgotten_callback_is_never_sent(platform, receiver):
    ok(platform, init())
    platform.settle("HS-1", notify=False)
    assert receiver.received == [] and platform.callbacks == []
    with pytest.raises(ValueError, match="already paid"):
        platform.settle("HS-1")


def test_an_unreachable_callback_url_is_remembered_as_such(platform, receiver):
    ok(platform, init())
    receiver.stop()
    assert platform.settle("HS-1").status is None


def test_the_error_code_fault_answers_in_the_platforms_envelope(platform):
    platform.set_faults(fail_next=1, error_code="96")
    answer = call(platform, init()).json()
    assert answer["error_code"] == "96" and answer["message"]
    assert platform.transactions == {}
    assert ok(platform, init())["UrlThanhToan"]


def test_it_serves_on_a_fixed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with PaymentPlatform(port=port, secret=SECRET, token=TOKEN) as fixed:
        assert fixed.url == f"http://127.0.0.1:{port}"
        assert ok(fixed, init())["UrlThanhToan"].startswith(fixed.url)
