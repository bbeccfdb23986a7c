"""``lgsp denials`` and ``lgsp audit-log`` against a running hub (both backends): a page as a
table for people or as JSON for scripts, newest first, filters passed through, and a refusal
as one error line."""

from __future__ import annotations

import json

import pytest
import requests

from tests.cli.test_cli_errors import assert_one_line_error, closed_port_url, lgsp, sender_key

pytestmark = pytest.mark.timeout(60)


def test_denials_lists_refusals_newest_first(running, sink, tmp_path):
    key = sender_key(running, sink)
    for path in ("/v1/messages", "/v1/audit-log"):
        requests.get(running.url + path, timeout=30)
    running.hub.denials.flush()
    admin = ["--url", running.url, "--key", running.admin_key]
    page = json.loads(lgsp(tmp_path, "denials", *admin, "--json").stdout)
    assert [d["action"] for d in page["items"]] == ["GET /v1/audit-log", "GET /v1/messages"]
    limited = lgsp(tmp_path, "denials", *admin, "--limit", "1")
    assert limited.returncode == 0, limited.stderr
    assert "GET /v1/audit-log" in limited.stdout and "GET /v1/messages" not in limited.stdout
    assert f"--cursor {page['items'][0]['id']}" in limited.stdout
    refused = lgsp(tmp_path, "denials", "--url", running.url, "--key", key)
    assert_one_line_error(refused, "forbidden")


def test_audit_log_lists_registry_changes_with_filters(running, sink, tmp_path):
    sender_key(running, sink)
    admin = ["--url", running.url, "--key", running.admin_key]
    page = json.loads(
        lgsp(tmp_path, "audit-log", *admin, "--action", "register_system", "--json").stdout
    )
    assert [e["target"] for e in page["items"]] == ["motcua", "lgsp-admin"]
    table = lgsp(tmp_path, "audit-log", *admin, "--actor", "lgsp-admin")
    assert table.returncode == 0, table.stderr
    assert "register_route" in table.stdout and "bootstrap" not in table.stdout
    bad = lgsp(tmp_path, "audit-log", *admin, "--since", "yesterday")
    assert_one_line_error(bad, "invalid_request", "/query/since")


@pytest.mark.parametrize("command", ["denials", "audit-log"])
def test_unreachable_hub_is_exit_1_and_one_error_line(tmp_path, command):
    url = closed_port_url()
    assert_one_line_error(
        lgsp(tmp_path, command, "--url", url, "--key", "lgsp_deadbeef_x"), "unreachable", url
    )
