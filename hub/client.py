"""A small HTTP client of the hub's API, used by the CLI (and handy in scripts). Errors come
back as ``ClientError`` carrying the hub's structured ``code`` and ``message``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests

__all__ = ["ClientError", "HubClient"]


class ClientError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status, self.details = code, message, status, details or {}


class HubClient:
    def __init__(self, url: str, key: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ClientError(
                "unreachable", f"cannot reach the hub at {self.url} ({type(exc).__name__})"
            ) from None
        if response.status_code >= 400:
            try:
                body = response.json()
                raise ClientError(
                    body.get("code", "error"),
                    body.get("message", response.text),
                    response.status_code,
                    body.get("details"),
                )
            except ValueError:
                raise ClientError(
                    "http_error", f"HTTP {response.status_code}", response.status_code
                ) from None
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def send(
        self,
        service: str,
        body: bytes,
        content_type: str,
        recipients: Sequence[str] = (),
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Content-Type": content_type}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if correlation_id:
            headers["X-Correlation-Id"] = correlation_id
        return self.json(
            "POST",
            "/v1/messages",
            data=body,
            headers=headers,
            params={"service": service, "recipient": list(recipients)},
        )

    def call(
        self,
        service: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Call a synchronous service; ``headers`` adds e.g. ``X-LGSP-Purpose``."""
        return self.request(
            "POST",
            f"/v1/services/{service}/call",
            data=body,
            headers={**(headers or {}), "Content-Type": content_type},
        )
