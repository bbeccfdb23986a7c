"""The API's HTTP edge, over raw sockets to a real hub: ambiguous framing (Content-Length with
Transfer-Encoding) is 400 and the connection closed, an over-long request target 414, oversized
header fields 431 — each as the JSON error, answered before the connection closes (no reset).
A control character or invalid UTF-8 in the path, query or a header is 400 ``malformed_input``
on both backends, before authentication or the store see it: no 500, no denial, no row."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from hub.api.edge import RefuseControlCharacters
from hub.api.http import MAX_TARGET_BYTES
from hub.logs import MaskingFilter
from hub.store.tables import denials, message_events, messages, outbox
from tests.support.partners import dossier, register_sender, register_service, standard

pytestmark = pytest.mark.timeout(60)
ONE_BACKEND = pytest.mark.parametrize("backend", ["sqlite"])  # the server, not the store


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server ended the connection after this answer
    rest: bytes  # anything it sent after this answer

    def error(self) -> dict[str, Any]:
        assert self.headers["content-type"].startswith("application/json"), self.headers
        error = json.loads(self.body)
        assert set(error) == {"code", "message", "details"}, error
        return error


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def read_answer(sock: socket.socket, wait_for_close: float = 3.0) -> Answer:
    """One response, then whatever follows until the server closes (or ``wait_for_close``)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, _, data = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(data) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of the body"
        data += chunk
    body, rest = data[:length], data[length:]
    sock.settimeout(wait_for_close)
    closed = False
    try:
        while chunk := sock.recv(65536):
            rest += chunk
        closed = True
    except TimeoutError:
        pass
    return Answer(int(lines[0].split()[1]), headers, body, closed, rest)


def exchange(url: str, *pieces: bytes, pause: float = 0.0) -> Answer:
    with connect(url) as sock:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(pause)
        return read_answer(sock)


def head(target: str | bytes, *fields: bytes, method: bytes = b"GET") -> bytes:
    target = target.encode() if isinstance(target, str) else target
    return (
        method
        + b" "
        + target
        + b" HTTP/1.1\r\nHost: hub\r\n"
        + b"".join(f + b"\r\n" for f in fields)
        + b"\r\n"
    )


# ── framing (RFC 9112) ────────────────────────────────────────────────────────────────────


@ONE_BACKEND
@pytest.mark.parametrize(
    "framing",
    [
        [b"Content-Length: 5", b"Transfer-Encoding: chunked"],
        [b"Transfer-Encoding: chunked", b"Content-Length: 5"],
    ],
    ids=["cl-then-te", "te-then-cl"],
)
def test_content_length_with_transfer_encoding_is_400_and_the_connection_closed(running, framing):
    smuggled = head("/v1/agencies", b"Authorization: Bearer " + running.admin_key.encode())
    answer = exchange(
        running.url, head("/healthz", *framing, method=b"POST") + b"0\r\n\r\n" + smuggled
    )
    assert answer.status == 400
    assert answer.error()["code"] == "malformed_input"
    assert answer.headers["connection"] == "close"
    assert answer.closed and answer.rest == b"", "the smuggled request was answered"


@ONE_BACKEND
def test_a_megabyte_query_string_is_414_not_a_reset(running):
    answer = exchange(running.url, head("/v1/messages?service=" + "a" * 1_000_000))
    assert answer.status == 414
    assert answer.error()["code"] == "uri_too_long"
    assert answer.closed


@ONE_BACKEND
def test_a_target_just_under_the_limit_is_served(running):
    target = "/healthz?pad=" + "a" * (MAX_TARGET_BYTES - 200)
    with connect(running.url) as sock:
        for _ in range(2):  # and the connection is kept for the next request
            sock.sendall(head(target))
            answer = read_answer(sock, wait_for_close=0.2)
            assert answer.status == 200 and not answer.closed


@ONE_BACKEND
@pytest.mark.parametrize(
    "fields, pause",
    [
        ([b"X-Big: " + b"a" * 100_000], 0.0),
        ([b"X-N%d: a" % i for i in range(150)], 0.0),
        ([b"X-Slow: " + b"a" * 120_000], 0.01),  # many reads, each ending mid-header
    ],
    ids=["one-large-field", "many-fields", "trickled"],
)
def test_oversized_header_fields_are_431_and_the_connection_closed(running, fields, pause):
    request = head("/healthz", *fields)
    pieces = [request[i : i + 4096] for i in range(0, len(request), 4096)] if pause else [request]
    answer = exchange(running.url, *pieces, pause=pause)
    assert answer.status == 431
    assert answer.error()["code"] == "header_fields_too_large"
    assert answer.closed


