"""``payments``: online fees — ``init FILE`` (a system starts one), the ledger's ``list``
(admins) and ``show REF``, and ``reconcile``.

``init``, ``list`` and ``show`` call the hub's API like the other client commands.
``reconcile`` is a process command: it runs ``hub.payments.reconcile`` on this machine's
settings (the store and the connectors' secrets), as the scheduler does; ``--now`` moves the
clock, e.g. to see what a run tomorrow would give up on.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer
from rich.table import Table

from hub.cli.common import (
    DEFAULT_URL,
    JsonOpt,
    KeyOpt,
    UrlOpt,
    app,
    client,
    emit,
    fail,
    hub_errors,
    local_hub,
    out,
    paged,
    row,
)

__all__ = ["payments_init", "payments_list", "payments_reconcile", "payments_show"]

payments_app = typer.Typer(
    help="Online fee payments (DVCQG payment platform).", no_args_is_help=True
)
app.add_typer(payments_app, name="payments")


@payments_app.command("init")
def payments_init(
    file: Annotated[str, typer.Argument(help="The INIT business part (JSON), or - for stdin.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a payment: prints its reference and the URL the citizen pays at."""
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    with hub_errors():
        started = client(url, key).json(
            "POST", "/v1/payments", data=body, headers={"Content-Type": "application/json"}
        )
    if as_json:
        emit(started, True)
        return
    out.print(f"initiated {started['MaThamChieu']}  pay at {started['UrlThanhToan']}", markup=False)
    out.print(f"message {started['message_id']}", markup=False)


@payments_app.command("list")
def payments_list(
    state: Annotated[list[str] | None, typer.Option(help="Only this state (repeatable).")] = None,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    limit: int = 50,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The ledger, newest first (admins)."""
    params = {"limit": limit, "state": state or [], **({"cursor": cursor} if cursor else {})}
    with hub_errors():
        page = client(url, key).json("GET", "/v1/payments", params=params)
    table = Table("MaThamChieu", "state", "SoTien", "MaHoSo", "system", "initiated", "MaGiaoDich")
    for p in page["items"]:
        table.add_row(
            *row(
                p["MaThamChieu"],
                p["state"],
                p["SoTien"],
                p["MaHoSo"],
                p["system"],
                p["initiated_at"],
                p["MaGiaoDich"],
            )
        )
    paged(table, page, as_json)


@payments_app.command("show")
def payments_show(
    reference: Annotated[str, typer.Argument(help="MaThamChieu.")],
    refresh: Annotated[bool, typer.Option(help="Ask the platform first (QUERY).")] = False,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One payment: its state and what the platform said."""
    with hub_errors():
        payment = client(url, key).json(
            "GET", f"/v1/payments/{quote(reference, safe='')}", params={"refresh": refresh}
        )
    table = Table("field", "value")
    for name, value in payment.items():
        table.add_row(*row(name, value))
    emit(payment, as_json, table)


@payments_app.command("reconcile")
def payments_reconcile(
    now: Annotated[
        str | None, typer.Option(help="ISO time to run as (default now; no offset = UTC).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-query payments whose outcome is unknown; give up on those past the window."""
    from hub.payments import reconcile

    moment = _moment(now)
    hub = local_hub()
    try:
        report = reconcile(hub, moment)
    except Exception as exc:  # a store outage: one line, not a traceback
        said = " ".join(str(exc).split())[:300]
        raise fail(f"reconciliation failed: {type(exc).__name__}: {said}") from None
    finally:
        hub.close()
    if as_json:
        emit(report.as_dict(), True)
        return
    out.print(
        ", ".join(f"{name} {count}" for name, count in report.as_dict().items()), markup=False
    )


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--now: {value!r} is not an ISO time (e.g. 2026-11-28T08:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
