"""How the VDXP connector (:mod:`connectors.vdxp`) classes a refusal of the axis into the hub's
errors: whether the hub retries, dead-letters, or tells an integrator what to fix.

The axis says why in its own code first (VNPT ``ErrorCode``, the LGSP's ``code``, the WSO2
gateway's ``fault``), the HTTP status second. HTTP 5xx/408/425/429 and an axis code in
``transient_codes`` (default ``SYSTEM_BUSY``, ``SYSTEM_ERROR``, ``TIMEOUT``) → transient, with
the axis's ``Retry-After``; a redirect → the toolkit's status error; 401, ``AUTH_FAILED`` or a
gateway fault (a wrong secret, a skewed clock, a replayed nonce, no subscription) → permanent,
``reason: "auth"`` with a hint for the style; ``UNKNOWN_AGENCY`` → permanent, naming the codes;
403 or ``FORBIDDEN`` (the system does not own the sending agency) → permanent,
``reason: "forbidden"``; any other refusal → permanent, ``reason: "refused"``.
``remote_status`` is ``code:<axis code>`` when the axis gave one, else the HTTP status.

Text quoted from the axis goes into an error only with the secrets in play removed and ID- and
phone-like numbers and e-mail addresses masked: an edXML names officials and their phones, and
an axis may quote it back.
"""

from __future__ import annotations

from typing import Any

import requests

from connectors.http import (
    TRANSIENT_STATUSES,
    excerpt,
    json_object,
    mask_emails,
    mask_numbers,
    redact,
    status_error,
)
from hub.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

__all__ = ["DEFAULT_TRANSIENT_CODES", "refusal"]

DEFAULT_TRANSIENT_CODES = ("SYSTEM_BUSY", "SYSTEM_ERROR", "TIMEOUT")


def _clean(text: str, scrub: list[str]) -> str:
    """Axis text fit for an error: secrets out, ID/phone-like numbers and e-mails masked."""
    return mask_emails(mask_numbers(redact(text, scrub)))


def refusal(
    name: str,
    operation: str,
    response: requests.Response,
    answer: bytes,
    *,
    scrub: list[str],
    transient: frozenset[str],
    wso2: bool,
    recipient: str | None = None,
) -> DeliveryError:
    """The axis's refusal of ``operation`` (``answer`` is what it said), classed; ``scrub``: the
    secrets of the call, ``transient``: the axis codes that mean "later", ``recipient``: the
    agency a send was for (named when the axis does not say which one it does not know)."""
    body = json_object(answer)
    fault = body.get("fault") if isinstance(body.get("fault"), dict) else {}
    code = str(body.get("ErrorCode") or body.get("code") or fault.get("code") or "")[:60]
    said = str(body.get("ErrorDesc") or body.get("message") or fault.get("message") or "")
    text = _clean(said[:300], scrub)
    http = response.status_code
    remote = f"code:{code}" if code else str(http)
    details: dict[str, Any] = {"http_status": http, "operation": operation}
    if code or text:
        details.update(axis_code=code or None, axis_message=text)
    else:
        details["response_excerpt"] = _clean(excerpt(answer, response, scrub), scrub)
    where = f"{name}: the axis"
    if code in transient or http >= 500 or http in TRANSIENT_STATUSES:
        if "Retry-After" in response.headers:
            details["retry_after"] = response.headers["Retry-After"]
        return TransientDeliveryError(
            f"{where} cannot take {operation} now ({remote}): {text}".rstrip(": "),
            remote_status=remote,
            **details,
        )
    if 300 <= http < 400:
        return status_error(response, answer, name, scrub)
    if http == 401 or code == "AUTH_FAILED" or fault:
        hint = (
            "check consumer_key, the consumer secret and the API subscription"
            if wso2
            else "check system_id, the secret and this machine's clock"
        )
        return PermanentDeliveryError(
            f"{where} refused the credentials ({remote}: {text}): {hint}",
            remote_status=remote,
            reason="auth",
            **details,
        )
    if code == "UNKNOWN_AGENCY":
        named = body.get("agencies")
        codes = [str(c)[:64] for c in named] if isinstance(named, list) else []
        codes = codes or ([recipient] if recipient else [])
        return PermanentDeliveryError(
            f"{where} does not know the recipient agency {', '.join(codes) or '(unnamed)'}: "
            "it must register on the axis, or the route is wrong",
            remote_status=remote,
            reason="unknown_agency",
            agencies=codes,
            **details,
        )
    reason = "forbidden" if http == 403 or code == "FORBIDDEN" else "refused"
    return PermanentDeliveryError(
        f"{where} refused {operation} ({remote}): {text}".rstrip(": "),
        remote_status=remote,
        reason=reason,
        **details,
    )
