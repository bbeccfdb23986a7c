"""The toolkit pieces the partner connectors share (``connectors.http``): JSON calls against a
real loopback partner (``sandbox.rest_sink.RestSink``), answers, configuration schema fragments
and masking of personal data."""

from __future__ import annotations

import re
from collections.abc import Iterator

import jsonschema
import pytest
import requests

from connectors.http import (
    URL_PATTERN,
    answer_result,
    json_object,
    keep_last3,
    make_session,
    mask_emails,
    mask_error,
    mask_numbers,
    mask_values,
    partner_codes,
    request_health,
    secret_properties,
    secret_rule,
    send_json,
    url_property,
)
from hub.connector import CheckResult
from hub.errors import PermanentDeliveryError, TransientDeliveryError
from sandbox.rest_sink import RestSink

SECRET = "tok-91c2-very-secret"


@pytest.fixture
def sink() -> Iterator[RestSink]:
    with RestSink() as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    made = make_session({})
    yield made
    made.close()


# --- send_json -----------------------------------------------------------------------------------
def test_send_json_posts_utf8_json_and_returns_the_answer(sink, session):
    response, answer, truncated = send_json(
        session,
        "POST",
        f"{sink.url}/records",
        {"TenTTHC": "Cấp giấy phép", "SoTien": 150000},
        {"Idempotency-Key": "m-1", "Accept": "application/json"},
        name="partner",
        timeout=(2.0, 2.0),
    )

    [received] = sink.received
    assert received.method == "POST" and received.path == "/records"
    assert received.headers["content-type"] == "application/json; charset=utf-8"
    assert received.headers["idempotency-key"] == "m-1"
    assert received.body == '{"TenTTHC": "Cấp giấy phép", "SoTien": 150000}'.encode()
    assert response.status_code == 201
    assert json_object(answer)["received"] is True
    assert truncated is False


def test_send_json_without_a_body_sends_no_content_type_and_takes_params(sink, session):
    response, _, _ = send_json(
        session,
        "PUT",
        f"{sink.url}/changes",
        None,
        {},
        name="p",
        timeout=(2.0, 2.0),
        params={"limit": 1},
    )

    [received] = sink.received
    assert response.status_code == 201
    assert received.method == "PUT" and received.body == b""
    assert "content-type" not in received.headers
    assert received.path == "/changes"
    assert response.request.url == f"{sink.url}/changes?limit=1"


def test_send_json_keeps_at_most_limit_bytes(sink, session):
    _, answer, truncated = send_json(
        session, "POST", sink.url, {"a": 1}, {}, name="p", timeout=(2.0, 2.0), limit=5
    )

    assert len(answer) == 5
    assert truncated is True


def test_send_json_leaves_the_status_to_the_caller(sink, session):
    sink.set_faults(fail_next=1, fail_status=422)

    response, answer, _ = send_json(session, "POST", sink.url, {}, {}, name="p", timeout=(2, 2))

    assert response.status_code == 422
    assert json_object(answer)["error"] == "injected_fault"


def test_send_json_raises_a_transport_failure_as_transient_with_secrets_scrubbed(sink, session):
    url = f"{sink.url}/{SECRET}"
    sink.stop()

    with pytest.raises(TransientDeliveryError) as caught:
        send_json(session, "POST", url, {}, {}, name="partner", timeout=(2, 2), secrets=[SECRET])

    assert caught.value.remote_status == "connection_error"
    assert caught.value.message.startswith("partner: http://127.0.0.1:")
    assert SECRET not in caught.value.message


def test_send_json_raises_a_local_problem_as_permanent(session):
    with pytest.raises(PermanentDeliveryError) as caught:
        send_json(session, "POST", "nohost://x", {}, {}, name="p", timeout=(1, 1))

    assert not isinstance(caught.value, TransientDeliveryError)


# --- answers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b'{"code": "0"}', {"code": "0"}),
        (b"[1, 2]", {}),
        (b"<html>502 Bad Gateway</html>", {}),
        (b"\xff\xfe", {}),
        (b"", {}),
    ],
)
def test_json_object_is_empty_for_anything_but_an_object(answer, expected):
    assert json_object(answer) == expected


def test_answer_result_keeps_the_answer_with_its_type_and_status(sink, session):
    response, answer, _ = send_json(session, "POST", sink.url, {}, {}, name="p", timeout=(2, 2))

    result = answer_result(response, answer, True, {"records": 2})
    assert result.remote_status == "201"
    assert result.response == answer
    assert result.content_type.startswith("application/json")
    assert result.details == {"records": 2, "response_truncated": True}

    named = answer_result(response, answer, False, {}, "Status:100")
    assert named.remote_status == "Status:100"
    assert "response_truncated" not in named.details