@ONE_BACKEND
def test_a_megabyte_body_and_keep_alive_still_work(running, sink):
    sender = standard(running.admin(), sink.url)
    body = json.dumps(dossier(1)).encode() + b" " * 1_000_000  # still valid JSON
    with requests.Session() as session:
        session.headers.update(sender.session.headers)
        sent = session.post(
            running.url + "/v1/messages",
            params={"service": "dossier.status"},
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert sent.status_code == 202, sent.text
        assert session.get(running.url + "/healthz", timeout=10).status_code == 200


# ── bad bytes in the path, query and headers (both backends) ─────────────────────────────


@pytest.mark.parametrize(
    "method, target, where",
    [
        ("GET", "/v1/messages/%00", "path"),
        ("GET", "/v1/messages/x%0d%0aX-Forged:%20yes", "path"),
        ("GET", "/v1/messages/%c3%28", "path"),  # not UTF-8
        ("GET", "/v1/messages?service=dossier.status%00", "query"),
        ("GET", "/v1/messages?cursor=%00", "query"),
        ("GET", "/v1/messages?service=%ff%fe", "query"),  # not UTF-8
        ("POST", "/v1/messages?service=dossier.status%1b%5b31m", "query"),
        ("POST", "/v1/messages?service=dossier.status&recipient=%7f", "query"),
        ("POST", "/v1/services/citizen%00lookup/call", "path"),
    ],
    ids=[
        "nul-path",
        "crlf-path",
        "utf8-path",
        "nul-service",
        "nul-cursor",
        "utf8-query",
        "esc-service",
        "del-recipient",
        "nul-call",
    ],
)
def test_control_characters_in_the_url_are_400_before_anything_is_touched(
    running, method, target, where
):
    admin = running.admin()
    register_service(admin)
    key = register_sender(admin)  # a system with no access rule: a 403 would be a denial
    auth = b"Authorization: Bearer "
    for who in (key, running.admin_key):
        body = b'{"MaHoSo": "x"}'
        answer = exchange(
            running.url,
            head(
                target,
                auth + who.encode(),
                b"Connection: close",
                b"Content-Type: application/json",
                b"Content-Length: %d" % len(body),
                method=method.encode(),
            )
            + body,
        )
        assert answer.status == 400, answer
        error = answer.error()
        assert error["code"] == "malformed_input"
        assert error["details"] == {"where": where}
    assert_nothing_written(running)
    # The same request without the bad byte is refused, and recorded, as a denial.
    refused = requests.post(
        running.url + "/v1/messages",
        params={"service": "dossier.status"},
        headers={"Authorization": f"Bearer {key}"},
        json=dossier(1),
        timeout=10,
    )
    assert refused.status_code == 403
    running.hub.denials.flush()
    assert count(running, denials) == 1


@pytest.mark.parametrize(
    "field",
    [b"X-Correlation-Id: a\x00b", b"X-Correlation-Id: a\x01b", b"Idempotency-Key: a\x1bb"],
    ids=["nul", "soh", "esc"],
)
def test_control_characters_in_a_header_are_400(running, field):
    key = register_sender(running.admin())
    answer = exchange(
        running.url,
        head(
            "/v1/messages?service=dossier.status",
            b"Authorization: Bearer " + key.encode(),
            field,
            b"Content-Length: 2",
            method=b"POST",
        )
        + b"{}",
    )
    assert answer.status == 400
    assert answer.error()["code"] == "malformed_input"
    assert_nothing_written(running)


def count(running, table) -> int:
    with running.hub.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def assert_nothing_written(running) -> None:
    running.hub.denials.flush()
    for table in (denials, messages, message_events, outbox):
        assert count(running, table) == 0, table.name


# ── the middleware alone, and the log ────────────────────────────────────────────────────


async def _call(headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/healthz",
        "raw_path": b"/healthz",
        "query_string": b"",
        "headers": headers,
    }
    await RefuseControlCharacters(app)(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    "value, status",
    [
        (b"a\tb", 204),
        (b"caf\xc3\xa9", 204),
        (b"a\x00b", 400),
        (b"a\nb", 400),
        (b"a\x7fb", 400),
    ],
    ids=["tab", "utf8", "nul", "lf", "del"],
)
def test_header_values_are_checked_behind_any_server(value, status):
    """The wire protocol already refuses most of these; the check holds behind any server."""
    sent = asyncio.run(_call([(b"x-correlation-id", value)]))
    assert sent[0]["status"] == status


def test_control_characters_in_a_log_message_are_escaped():
    record = logging.LogRecord(
        "hub",
        logging.WARNING,
        __file__,
        1,
        "unhandled %s %s",
        ("GET", "/v1/messages/\x00\n2026-11-26 ERROR forged\x1b[31m\tend"),
        None,
    )
    assert MaskingFilter().filter(record)
    assert record.getMessage() == (
        "unhandled GET /v1/messages/\\x00\\x0a2026-11-26 ERROR forged\\x1b[31m\tend"
    )
