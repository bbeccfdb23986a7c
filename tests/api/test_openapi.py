"""The OpenAPI document describes the API as it behaves: every operation names its success
schema and its error statuses (as the ``Error`` body), and every route that needs an API key
says so through the declared security schemes. Whether a route needs a key, or the admin role,
is read from its real dependencies, so a new route cannot slip through undocumented."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from hub.api.app import create_app
from hub.api.deps import get_admin, get_caller
from hub.config import Settings
from hub.context import Hub

ERROR_REF = "#/components/schemas/Error"
# Success bodies that are any JSON by nature: a partner's answer, passed through as it came.
ANY_JSON = {("post", "/v1/services/{service}/call")}
# /readyz answers with a JSONResponse; its model is health.py's to declare (see the report).
UNDECLARED = {("get", "/readyz")}


@pytest.fixture(scope="module")
def app_and_spec(tmp_path_factory) -> Iterator[tuple[Any, dict[str, Any]]]:
    hub = Hub(Settings(data_dir=tmp_path_factory.mktemp("openapi")))
    app = create_app(hub)
    try:
        yield app, app.openapi()
    finally:
        hub.close()


def _calls(dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def operations(app, spec) -> Iterator[tuple[str, str, dict[str, Any], set[Any]]]:
    """(method, path, operation, the route's dependency functions) for every operation."""
    for route in iter_route_contexts(app.routes):  # included routers' routes, as served
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        calls = set(_calls(route.dependant))
        for method in route.methods:
            yield method.lower(), route.path, spec["paths"][route.path][method.lower()], calls


def test_every_operation_is_walked(app_and_spec):
    app, spec = app_and_spec
    walked = {(method, path) for method, path, _, _ in operations(app, spec)}
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert walked == documented


def test_every_operation_names_its_success_schema(app_and_spec):
    app, spec = app_and_spec
    for method, path, op, _ in operations(app, spec):
        ok = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        assert ok, f"{method} {path} documents no success"
        for status, response in ok.items():
            if status == "204":
                assert "content" not in response, f"{method} {path}: 204 has a body"
                continue
            content = response.get("content") or {}
            assert content, f"{method} {path} {status}: no content"
            for media, body in content.items():
                assert "schema" in body, f"{method} {path} {status} {media}: no schema"
                if (method, path) not in ANY_JSON | UNDECLARED and media == "application/json":
                    assert body["schema"], f"{method} {path} {status}: an empty schema"


def test_every_error_status_is_the_error_body(app_and_spec):
    app, spec = app_and_spec
    for method, path, op, _ in operations(app, spec):
        for status, response in op["responses"].items():
            if status[0] in "45":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, f"{method} {path} {status}: {schema}"
                assert "`" in response["description"], f"{method} {path} {status}: no codes"
    assert set(spec["components"]["schemas"]["Error"]["properties"]) == {
        "code",
        "message",
        "details",
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_protected_routes_declare_the_key_schemes_and_401_503(app_and_spec):
    app, spec = app_and_spec
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-API-Key"
    protected = 0
    for method, path, op, calls in operations(app, spec):
        if get_caller not in calls:
            assert "security" not in op, f"{method} {path} is open but claims a key"
            continue
        protected += 1
        assert {"bearer": []} in op.get("security", []), f"{method} {path}: no bearer"
        assert {"apiKey": []} in op.get("security", []), f"{method} {path}: no X-API-Key"
        assert {"401", "503"} <= set(op["responses"]), f"{method} {path}: {op['responses']}"
        if get_admin in calls:
            assert "403" in op["responses"], f"admin route {method} {path} lacks 403"
    assert protected >= 20


def test_json_bodies_parsed_after_the_admin_check_are_still_documented(app_and_spec):
    _, spec = app_and_spec
    body = spec["paths"]["/v1/agencies"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert set(schema["required"]) == {"code", "name"}
    assert "$defs" not in schema
    replay = spec["paths"]["/v1/dead-letters/{delivery_id}/replay"]["post"]["requestBody"]
    assert replay["required"] is False
    for path in ("/v1/messages", "/v1/services/{service}/call"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]
        assert {"application/json", "application/xml"} <= set(content)


def test_the_read_side_is_named_in_the_document(app_and_spec):
    _, spec = app_and_spec
    paths = spec["paths"]

    def ref(path: str, method: str = "get", status: str = "200") -> str:
        return paths[path][method]["responses"][status]["content"]["application/json"]["schema"][
            "$ref"
        ].rsplit("/", 1)[1]

    assert ref("/v1/messages/{message_id}") == "MessageTrace"
    assert ref("/v1/messages").startswith("Page")
    assert ref("/v1/dead-letters").startswith("Page")
    assert ref("/v1/denials").startswith("Page")
    assert ref("/v1/audit-log").startswith("Page")
    assert ref("/v1/messages", "post", "202") == "Accepted"
    assert ref("/v1/systems", "post", "201") == "SystemCreated"
