"""The REST sink over real loopback HTTP: recording, idempotency, auth, faults, lifecycle."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from sandbox import run_all
from sandbox.rest_sink import RestSink

MIB = 1024 * 1024


@pytest.fixture
def sink() -> Iterator[RestSink]:
    with RestSink() as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_post_is_recorded_and_answered_201(sink: RestSink, http: requests.Session) -> None:
    r = http.post(
        f"{sink.url}/api/docs?x=1",
        data=b'{"a": 1}',
        headers={"Content-Type": "application/json", "X-Extra": "yes"},
    )

    assert r.status_code == 201
    assert r.json() == {"received": True, "duplicate": False, "seq": 1}
    [rec] = sink.received
    assert (rec.method, rec.path, rec.body) == ("POST", "/api/docs", b'{"a": 1}')
    assert rec.headers["x-extra"] == "yes"
    assert rec.json() == {"a": 1}
    assert rec.received_at == pytest.approx(time.time(), abs=5)


def test_put_is_recorded_like_post(sink: RestSink, http: requests.Session) -> None:
    assert http.put(f"{sink.url}/docs/1", data=b"x").status_code == 201
    assert sink.received[0].method == "PUT"


def test_repeated_idempotency_key_is_recorded_once_in_unique(
    sink: RestSink, http: requests.Session
) -> None:
    first = http.post(sink.url, data=b"1", headers={"Idempotency-Key": "k1"})
    again = http.post(sink.url, data=b"1", headers={"Idempotency-Key": "k1"})
    other = http.post(sink.url, data=b"2", headers={"Idempotency-Key": "k2"})

    assert (first.status_code, first.json()["duplicate"]) == (201, False)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert other.status_code == 201
    assert len(sink.received) == 3
    assert [r.idempotency_key for r in sink.unique] == ["k1", "k2"]
    assert sink.unique_keys() == ["k1", "k2"]


def test_requests_without_idempotency_key_are_all_unique(
    sink: RestSink, http: requests.Session
) -> None:
    for _ in range(3):
        http.post(sink.url, data=b"same")
    assert len(sink.unique) == 3
    assert sink.unique_keys() == []


def test_received_endpoint_lists_text_and_base64_bodies(
    sink: RestSink, http: requests.Session
) -> None:
    http.post(sink.url, data="chào".encode(), headers={"Idempotency-Key": "k"})
    http.post(sink.url, data=b"\xff\xfe", headers={"Idempotency-Key": "k"})

    listing = http.get(f"{sink.url}/_sandbox/received").json()
    unique = http.get(f"{sink.url}/_sandbox/received?unique=1").json()

    assert listing["count"] == 2
    text, binary = listing["received"]
    assert (text["body_text"], text["body_base64"]) == ("chào", "Y2jDoG8=")
    assert (binary["body_text"], binary["body_base64"], binary["duplicate"]) == (None, "//4=", True)
    assert unique["count"] == 1


def test_delete_received_clears_the_ledger(sink: RestSink, http: requests.Session) -> None:
    http.post(sink.url, data=b"1", headers={"Idempotency-Key": "k"})
    assert http.delete(f"{sink.url}/_sandbox/received").status_code == 200
    assert sink.received == []
    assert http.post(sink.url, data=b"1", headers={"Idempotency-Key": "k"}).status_code == 201


def test_required_token_refuses_requests_without_it_with_401(http: requests.Session) -> None:
    with RestSink(require_token="t0ken") as sink:
        missing = http.post(sink.url, data=b"x")
        wrong = http.post(sink.url, data=b"x", headers={"Authorization": "Bearer nope"})
        bearer = http.post(sink.url, data=b"x", headers={"Authorization": "Bearer t0ken"})
        api_key = http.post(sink.url, data=b"x", headers={"X-API-Key": "t0ken"})
        probe = http.head(sink.url)

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert (bearer.status_code, api_key.status_code) == (201, 201)
    assert probe.status_code == 401
    assert len(sink.received) == 2


def test_get_and_head_answer_a_health_probe_without_recording(
    sink: RestSink, http: requests.Session
) -> None:
    assert http.get(f"{sink.url}/anything").json()["status"] == "ok"
    assert http.head(sink.url).status_code == 200
    assert http.delete(f"{sink.url}/anything").status_code == 405
    assert sink.received == []


def test_faults_set_over_http_fail_the_next_requests_then_recover(
    sink: RestSink, http: requests.Session
) -> None:
    set_ = http.post(f"{sink.url}/_sandbox/faults", json={"fail_next": 2, "fail_status": 503})

    statuses = [http.post(sink.url, data=b"x").status_code for _ in range(3)]

    assert set_.json()["fail_next"] == 2
    assert statuses == [503, 503, 201]
    assert http.get(f"{sink.url}/_sandbox/faults").json()["fail_next"] == 0
    assert len(sink.received) == 1
    assert sink.request_count == 3


def test_injected_429_and_503_carry_retry_after(sink: RestSink, http: requests.Session) -> None:
    sink.set_faults(fail_next=1, fail_status=429)
    r = http.post(sink.url, data=b"x")
    assert (r.status_code, r.headers["Retry-After"]) == (429, "1")


def test_faults_endpoint_rejects_unknown_or_invalid_fields_with_400(
    sink: RestSink, http: requests.Session
) -> None:
    unknown = http.post(f"{sink.url}/_sandbox/faults", json={"explode": True})
    invalid = http.post(f"{sink.url}/_sandbox/faults", json={"error_rate": 2})
    assert (unknown.status_code, invalid.status_code) == (400, 400)
    assert "explode" in unknown.json()["message"]
    with pytest.raises(ValueError, match="fail_status"):
        sink.set_faults(fail_status=99)


def test_delete_faults_resets_them(sink: RestSink, http: requests.Session) -> None:
    sink.set_faults(outage=True, latency_ms=5)
    http.delete(f"{sink.url}/_sandbox/faults")
    assert not sink.faults.outage and sink.faults.latency_ms == 0


def test_error_rate_one_fails_every_request(sink: RestSink, http: requests.Session) -> None:
    sink.set_faults(error_rate=1.0, fail_status=500)
    assert {http.post(sink.url, data=b"x").status_code for _ in range(5)} == {500}


def test_outage_closes_the_connection_without_an_answer(
    sink: RestSink, http: requests.Session
) -> None:
    sink.set_faults(outage=True)
    with pytest.raises(requests.ConnectionError):
        http.post(sink.url, data=b"x")
    sink.set_faults(outage=False)
    assert http.post(sink.url, data=b"x").status_code == 201


def test_latency_fault_delays_the_answer(sink: RestSink, http: requests.Session) -> None:
    sink.set_faults(latency_ms=300)
    with pytest.raises(requests.Timeout):
        http.post(sink.url, data=b"x", timeout=0.1)
    start = time.monotonic()
    assert http.post(sink.url, data=b"x", timeout=5).status_code == 201
    assert time.monotonic() - start >= 0.3


def test_oversized_body_is_answered_413_and_not_recorded(http: requests.Session) -> None:
    with RestSink(max_body_bytes=1024) as sink:
        big = http.post(sink.url, data=b"x" * 2048)
        small = http.post(sink.url, data=b"x" * 1024)
    assert (big.status_code, small.status_code) == (413, 201)
    assert len(sink.received) == 1


def test_chunked_body_is_recorded_whole(sink: RestSink, http: requests.Session) -> None:
    r = http.post(sink.url, data=iter([b"hello ", b"chunked ", b"world"]))
    assert r.status_code == 201
    assert sink.received[0].body == b"hello chunked world"


def test_a_body_over_the_keep_limit_is_recorded_by_size_and_digest_only(
    http: requests.Session,
) -> None:
    body = bytes(range(256)) * 40_000  # 10 MB
    with RestSink(max_body_bytes=64 * MIB, keep_body_bytes=MIB) as sink:
        streamed = http.post(sink.url, data=iter([body[: 3 * MIB], body[3 * MIB :]]))  # chunked
        whole = http.post(sink.url, data=body)
        small = http.post(sink.url, data=b"x")
        listing = http.get(f"{sink.url}/_sandbox/received").json()["received"]
    assert (streamed.status_code, whole.status_code, small.status_code) == (201, 201, 201)
    first, second, third = sink.received
    for rec in (first, second):
        assert (rec.size, rec.sha256) == (len(body), hashlib.sha256(body).hexdigest())
        assert rec.body == b"" and not rec.body_kept
    assert (third.body, third.size, third.body_kept) == (b"x", 1, True)
    assert listing[0]["body_kept"] is False and listing[0]["body_base64"] is None
    assert listing[2]["body_text"] == "x"


def test_wait_for_returns_once_enough_requests_arrived(sink: RestSink) -> None:
    def later() -> None:
        time.sleep(0.1)
        for i in range(3):
            requests.post(sink.url, data=b"x", headers={"Idempotency-Key": str(i % 2)})

    threading.Thread(target=later).start()
    assert len(sink.wait_for(2, timeout=5, unique=True)) == 2
    assert len(sink.wait_for(3, timeout=5)) == 3


def test_wait_for_raises_timeout_error_saying_how_many_arrived(sink: RestSink) -> None:
    with pytest.raises(TimeoutError, match="expected 1 requests, got 0"):
        sink.wait_for(1, timeout=0.05)


def test_concurrent_posts_are_all_recorded(sink: RestSink) -> None:
    def post_many(worker: int) -> None:
        with requests.Session() as session:
            for i in range(20):
                session.post(sink.url, data=b"x", headers={"Idempotency-Key": f"{worker}-{i}"})

    threads = [threading.Thread(target=post_many, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sink.received) == 160
    assert len(set(sink.unique_keys())) == 160
    assert sorted(r.seq for r in sink.received) == list(range(1, 161))


def test_stop_refuses_new_connections_and_cuts_keep_alive_clients(http: requests.Session) -> None:
    sink = RestSink().start()
    assert http.post(sink.url, data=b"x").status_code == 201  # pooled keep-alive connection
    sink.stop()
    with pytest.raises(requests.ConnectionError):
        http.post(sink.url, data=b"x")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sink.port), timeout=1).close()


def test_start_after_stop_serves_again_on_the_same_port(http: requests.Session) -> None:
    sink = RestSink().start()
    url = sink.url
    sink.stop()
    with sink.start():
        assert sink.url == url
        assert http.post(url, data=b"x").status_code == 201


def test_stop_is_not_held_up_by_a_request_sleeping_in_latency() -> None:
    sink = RestSink().start()
    sink.set_faults(latency_ms=10_000)
    threading.Thread(
        target=lambda: _swallow(lambda: requests.post(sink.url, data=b"x")), daemon=True
    ).start()
    time.sleep(0.1)
    start = time.monotonic()
    sink.stop()
    assert time.monotonic() - start < 2


def test_run_all_starts_every_simulator_and_prints_how_to_reach_it() -> None:
    lines: list[str] = []
    province = run_all(port_base=0, hub_url="http://127.0.0.1:9", block=False, out=lines.append)
    try:
        sink, soap = province["rest-sink"], province["soap-service"]
        assert requests.post(sink.url, data=b"x").status_code == 201
        assert requests.get(soap.wsdl_url).text.count(soap.endpoint) == 1
        for server in province:
            assert any(server.url in line for line in lines), server.kind
        assert province["payment"].callback_url == "http://127.0.0.1:9/v1/payments/callback"
    finally:
        province.stop()


def test_the_sandbox_comes_back_on_the_same_fixed_ports() -> None:
    base = _free_range(11)
    first = run_all(port_base=base, block=False, out=lambda _: None)
    ports = {name: server.port for name, server in first.servers.items()}
    first.stop()
    again = run_all(port_base=base, block=False, out=lambda _: None)
    try:
        assert {name: server.port for name, server in again.servers.items()} == ports
        with pytest.raises(OSError, match="cannot listen"):
            run_all(port_base=base, block=False, out=lambda _: None)
    finally:
        again.stop()


def _free_range(n: int) -> int:
    """A base port with ``n`` free ports after it (checked, not guaranteed to stay free)."""
    for base in range(20000, 60000, 97):
        try:
            for port in range(base, base + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


def _swallow(call: Callable[[], object]) -> None:
    try:
        call()
    except requests.RequestException:
        pass


def test_an_error_code_fault_answers_in_the_partners_own_shape():
    with RestSink() as sink:
        sink.set_faults(fail_next=1, error_code="-1")
        first = requests.post(sink.url + "/x", json={}, timeout=5)
        second = requests.post(sink.url + "/x", json={}, timeout=5)
    assert (first.status_code, first.json()["error_code"]) == (200, "-1")
    assert second.status_code == 201 and len(sink.received) == 1


def test_an_error_code_fault_must_be_a_short_string():
    with RestSink() as sink, pytest.raises(ValueError, match="error_code"):
        sink.set_faults(error_code=3)
