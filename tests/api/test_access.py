"""Checks in the right order and cheap refusals, on both backends: a system without an access
rule learns nothing about a service (403 whether it exists or not, whatever its mode); the
admin is not a sender; JSON is strict; a flood of refused requests becomes a few folded denial
rows written in the background; caller-supplied text is stored masked and escaped."""

from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import func, select

from hub.store.tables import denials, messages
from tests.api.test_bad_input import Env, assert_error, denial_rows, prepare, traffic
from tests.support.partners import dossier, register_sender, register_service

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def env(running, sink) -> Env:
    return prepare(running, sink)


def test_without_an_access_rule_existence_and_mode_are_not_revealed(env):
    other = register_sender(env.running.admin(), "other")
    register_service(env.running.admin(), "citizen.check", mode="sync", schema=None)
    answers = [
        env.submit("no.such.service", b"{}", key=other),  # does not exist
        env.submit("dossier.status", b"{}", key=other),  # exists, async
        requests.post(
            f"{env.running.url}/v1/services/dossier.status/call",
            data=b"{}",
            headers={"Authorization": f"Bearer {other}", "Content-Type": "application/json"},
            timeout=30,
        ),  # async
        requests.post(
            f"{env.running.url}/v1/services/no.such/call",
            data=b"{}",
            headers={"Authorization": f"Bearer {other}", "Content-Type": "application/json"},
            timeout=30,
        ),
    ]
    bodies = [assert_error(a, 403, "forbidden") for a in answers]
    assert all("not registered" not in b["message"] and "mode" not in b["details"] for b in bodies)


def test_the_admin_is_not_a_sender_without_an_access_rule(env):
    before = traffic(env.hub)
    assert_error(
        env.submit("dossier.status", json.dumps(dossier(1)).encode(), key=env.running.admin_key),
        403,
        "forbidden",
    )
    assert traffic(env.hub) == before
    env.running.admin().json(
        "POST",
        "/v1/access-rules",
        json={"system_code": "lgsp-admin", "service_code": "dossier.status"},
    )
    resp = env.submit("dossier.status", json.dumps(dossier(1)).encode(), key=env.running.admin_key)
    assert resp.status_code == 202, resp.text


@pytest.mark.parametrize(
    "body, named",
    [
        (
            b'{"MaHoSo": "A", "TrangThaiHoSo": 4, "ThoiDiemXuLy": "20261125090000",'
            b' "TrangThaiHoSo": 9}',
            "TrangThaiHoSo",
        ),
        (b'{"MaHoSo": "A", "TrangThaiHoSo": NaN, "ThoiDiemXuLy": "20261125090000"}', "NaN"),
        (
            b'{"MaHoSo": "A", "TrangThaiHoSo": Infinity, "ThoiDiemXuLy": "20261125090000"}',
            "Infinity",
        ),
        (
            b'{"MaHoSo": "A", "TrangThaiHoSo": -Infinity, "ThoiDiemXuLy": "20261125090000"}',
            "-Infinity",
        ),
    ],
)
def test_json_that_is_not_json_is_refused_naming_the_key(env, body, named):
    answer = env.refused(400, "malformed_input", "dossier.status", body)
    assert named in answer["details"]["reason"]


def test_a_flood_of_refusals_is_folded_into_a_few_rows(env):
    session = requests.Session()
    for _ in range(300):
        resp = session.get(env.running.url + "/v1/messages", timeout=30)
        assert resp.status_code == 401
    rows = [r for r in denial_rows(env.hub) if r.reason == "no API key"]
    assert sum(r.count for r in rows) == 300
    assert len(rows) <= 3  # one per flush window, not one per request


def test_denied_paths_are_stored_masked_and_escaped(env):
    requests.get(env.running.url + "/v1/messages/001203004567", timeout=30)
    requests.get(env.running.url + "/v1/messages/x%1b%5b31mred", timeout=30)
    actions = [r.action for r in denial_rows(env.hub)]
    assert "GET /v1/messages/*********567" in actions
    assert not any("\x1b" in a for a in actions)
    with env.hub.reader.connect() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(denials)
                .where(denials.c.action.contains("001203004567"))
            ).scalar_one()
            == 0
        )
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0