def test_request_health_follows_the_request_check():
    up = [CheckResult("dns", "ok", "resolved"), CheckResult("request", "ok", "HEAD -> 200")]
    down = [CheckResult("connect", "warn", "refused"), CheckResult("request", "warn", "no")]
    broken = [CheckResult("check", "fail", "the check itself failed: KeyError")]

    assert request_health(up).ok and request_health(up).detail == "HEAD -> 200"
    assert not request_health(down).ok
    assert request_health(broken).detail == "the check itself failed: KeyError"


# --- configuration schema -------------------------------------------------------------------------
def _schema(**properties):
    return {"type": "object", "properties": properties, "additionalProperties": False}


def test_url_property_takes_an_http_url_with_a_host():
    schema = _schema(url=url_property("the partner"))
    assert schema["properties"]["url"]["pattern"] == URL_PATTERN
    jsonschema.validate({"url": "https://partner.example/api"}, schema)
    for bad in ("ftp://partner.example", "https:///path", "partner.example"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"url": bad}, schema)


def test_a_secret_reference_is_exactly_one_of_env_and_file():
    schema = {**_schema(**secret_properties("password", "the password")), **secret_rule("password")}
    jsonschema.validate({"password_env": "PARTNER_PASSWORD"}, schema)
    jsonschema.validate({"password_file": "/run/secrets/partner"}, schema)
    for bad in (
        {},
        {"password_env": "A", "password_file": "/run/secrets/partner"},
        {"password_env": "not a name"},
        {"password_file": ""},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    described = secret_properties("password", "the password")["password_file"]["description"]
    assert described == "file holding the password (re-read per message)"


def test_partner_codes_are_distinct_strings_of_the_pattern():
    loose = _schema(codes=partner_codes(default=["0"], description="success"))
    assert loose["properties"]["codes"]["default"] == ["0"]
    jsonschema.validate({"codes": ["0", "00", "SYSTEM BUSY"]}, loose)
    strict = _schema(codes=partner_codes("^[0-9]{1,3}$"))
    jsonschema.validate({"codes": ["99", "103"]}, strict)
    for schema, bad in ((loose, ["0", "0"]), (loose, [""]), (strict, ["SYSTEM_BUSY"])):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"codes": bad}, schema)


# --- personal data ------------------------------------------------------------------------------
def test_keep_last3():
    assert keep_last3("0912345678") == "*******678"
    assert keep_last3("1234") == "***234"
    assert keep_last3("123") == "***"


def test_mask_numbers_masks_id_and_phone_runs_only():
    text = "CCCD 001203004567, CMND 123456789, phone 0912345678, MaHoSo 000.00.01.H57-250101-0001"
    assert mask_numbers(text) == (
        "CCCD *********567, CMND ******789, phone *******678, MaHoSo 000.00.01.H57-250101-0001"
    )
    assert mask_numbers("order 12345678 and 1234567890123") == "order 12345678 and 1234567890123"


def test_mask_numbers_takes_a_partners_own_pattern():
    with_country_code = re.compile(r"(?<![\d])(?:\+84\d{9}|\d{9,12})(?!\d)")
    assert mask_numbers("call +84912345678", with_country_code) == "call *********678"


def test_mask_emails():
    assert mask_emails("sent to an.nguyen@hanoi.gov.vn, cc x@y.vn") == "sent to ***@***, cc ***@***"
    assert mask_emails("no address here @ all") == "no address here @ all"


def test_mask_values_masks_the_longest_value_first():
    masks = {"12 Lê Lợi, 0912345678": "***", "0912345678": "*******678", "": "never"}
    assert mask_values("at 12 Lê Lợi, 0912345678; 0912345678", masks) == "at ***; *******678"


def test_mask_error_masks_every_text_and_keeps_the_rest():
    error = TransientDeliveryError(
        "partner: refused 0912345678",
        remote_status="code:0912345678",
        http_status=503,
        partner_message="0912345678 busy",
        errors=[{"field": "SoDienThoai", "value": "0912345678"}],
        pair=("0912345678", 7),
    )

    masked = mask_error(error, mask_numbers)

    assert type(masked) is TransientDeliveryError
    assert masked.message == "partner: refused *******678"
    assert masked.remote_status == "code:*******678"
    assert masked.details == {
        "http_status": 503,
        "partner_message": "*******678 busy",
        "errors": [{"field": "SoDienThoai", "value": "*******678"}],
        "pair": ["*******678", 7],
    }
    assert mask_error(PermanentDeliveryError("x"), mask_numbers).remote_status is None
