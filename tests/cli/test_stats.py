"""``lgsp stats``, ``lgsp opdata records`` and ``lgsp dead-letters replay --all``, the real
console script against a running hub (both backends): per service the attempts sent and
failed and the dead letters, as a table and as JSON; every record of a window; dead letters
replayed in bulk with nothing but JSON on the way (no progress bar off a terminal); an
unreachable hub is one error line."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests

from tests.cli.test_cli_errors import assert_one_line_error, closed_port_url, lgsp
from tests.support.partners import allow, dossier, register_rest_route, register_service, standard
from tests.support.running import RunningHub, wait_until

pytestmark = pytest.mark.timeout(60)


def cells(table: str, first: str) -> list[str]:
    """The cells of the table row that starts with ``first``."""
    for line in table.splitlines():
        parts = [c.strip() for c in line.split("│")[1:-1]]
        if parts and parts[0] == first:
            return parts
    raise AssertionError(f"no row {first!r} in\n{table}")


@pytest.fixture
def traffic(running: RunningHub, sink) -> datetime:
    """Two messages delivered, one retried on a closed port until dead (4 attempts); returns
    when it started."""
    admin = running.admin()
    sender = standard(admin, sink.url)
    register_service(admin, "dossier.lost")
    register_rest_route(admin, closed_port_url(), name="lost", service="dossier.lost", timeout=2)
    allow(admin, "motcua", "dossier.lost")
    since = datetime.now(UTC)
    for n in (1, 2):
        sender.send("dossier.status", json.dumps(dossier(n)).encode(), "application/json")
    lost = sender.send("dossier.lost", json.dumps(dossier(3)).encode(), "application/json")["id"]
    sink.wait_for(2, timeout=20)
    wait_until(
        lambda: admin.json("GET", f"/v1/messages/{lost}")["status"] == "dead", what="dead letter"
    )
    return since


def test_stats_once_shows_each_service_with_its_counts(running, traffic, tmp_path):
    admin = ["--url", running.url, "--key", running.admin_key]
    shown = lgsp(tmp_path, "stats", "--once", *admin)
    assert shown.returncode == 0, shown.stderr
    # service, sent, failed, error rate, avg ms, max ms, dead letters, last failure
    status, lost = cells(shown.stdout, "dossier.status"), cells(shown.stdout, "dossier.lost")
    assert (status[1:4], status[6]) == (["2", "0", "0%"], "0")
    assert status[4] and status[5] and not status[7]
    assert (lost[1:4], lost[4:7]) == (["4", "4", "100%"], ["", "", "1"])
    assert lost[7]  # the time of the last failure
    assert "dead letters waiting: 1" in shown.stdout

    figures = json.loads(lgsp(tmp_path, "stats", "--json", *admin).stdout)
    services = {s["service_code"]: s for s in figures["services"]}
    assert (services["dossier.status"]["successes"], services["dossier.lost"]["failures"]) == (2, 4)
    assert figures["dead_letters"] == 1


def test_opdata_records_prints_every_record_of_the_window(running, traffic, tmp_path):
    since = traffic.isoformat()
    done = datetime.now(UTC)
    wait_until(
        lambda: datetime.fromisoformat(available(running, since)) > done, what="records to settle"
    )
    admin = ["--url", running.url, "--key", running.admin_key]
    result = lgsp(tmp_path, "opdata", "records", "--from", since, "--json", *admin)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert sorted((r["service_code"], r["attempt"], r["succeeded"]) for r in records) == [
        ("dossier.lost", 1, False),
        ("dossier.lost", 2, False),
        ("dossier.lost", 3, False),
        ("dossier.lost", 4, False),
        ("dossier.status", 1, True),
        ("dossier.status", 1, True),
    ]
    table = lgsp(tmp_path, "opdata", "records", "--from", since, *admin)
    assert table.returncode == 0, table.stderr
    assert cells(table.stdout, records[-1]["response_in"])[1:6] == [
        records[-1]["service_code"],
        "motcua",
        records[-1]["connector"],
        str(records[-1]["attempt"]),
        "yes" if records[-1]["succeeded"] else "no",
    ]
    naive = lgsp(tmp_path, "opdata", "records", "--from", "2026-11-25T08:00:00", *admin)
    assert_one_line_error(naive, "invalid_request", "/query/from")


def available(running: RunningHub, since: str) -> str:
    resp = requests.get(
        f"{running.url}/v1/opdata/records",
        params={"from": since, "limit": 1},
        headers={"Authorization": f"Bearer {running.admin_key}"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["records_available_before"]


def test_replay_all_empties_the_dead_letters_with_json_only_on_stdout(running, traffic, tmp_path):
    running.stop_worker()  # the replayed delivery stays queued instead of dying again
    hub = running.admin()
    dead = [d["id"] for d in hub.json("GET", "/v1/dead-letters")["items"]]
    admin = ["--url", running.url, "--key", running.admin_key]
    replay = lgsp(
        tmp_path, "dead-letters", "replay", "--all", "--reason", "fixed", "--json", *admin
    )
    assert replay.returncode == 0, replay.stderr
    assert replay.stderr == ""
    assert json.loads(replay.stdout) == {"replayed": dead, "skipped": []}
    assert hub.json("GET", "/v1/dead-letters")["items"] == []
    again = lgsp(tmp_path, "dead-letters", "replay", dead[0], *admin)
    assert_one_line_error(again, dead[0], "conflict")
    none = lgsp(tmp_path, "dead-letters", "replay", "--all", *admin)
    assert (none.returncode, none.stdout.strip()) == (0, "replayed 0 of 0 dead letter(s)")


def test_an_unreachable_hub_is_one_error_line(tmp_path):
    url = closed_port_url()
    for command in (["stats", "--once"], ["opdata", "records", "--from", "2026-11-25T08:00Z"]):
        result = lgsp(tmp_path, *command, "--url", url, "--key", "lgsp_deadbeef_x")
        assert_one_line_error(result, "unreachable", url)
