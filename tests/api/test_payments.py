"""Payments through the served hub and the payment-platform simulator, on SQLite + embedded
broker and on PostgreSQL + RabbitMQ: initiating (a synchronous call, then the ledger), the
callback — verified by a checksum computed here by hand, idempotent under replays and
concurrent deliveries, refusing hostile input with a structured 4xx and no rows — and the read
side (the initiating system or an admin, a refresh by QUERY, the bill, the admin's list).

One hub per backend serves the whole module (each test uses its own references)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from hub.context import Hub
from hub.store.tables import denials, payment_callbacks, payment_transactions
from sandbox.payment import PaymentPlatform
from tests.api.test_bad_input import BILLION_LAUGHS, XXE, assert_error
from tests.conftest import BACKENDS, delete_queues, make_settings, open_hub
from tests.support.partners import allow, register_sender, register_service
from tests.support.running import RunningHub, start_hub

pytestmark = pytest.mark.timeout(120)

SECRET = "payment-secret-3b1d"
TOKEN = "payment-token-c9e0"
PARTNER = "LGSP_H49"
CMND = "001090000123"
NAME = "Nguyễn Thị Bình"
CALLBACK_FIELDS = (
    "LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaGiaoDich",
    "MaNganHang", "ThoiGianGD", "ThongTinGiaoDich",
)  # fmt: skip


def init_body(reference: str, amount: Any = 150000, **changes: Any) -> dict[str, Any]:
    receipt = {
        "MaTTHC": "1.000656",
        "MaDonVi": "000.00.00.H49",
        "MaHoSo": f"H49-{reference}",
        "HoTenNguoiNop": NAME,
        "SoCMNDNguoiNop": CMND,
        "PhiLePhi": [{"SoTien": amount}],
    }
    return {
        "MaThamChieu": reference,
        "SoTien": amount,
        "ThongTinGiaoDich": "Lệ phí hồ sơ",
        "Ip": "203.0.113.9",
        "ThongTinBienLai": receipt,
        **changes,
    }


def callback(
    reference: str,
    amount: Any = 150000,
    *,
    code: str = "00",
    gd: str = "GD-1",
    time: str = "20261125093000",
    secret: str = SECRET,
    **changes: Any,
) -> dict[str, Any]:
    """A callback as the platform signs it: SHA-256 of the |-joined fields and the secret."""
    body = {
        "LoaiBanTin": "PAYMENT_RESULT",
        "MaLoi": code,
        "MaDoiTac": PARTNER,
        "MaThamChieu": reference,
        "SoTien": amount,
        "MaTienTe": "VND",
        "MaGiaoDich": gd,
        "MaNganHang": "VCB",
        "ThoiGianGD": time,
        "ThongTinGiaoDich": "Lệ phí hồ sơ",
        **changes,
    }
    joined = "|".join([*(str(body[f]) for f in CALLBACK_FIELDS), secret])
    return {**body, "MaXacThuc": hashlib.sha256(joined.encode("utf-8")).hexdigest()}


@dataclass
class Env:
    running: RunningHub
    platform: PaymentPlatform
    key: str
    other_key: str

    @property
    def hub(self) -> Hub:
        return self.running.hub

    def init(self, reference: str, key: str | None = None, **changes: Any) -> requests.Response:
        return requests.post(
            self.running.url + "/v1/payments",
            json=init_body(reference, **changes),
            headers={"Authorization": f"Bearer {key or self.key}"},
            timeout=30,
        )

    def initiated(self, reference: str, **changes: Any) -> dict[str, Any]:
        response = self.init(reference, **changes)
        assert response.status_code == 201, response.text
        return response.json()

    def post(
        self, body: Any, content_type: str = "application/json", **kwargs: Any
    ) -> requests.Response:
        data = body if isinstance(body, bytes | Iterator) else json.dumps(body).encode()
        return requests.post(
            self.running.url + "/v1/payments/callback",
            data=data,
            headers={"Content-Type": content_type},
            timeout=30,
            **kwargs,
        )

    def get(self, path: str, key: str | None = None, **params: Any) -> requests.Response:
        return requests.get(
            self.running.url + path,
            params=params,
            headers={"Authorization": f"Bearer {key or self.key}"},
            timeout=30,
        )

    def payment(self, reference: str) -> Any:
        with self.hub.engine.connect() as conn:
            query = select(payment_transactions).where(
                payment_transactions.c.reference == reference
            )
            return conn.execute(query).mappings().one_or_none()

    def callbacks(self, reference: str | None = None) -> list[Any]:
        query = select(payment_callbacks).order_by(payment_callbacks.c.id)
        if reference is not None:
            query = query.where(payment_callbacks.c.reference == reference)
        with self.hub.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    def denied(self, reason: str) -> int:
        self.hub.denials.flush()
        with self.hub.engine.connect() as conn:
            total = select(func.coalesce(func.sum(denials.c.count), 0)).where(
                denials.c.reason == reason
            )
            return conn.execute(total).scalar_one()


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory) -> Iterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("payments")
    hub = open_hub(make_settings(request.param, tmp, request))
    running = start_hub(hub, worker=False)
    (tmp / "partner.secret").write_text(SECRET)
    (tmp / "bearer.token").write_text(TOKEN)
    platform = PaymentPlatform(
        secret=SECRET, token=TOKEN, callback_url=running.url + "/v1/payments/callback"
    ).start()
    try:
        admin = running.admin()
        key = register_sender(admin)
        other_key = register_sender(admin, "motcua-khac")
        register_service(admin, "payment.init", mode="sync", schema=None)
        config = {
            "url": platform.api_url,
            "MaDoiTac": PARTNER,
            "secret_file": str(tmp / "partner.secret"),
            "auth": {"type": "bearer", "token_file": str(tmp / "bearer.token")},
            "timeout_seconds": 2,
        }
        admin.json(
            "POST",
            "/v1/connectors",
            json={"name": "dvc-payment", "type": "payment", "config": config},
        )
        admin.json(
            "POST",
            "/v1/routes",
            json={"name": "payment", "connector": "dvc-payment", "service_code": "payment.init"},
        )
        allow(admin, "motcua", "payment.init")
        allow(admin, "motcua-khac", "payment.init")
        yield Env(running, platform, key, other_key)
    finally:
        platform.stop()
        running.stop()
        delete_queues(hub)
        hub.close()


# ── initiating ───────────────────────────────────────────────────────────────────────────


def test_init_is_a_traced_call_and_a_ledger_row_without_personal_data(env):
    answer = env.initiated("INIT-1")
    assert answer["MaThamChieu"] == "INIT-1"
    assert answer["UrlThanhToan"] == f"{env.platform.url}/pay/INIT-1"
    row = env.payment("INIT-1")
    assert (row["state"], row["amount"], row["dossier"]) == ("initiated", 150000, "H49-INIT-1")
    assert (row["connector"], row["system_code"], row["partner"]) == (
        "dvc-payment",
        "motcua",
        PARTNER,
    )
    assert row["message_id"] == answer["message_id"]
    assert NAME not in str(dict(row)) and CMND not in str(dict(row))
    trace = env.get(f"/v1/messages/{answer['message_id']}").json()
    assert trace["service_code"] == "payment.init" and trace["status"] == "delivered"


def test_a_second_init_of_a_reference_is_409_and_never_reaches_the_platform(env):
    env.initiated("INIT-2")
    sent = len(env.platform.received)
    assert_error(env.init("INIT-2"), 409, "conflict")
    assert len(env.platform.received) == sent


def test_concurrent_inits_of_one_reference_record_one_transaction(env):
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(env.init("INIT-RACE").status_code))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers)[0] == 201 and set(answers) <= {201, 409}
    assert answers.count(201) == 1


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"SoTien": "15.5"}, "/SoTien"),
        ({"MaThamChieu": ""}, "/MaThamChieu"),
        ({"LoaiBanTin": "QUERY"}, "/LoaiBanTin"),
    ],
)
def test_an_invalid_init_is_422_naming_the_field_and_sends_nothing(env, changes, path):
    sent = len(env.platform.received)
    body = assert_error(env.init("INIT-BAD", **changes), 422, "schema_violation")
    assert [e["path"] for e in body["details"]["errors"]] == [path]
    assert len(env.platform.received) == sent and env.payment("INIT-BAD") is None


def test_a_madvc_contradicting_matthc_is_our_failure_and_no_transaction(env):
    receipt = {"MaTTHC": "1.000656", "MaDVC": "2.000001.01", "MaHoSo": "H49-X"}
    body = assert_error(env.init("INIT-DVC", ThongTinBienLai=receipt), 422, "local_failure")
    assert "MaDVC" in body["message"] and env.payment("INIT-DVC") is None


def test_a_system_without_the_access_rule_is_refused_403(env):
    key = register_sender(env.running.admin(), "no-rule")
    assert_error(env.init("INIT-403", key=key), 403, "forbidden")
    assert env.payment("INIT-403") is None


# ── the callback ─────────────────────────────────────────────────────────────────────────


def test_a_valid_callback_marks_the_transaction_paid(env):
    env.initiated("CB-PAID")
    response = env.post(callback("CB-PAID", gd="GD-PAID"))
    assert response.status_code == 200, response.text
    assert response.json() == {"error_code": "0", "message": "paid", "MaThamChieu": "CB-PAID"}
    row = env.payment("CB-PAID")
    assert (row["state"], row["transaction_id"], row["result_code"]) == ("paid", "GD-PAID", "00")
    [recorded] = env.callbacks("CB-PAID")
    assert (recorded["outcome"], recorded["connector"], recorded["warning"]) == (
        "paid",
        "dvc-payment",
        None,
    )
    shown = env.get("/v1/payments/CB-PAID").json()
    assert (shown["state"], shown["MaGiaoDich"]) == ("paid", "GD-PAID")


def test_a_wrong_checksum_is_401_a_denial_and_changes_nothing(env):
    env.initiated("CB-FORGED")
    before = env.denied("payment callback: wrong MaXacThuc")
    assert_error(env.post(callback("CB-FORGED", secret="guessed")), 401, "unauthenticated")
    tampered = {**callback("CB-FORGED"), "SoTien": 1}
    assert_error(env.post(tampered), 401, "unauthenticated")
    assert env.denied("payment callback: wrong MaXacThuc") == before + 2
    assert env.payment("CB-FORGED")["state"] == "initiated" and env.callbacks("CB-FORGED") == []


def test_an_unknown_partner_is_401_and_a_denial(env):
    before = env.denied("payment callback: unknown MaDoiTac")
    assert_error(env.post(callback("CB-WHO", MaDoiTac="LGSP_H99")), 401, "unauthenticated")
    assert env.denied("payment callback: unknown MaDoiTac") == before + 1
    assert env.callbacks("CB-WHO") == []


def test_a_replayed_callback_is_answered_the_same_with_no_second_effect(env):
    env.initiated("CB-REPLAY")
    first = env.post(callback("CB-REPLAY", gd="GD-R"))
    again = env.post(callback("CB-REPLAY", gd="GD-R"))
    assert (first.status_code, first.json()) == (again.status_code, again.json())
    assert len(env.callbacks("CB-REPLAY")) == 1


def test_concurrent_deliveries_of_one_callback_record_it_once(env):
    env.initiated("CB-RACE")
    body = callback("CB-RACE", gd="GD-RACE")
    answers: list[tuple[int, Any]] = []
    barrier = threading.Barrier(6)

    def deliver() -> None:
        barrier.wait(10)
        response = env.post(body)
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 6 and {json.dumps(a, sort_keys=True) for a in answers} == {
        json.dumps(
            (200, {"error_code": "0", "message": "paid", "MaThamChieu": "CB-RACE"}), sort_keys=True
        )
    }
    assert len(env.callbacks("CB-RACE")) == 1 and env.payment("CB-RACE")["state"] == "paid"


def test_a_callback_for_an_unknown_transaction_is_kept_and_answered_404(env):
    for _ in range(2):  # the replay gets the same answer
        assert_error(env.post(callback("CB-NOBODY")), 404, "unknown_transaction")
    [kept] = env.callbacks("CB-NOBODY")
    assert (kept["payment_id"], kept["outcome"], kept["status"]) == (
        None,
        "unknown_transaction",
        404,
    )


def test_an_amount_mismatch_is_refused_409_and_recorded(env):
    env.initiated("CB-AMOUNT")
    assert_error(env.post(callback("CB-AMOUNT", amount=1000)), 409, "amount_mismatch")
    [kept] = env.callbacks("CB-AMOUNT")
    assert (kept["outcome"], kept["amount"]) == ("amount_mismatch", 1000)
    assert env.payment("CB-AMOUNT")["state"] == "initiated"


def test_a_twelve_hour_thoigiangd_is_accepted_with_a_warning_stored_and_logged(env, caplog):
    env.initiated("CB-12H")
    with caplog.at_level(logging.WARNING, logger="hub.payments.callbacks"):
        response = env.post(callback("CB-12H", time="20261125033000 PM"))
    assert response.status_code == 200, response.text
    [kept] = env.callbacks("CB-12H")
    assert "12-hour" in kept["warning"] and kept["paid_time"] == "20261125033000 PM"
    assert any("12-hour" in r.getMessage() for r in caplog.records)
    assert env.get("/v1/payments/CB-12H").json()["settled_at"].startswith("2026-11-25T08:30:00")


def test_a_failure_then_a_success_ends_paid_and_contradictions_are_kept(env):
    env.initiated("CB-LATE")
    assert env.post(callback("CB-LATE", code="99", gd="GD-A")).json()["message"] == "failed"
    assert env.post(callback("CB-LATE", gd="GD-B")).json()["message"] == "paid"
    assert env.post(callback("CB-LATE", code="99", gd="GD-C")).json()["message"] == "stale"
    assert_error(env.post(callback("CB-LATE", gd="GD-D")), 409, "conflict")
    row = env.payment("CB-LATE")
    assert (row["state"], row["transaction_id"]) == ("paid", "GD-B")
    assert [c["outcome"] for c in env.callbacks("CB-LATE")] == [
        "failed",
        "paid",
        "stale",
        "conflict",
    ]


# ── hostile and bad callbacks: a structured 4xx, never a 500, and no rows ────────────────


def _no_rows_after(env: Env, response: requests.Response, status: int, code: str) -> dict:
    before = len(env.callbacks())
    body = assert_error(response, status, code)
    assert len(env.callbacks()) == before
    return body


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"MaLoi": "00",', "application/json", 400, "malformed_input"),
        (b'{"MaLoi": "00", "MaLoi": "99"}', "application/json", 400, "malformed_input"),
        (b"[" * 50_000, "application/json", 400, "malformed_input"),
        (XXE, "application/xml", 415, "unsupported_media_type"),
        (XXE, "application/json", 400, "malformed_input"),
        (BILLION_LAUGHS, "application/json", 400, "malformed_input"),
        (b"MaLoi=00", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'"a string"', "application/json", 422, "schema_violation"),
    ],
    ids=["truncated", "duplicate-key", "deeply-nested", "xxe-as-xml", "xxe-as-json",
         "billion-laughs", "form", "not-an-object"],
)  # fmt: skip
def test_bad_callback_bodies_are_structured_4xx(env, body, content_type, status, code):
    _no_rows_after(env, env.post(body, content_type), status, code)


def test_missing_and_mistyped_fields_are_422_naming_them(env):
    body = {k: v for k, v in callback("CB-FIELDS").items() if k not in ("MaXacThuc", "MaLoi")}
    answer = _no_rows_after(
        env, env.post({**body, "SoTien": "12a", "MaGiaoDich": 7}), 422, "schema_violation"
    )
    paths = {e["path"] for e in answer["details"]["errors"]}
    assert paths == {"/MaXacThuc", "/MaLoi", "/SoTien", "/MaGiaoDich"}


def test_an_oversized_callback_is_413_declared_or_streamed(env):
    big = json.dumps({**callback("CB-BIG"), "ThongTinGiaoDich": "x" * 70_000}).encode()
    _no_rows_after(env, env.post(big), 413, "payload_too_large")
    streamed = env.post(iter([big[i : i + 8192] for i in range(0, len(big), 8192)]))
    _no_rows_after(env, streamed, 413, "payload_too_large")


# ── reading ──────────────────────────────────────────────────────────────────────────────


def test_a_payment_is_shown_to_its_system_and_admins_only(env):
    env.initiated("READ-1")
    assert env.get("/v1/payments/READ-1").json()["state"] == "initiated"
    assert env.get("/v1/payments/READ-1", key=env.running.admin_key).status_code == 200
    assert_error(env.get("/v1/payments/READ-1", key=env.other_key), 404, "not_found")
    assert_error(env.get("/v1/payments/NO-SUCH"), 404, "not_found")


def test_refresh_queries_the_platform_and_the_bill_follows_the_payment(env):
    env.initiated("READ-2")
    assert env.get("/v1/payments/READ-2", refresh="true").json()["state"] == "pending"
    assert_error(env.get("/v1/payments/READ-2/bill"), 502, "upstream_failed")
    env.platform.settle("READ-2", notify=False)
    shown = env.get("/v1/payments/READ-2", refresh="true").json()
    assert (shown["state"], shown["checks"]) == ("paid", 2)
    bill = env.get("/v1/payments/READ-2/bill").json()
    assert (
        bill["MaGiaoDich"] == shown["MaGiaoDich"]
        and bill["ThongTinBienLai"]["MaHoSo"] == "H49-READ-2"
    )
    assert_error(env.get("/v1/payments/READ-2/bill", key=env.other_key), 404, "not_found")


def test_admins_list_the_ledger_by_state_and_others_may_not(env):
    env.initiated("LIST-1")
    env.initiated("LIST-2")
    env.post(callback("LIST-2", gd="GD-L2"))
    admin = env.running.admin_key
    paid = env.get("/v1/payments", key=admin, state="paid", limit=500).json()["items"]
    assert "LIST-2" in {p["MaThamChieu"] for p in paid} and all(p["state"] == "paid" for p in paid)
    page = env.get("/v1/payments", key=admin, limit=1).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    following = env.get("/v1/payments", key=admin, limit=1, cursor=page["next_cursor"]).json()
    assert following["items"][0]["id"] < page["items"][0]["id"]
    assert_error(env.get("/v1/payments"), 403, "forbidden")
    assert_error(env.get("/v1/payments", key=admin, state="lost"), 422, "invalid_request")
