"""A service marked ``personal_data``: a lookup needs its purpose and officer, is written to the
personal-data access log, and its request is stored masked — whatever partner answers it (here
the sandbox SOAP citizen registry; the population database has its own test)."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest
from sqlalchemy import select

from hub.client import ClientError
from hub.store.tables import messages
from sandbox.soap_service import SoapService
from tests.cli.test_cli_errors import assert_one_line_error, lgsp
from tests.support.partners import allow, register_citizen_registry, register_sender

pytestmark = pytest.mark.timeout(120)

CITIZEN_ID = "001090000001"
LOOKUP = {"IdNumber": CITIZEN_ID, "Purpose": "Xác minh chủ hồ sơ", "OfficerId": "cb-42"}
PURPOSE = "Giải quyết hồ sơ 000.00.00.H49-261127-0001"
GROUNDS = {"X-LGSP-Purpose": quote(PURPOSE), "X-LGSP-Officer": "cb-42"}


@pytest.fixture
def soap():
    with SoapService() as server:
        yield server


@pytest.fixture
def caller(running, soap):
    admin = running.admin()
    key = register_sender(admin)
    admin.json(
        "POST",
        "/v1/services",
        json={
            "code": "citizen.lookup",
            "name": "Citizen lookup",
            "mode": "sync",
            "request_schema": "citizen-lookup.v1.json",
            "personal_data": True,
        },
    )
    register_citizen_registry(admin, soap.wsdl_url)
    allow(admin, "motcua", "citizen.lookup")
    return running.client(key)


def lookup(caller, headers=GROUNDS):
    return caller.call("citizen.lookup", json.dumps(LOOKUP).encode(), "application/json", headers)


def test_a_lookup_without_purpose_or_officer_is_refused_and_recorded_as_a_denial(
    running, caller, soap
):
    cases = [
        ({}, ["X-LGSP-Purpose", "X-LGSP-Officer"]),
        ({"X-LGSP-Purpose": quote("Xác minh")}, ["X-LGSP-Officer"]),
        ({"X-LGSP-Purpose": "", "X-LGSP-Officer": "cb-42"}, ["X-LGSP-Purpose"]),
    ]
    for headers, missing in cases:
        with pytest.raises(ClientError) as refused:
            lookup(caller, headers)
        assert (refused.value.status, refused.value.code) == (422, "grounds_required")
        assert refused.value.details["missing"] == missing
    assert soap.received == []
    running.hub.denials.flush()
    denials = running.admin().json("GET", "/v1/denials", params={"service": "citizen.lookup"})
    assert [(d["reason"], d["count"]) for d in denials["items"]] == [
        ("no purpose or officer given", 3)
    ]
    log = running.admin().json("GET", "/v1/personal-data-access")
    assert log["items"] == []


def test_a_lookup_is_answered_logged_and_stored_masked(running, caller, caplog):
    caplog.set_level(logging.DEBUG)
    answer = lookup(caller)
    assert answer.json()["Found"] is True  # the caller gets the data
    message_id = answer.headers["X-LGSP-Message-Id"]
    (entry,) = running.admin().json("GET", "/v1/personal-data-access")["items"]
    assert entry["message_id"] == message_id
    assert (entry["system_code"], entry["officer"], entry["purpose"]) == (
        "motcua",
        "cb-42",
        PURPOSE,
    )
    assert (entry["subject"], entry["result"]) == ("*********001", "answered")
    with running.hub.reader.connect() as conn:
        stored = conn.execute(select(messages).where(messages.c.id == message_id)).one()
    kept = running.hub.payload(stored._mapping).read()
    assert CITIZEN_ID not in kept.decode() and json.loads(kept)["IdNumber"] == "*********001"
    assert CITIZEN_ID not in caplog.text


def test_a_failed_lookup_is_logged_as_failed(running, caller, soap):
    soap.set_faults(fail_next=1, fail_status=500)
    with pytest.raises(ClientError) as failed:
        lookup(caller)
    (entry,) = running.admin().json("GET", "/v1/personal-data-access")["items"]
    assert entry["result"] == "failed"
    assert entry["message_id"] == failed.value.details["message_id"]


def test_the_cli_calls_with_grounds_and_lists_the_log(running, caller, tmp_path):
    request = tmp_path / "lookup.json"
    request.write_text(json.dumps(LOOKUP))
    key = caller.key
    where = ["--url", running.url, "--key", key]
    refused = lgsp(tmp_path, "call", "citizen.lookup", str(request), *where)
    assert_one_line_error(refused, "grounds_required")
    done = lgsp(
        tmp_path,
        "call",
        "citizen.lookup",
        str(request),
        "--purpose",
        "Xác minh hồ sơ",
        "--officer",
        "cb-42",
        *where,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Found"] is True and done.stderr.startswith("message ")
    admin = ["--url", running.url, "--key", running.admin_key]
    shown = lgsp(tmp_path, "personal-data-log", *admin)
    assert (
        shown.returncode == 0 and "*********001" in shown.stdout and CITIZEN_ID not in shown.stdout
    )


def test_only_a_synchronous_service_can_be_marked_personal_data(running):
    with pytest.raises(ClientError) as refused:
        running.admin().json(
            "POST",
            "/v1/services",
            json={"code": "x.async", "name": "x", "mode": "async", "personal_data": True},
        )
    assert refused.value.status == 422
    assert refused.value.details["errors"][0]["path"] == "/personal_data"
