"""Documents from the national axis: for each VDXP connector instance, what it holds for the
province's agencies (those with a document system here) is fetched into the blob store,
accepted like any document (``direction="in"``: routed to the agency's document system, its
status messages correlated) and only then confirmed to the axis (``done``). A document the hub
refuses is marked ``fail`` at the axis (its refusal is a denial here); one that could not be
fetched or stored stays ``initial`` for the next round, so nothing is lost or taken twice.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import select

from hub.context import Hub
from hub.documents import admission
from hub.errors import DeliveryError, RequestError
from hub.model import Caller, Submission
from hub.outage import STORE, as_unavailable, kind_of, outages
from hub.store.tables import agencies, connector_instances, systems

__all__ = ["Pulled", "Puller", "pull"]

log = logging.getLogger(__name__)
WHERE = "the VDXP pull"


@dataclass
class Pulled:
    """What one round did, per outcome (record ids)."""

    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # left at the axis for the next round

    def as_dict(self) -> dict[str, int]:
        return {k: len(v) for k, v in vars(self).items()}


def pull(hub: Hub, noted: dict[str, str] | None = None) -> Pulled:
    """One round over every enabled VDXP connector instance. ``noted``: the last problem said
    per connector, so that a round that fails like the one before says nothing new."""
    done = Pulled()
    noted = {} if noted is None else noted
    caller = _axis_caller(hub)
    with hub.reader.connect() as conn:
        names = (
            conn.execute(
                select(connector_instances.c.name).where(
                    connector_instances.c.type == "vdxp", connector_instances.c.enabled.is_(True)
                )
            )
            .scalars()
            .all()
        )
        local = set(
            conn.execute(
                select(agencies.c.code).where(
                    agencies.c.document_system.is_not(None), agencies.c.state == "active"
                )
            ).scalars()
        )
    if not names or not local:
        return done
    if caller is None:
        log.warning(
            "VDXP pull skipped: system %r (LGSP_EDOC_AXIS_SYSTEM) is not registered",
            hub.settings.edoc_axis_system,
        )
        return done
    for name in names:
        connector = hub.connector(name)
        try:
            records = connector.received()
        except DeliveryError as exc:
            if noted.get(name) != str(exc):
                log.warning("VDXP pull from %s: %s", name, exc)
            noted[name] = str(exc)
            continue
        if noted.pop(name, None) is not None:
            log.info("VDXP pull from %s works again", name)
        for record in records:
            if record.recipient in local:
                _take(hub, caller, connector, record, done)
    return done


def _axis_caller(hub: Hub) -> Caller | None:
    with hub.reader.connect() as conn:
        row = conn.execute(
            select(systems.c.code, systems.c.agency_code, systems.c.role).where(
                systems.c.code == hub.settings.edoc_axis_system
            )
        ).first()
    return Caller(row[0], row[1], row[2]) if row else None


def _take(hub: Hub, caller: Caller, connector, record, done: Pulled) -> None:
    writer = hub.blobs.writer(hub.settings.edoc_max_body_bytes)
    try:
        connector.fetch(record.id, _Into(writer), record.recipient)
        ref, size, sha256 = writer.commit()
    except DeliveryError as exc:
        writer.abort()
        log.warning("VDXP record %s not fetched: %s", record.id, exc)
        done.failed.append(record.id)
        return
    payload = hub.blobs.payload(ref, size, sha256, "application/xml")
    sub = Submission(
        service=hub.settings.edoc_service,
        payload=payload,
        recipients=[record.recipient],
        headers={"x-lgsp-vdxp-record": str(record.id)[:200]},
    )
    try:
        accepted = admission.submit(hub, caller, sub, direction="in")
    except RequestError as exc:
        log.warning("VDXP record %s refused: %s %s", record.id, exc.code, exc.message)
        _status(connector, record, "fail")
        done.refused.append(record.id)
        return
    except Exception as exc:  # the store is down: the record waits at the axis
        unavailable = as_unavailable(exc)
        if unavailable is None:
            raise
        outages.failed(kind_of(unavailable), WHERE, exc)
        done.failed.append(record.id)
        return
    _status(connector, record, "done")
    (done.duplicates if accepted.duplicate else done.accepted).append(record.id)


def _status(connector, record, status: str) -> None:
    try:
        connector.update_status(record.id, status, record.recipient)
    except DeliveryError as exc:  # told next round: the idempotency key makes it a duplicate
        log.warning("VDXP record %s not marked %s: %s", record.id, status, exc)


class _Into(io.RawIOBase):
    """A blob writer as the file the connector streams into."""

    def __init__(self, writer) -> None:
        self._writer = writer

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._writer.write(bytes(data))
        return len(data)


class Puller:
    """Runs ``pull`` every ``LGSP_EDOC_PULL_SECONDS`` in a thread (beside the relay)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._stop = threading.Event()
        self._noted: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name="vdxp-pull", daemon=True)

    def start(self) -> Puller:
        self._thread.start()
        return self

    def _run(self) -> None:
        every = self.hub.settings.edoc_pull_seconds
        while not self._stop.wait(every):
            try:
                pulled = pull(self.hub, self._noted)
                if any(pulled.as_dict().values()):
                    log.info("VDXP pull: %s", pulled.as_dict())
                outages.recovered(STORE, WHERE)
            except Exception as exc:
                unavailable = as_unavailable(exc)
                if unavailable is None:
                    log.exception("VDXP pull round failed")
                else:
                    outages.failed(kind_of(unavailable), WHERE, exc)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
