"""A fee paid end to end, on both backends: a system initiates it through the served hub, the
citizen pays on the simulator's page, and the platform's callback reaches the hub's real HTTP
server and marks the ledger paid. Then reconciliation, with the clock moved by an explicit
``now``: callbacks the platform "forgot" are learnt by QUERY (paid, failed, still pending),
payments unknown for 3 days become unresolved, and a failing QUERY changes nothing. Last, the
``lgsp payments`` verbs, run as the real console script."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from hub.payments import reconcile
from hub.store.tables import messages, payment_callbacks, payment_transactions
from sandbox.payment import PaymentPlatform
from tests.api.test_payments import CMND, NAME, PARTNER, SECRET, TOKEN, init_body
from tests.cli.test_cli_errors import LGSP, assert_one_line_error
from tests.support.partners import allow, register_sender, register_service
from tests.support.running import RunningHub

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def platform(running: RunningHub) -> Any:
    with PaymentPlatform(
        secret=SECRET, token=TOKEN, callback_url=running.url + "/v1/payments/callback"
    ) as server:
        yield server


@pytest.fixture
def key(running: RunningHub, platform: PaymentPlatform, tmp_path: Path) -> str:
    """``motcua`` may initiate payments, served by the ``dvc-payment`` connector."""
    (tmp_path / "partner.secret").write_text(SECRET)
    (tmp_path / "bearer.token").write_text(TOKEN)
    admin = running.admin()
    key = register_sender(admin)
    register_service(admin, "payment.init", mode="sync", schema=None)
    config = {
        "url": platform.api_url,
        "MaDoiTac": PARTNER,
        "secret_file": str(tmp_path / "partner.secret"),
        "auth": {"type": "bearer", "token_file": str(tmp_path / "bearer.token")},
        "timeout_seconds": 2,
    }
    admin.json(
        "POST", "/v1/connectors", json={"name": "dvc-payment", "type": "payment", "config": config}
    )
    admin.json(
        "POST",
        "/v1/routes",
        json={"name": "payment", "connector": "dvc-payment", "service_code": "payment.init"},
    )
    allow(admin, "motcua", "payment.init")
    return key


def initiate(running: RunningHub, key: str, reference: str) -> dict[str, Any]:
    response = requests.post(
        running.url + "/v1/payments",
        json=init_body(reference),
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def ledger(running: RunningHub, reference: str) -> Any:
    with running.hub.engine.connect() as conn:
        query = select(payment_transactions).where(payment_transactions.c.reference == reference)
        return conn.execute(query).mappings().one()


def initiated_at(running: RunningHub, reference: str) -> Any:
    moment = ledger(running, reference)["initiated_at"]
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ── the flow ─────────────────────────────────────────────────────────────────────────────


def test_a_citizen_pays_on_the_platform_and_the_callback_marks_the_ledger_paid(
    running, platform, key
):
    url = initiate(running, key, "FLOW-1")["UrlThanhToan"]
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "FLOW-1" in page.text
    assert requests.post(url, data={"result": "paid"}, timeout=30).status_code == 200
    [sent] = platform.callbacks
    assert sent.status == 200 and json.loads(sent.answer)["message"] == "paid"
    row = ledger(running, "FLOW-1")
    assert (row["state"], row["transaction_id"]) == ("paid", sent.body["MaGiaoDich"])
    shown = requests.get(
        f"{running.url}/v1/payments/FLOW-1", headers={"Authorization": f"Bearer {key}"}, timeout=10
    ).json()
    assert shown["state"] == "paid" and shown["settled_at"]


def test_a_refusal_on_the_page_marks_it_failed_and_a_twelve_hour_callback_is_accepted(
    running, platform, key
):
    url = initiate(running, key, "FLOW-2")["UrlThanhToan"]
    requests.post(url, data={"result": "failed"}, timeout=30)
    assert ledger(running, "FLOW-2")["state"] == "failed"
    initiate(running, key, "FLOW-3")
    sent = platform.settle("FLOW-3", twelve_hour=True)
    assert sent is not None and sent.status == 200
    assert ledger(running, "FLOW-3")["state"] == "paid"
    with running.hub.engine.connect() as conn:
        warning = conn.execute(
            select(payment_callbacks.c.warning).where(payment_callbacks.c.reference == "FLOW-3")
        ).scalar_one()
    assert "12-hour" in warning


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_payment_service_marked_personal_data_stores_the_init_masked(running, platform, key):
    """The payer's name and ID number reach the platform, but the INIT as the hub keeps it (the
    message record) is masked when the service is registered with ``personal_data``; the
    caller then gives the grounds like any personal-data call."""
    running.admin().json(
        "PATCH", "/v1/services/payment.init", json={"personal_data": True}, params={"reason": "PDP"}
    )
    grounds = {"X-LGSP-Purpose": "Thu phi ho so", "X-LGSP-Officer": "cb-07"}
    response = requests.post(
        running.url + "/v1/payments",
        json=init_body("PDP-1"),
        headers={"Authorization": f"Bearer {key}", **grounds},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    with running.hub.engine.connect() as conn:
        stored = conn.execute(
            select(messages.c.payload).where(messages.c.id == response.json()["message_id"])
        ).scalar_one()
    assert CMND not in stored.decode() and NAME not in stored.decode()
    assert platform.transactions["PDP-1"].receipt["SoCMNDNguoiNop"] == CMND


# ── reconciliation ───────────────────────────────────────────────────────────────────────


def test_reconciliation_learns_what_forgotten_callbacks_said(running, platform, key):
    for reference in ("REC-PAID", "REC-FAILED", "REC-PENDING"):
        initiate(running, key, reference)
    platform.settle("REC-PAID", notify=False)
    platform.settle("REC-FAILED", paid=False, notify=False)
    start = initiated_at(running, "REC-PENDING")
    hub = running.hub

    assert reconcile(hub, now=start + timedelta(minutes=10)).checked == 0  # too early
    first = reconcile(hub, now=start + timedelta(minutes=31))
    assert (first.checked, first.paid, first.failed, first.pending) == (3, 1, 1, 1)
    assert ledger(running, "REC-PAID")["transaction_id"] == "GD000001"
    assert [ledger(running, r)["state"] for r in ("REC-PAID", "REC-FAILED", "REC-PENDING")] == [
        "paid",
        "failed",
        "pending",
    ]
    again = reconcile(hub, now=start + timedelta(hours=2))
    assert (again.checked, again.pending) == (1, 1)
    assert ledger(running, "REC-PENDING")["checks"] == 2


def test_three_days_unknown_is_unresolved_until_the_outcome_arrives(running, platform, key):
    initiate(running, key, "REC-OLD")
    start = initiated_at(running, "REC-OLD")
    report = reconcile(running.hub, now=start + timedelta(days=3, minutes=1))
    assert (report.unresolved, report.checked) == (1, 0)
    assert ledger(running, "REC-OLD")["state"] == "unresolved"
    assert reconcile(running.hub, now=start + timedelta(days=4)).as_dict() == {
        "checked": 0,
        "paid": 0,
        "failed": 0,
        "pending": 0,
        "unresolved": 0,
        "errors": 0,
    }
    platform.settle("REC-OLD")  # the callback comes at last
    assert ledger(running, "REC-OLD")["state"] == "paid"


def test_a_failing_query_changes_nothing_and_is_counted(running, platform, key):
    initiate(running, key, "REC-DOWN")
    start = initiated_at(running, "REC-DOWN")
    before = dict(ledger(running, "REC-DOWN"))
    platform.set_faults(fail_next=1, error_code="96")
    report = reconcile(running.hub, now=start + timedelta(minutes=31))
    assert (report.checked, report.errors) == (1, 1)
    platform.set_faults(outage=True)
    assert reconcile(running.hub, now=start + timedelta(minutes=32)).errors == 1
    assert dict(ledger(running, "REC-DOWN")) == before
    platform.clear_faults()
    assert reconcile(running.hub, now=start + timedelta(minutes=33)).pending == 1


# ── the CLI ──────────────────────────────────────────────────────────────────────────────


def lgsp(running: RunningHub, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script on this hub's store (``reconcile`` runs locally), nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    env.update(
        LGSP_DATA_DIR=str(tmp_path / "cli-data"),
        LGSP_DATABASE_URL=running.hub.settings.sqlalchemy_url,
        NO_COLOR="1",
    )
    return subprocess.run(
        [*LGSP, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("backend", ["sqlite"])  # the verbs; the store is tested above
def test_the_payments_verbs(running, platform, key, tmp_path):
    initiate(running, key, "CLI-1")
    platform.settle("CLI-1", notify=False)
    at = ["--url", running.url]
    shown = lgsp(running, tmp_path, "payments", "show", "CLI-1", *at, "--key", key, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["state"] == "initiated"
    start = initiated_at(running, "CLI-1")
    now = (start + timedelta(minutes=31)).isoformat()
    ran = lgsp(running, tmp_path, "payments", "reconcile", "--now", now, "--json")
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert (report["checked"], report["paid"], report["errors"]) == (1, 1, 0)
    table = lgsp(running, tmp_path, "payments", "list", *at, "--key", running.admin_key)
    assert table.returncode == 0 and "CLI-1" in table.stdout and "paid" in table.stdout
    listed = lgsp(
        running, tmp_path, "payments", "list", *at, "--key", running.admin_key, "--json",
        "--state", "paid",
    )  # fmt: skip
    assert [p["MaThamChieu"] for p in json.loads(listed.stdout)["items"]] == ["CLI-1"]
    people = lgsp(running, tmp_path, "payments", "reconcile")
    assert people.returncode == 0 and "checked 0" in people.stdout


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_payments_verbs_fail_in_one_line(running, key, tmp_path):
    at = ["--url", running.url]
    assert_one_line_error(
        lgsp(running, tmp_path, "payments", "show", "NO-SUCH", *at, "--key", key), "not_found"
    )
    assert_one_line_error(
        lgsp(running, tmp_path, "payments", "list", *at, "--key", key), "forbidden"
    )
    assert_one_line_error(
        lgsp(running, tmp_path, "payments", "reconcile", "--now", "tomorrow"), "--now"
    )
