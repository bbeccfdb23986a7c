"""The registry as code: one file (YAML or JSON) holds the whole registry; ``export`` writes
it, ``plan`` says what applying a file would change, ``apply`` makes the hub match it — whole,
in one transaction, or not at all.

Applying creates what is new, changes what differs, and *disables* (never deletes) what the
file no longer lists, so a file that forgot an entry stops it without losing its history. A
file is checked entry by entry with the same models and rules as the API, then as a whole: a
route or access rule left without its connector, service or system is refused, naming both.
API keys are never in the file; a system the file creates gets a key, shown once in the
result. Secrets stay references (``token_env``, ``token_file``), as connectors store them.

Uploaded schemas and mappings travel in the file too (``schemas``: a JSON Schema as a value,
an XSD as text; ``mappings``: the document with its example pairs, verified as an upload is):
one that differs from the hub's latest version is uploaded as the next version, before the
services and routes that name it; one the file leaves out stays as it is (versions are
history).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError, create_model
from sqlalchemy import Connection, func, select

from hub.content import loads_json
from hub.errors import RequestError, SchemaViolation
from hub.mapping.catalog import verify
from hub.mapping.sources import stored_examples
from hub.registry.documents import store
from hub.registry.lifecycle import UPDATABLE, set_enabled, update_entry
from hub.registry.models import FORMS, Form, MappingDocument, SchemaDocument
from hub.registry.reads import KINDS, list_all
from hub.registry.writes import changing, register
from hub.schemas import Schemas
from hub.store.tables import documents

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = [
    "FILE_VERSION",
    "SCHEMA_FILE",
    "Change",
    "RegistryFile",
    "apply",
    "export",
    "file_schema",
    "plan",
]

SCHEMA_FILE = Path(__file__).with_name("registry-file.schema.json")  # shipped; a test keeps it

FILE_VERSION = 1
ORDER = ("agencies", "systems", "services", "connectors", "access_rules", "routes")


def _entry_model(kind: str) -> type[BaseModel]:
    switch = KINDS[kind].switch
    return create_model(
        f"{FORMS[kind][0].__name__.removesuffix('In')}Entry",
        __base__=FORMS[kind][0],
        **{switch: (bool, Field(True, description="false: registered but not in use"))},
    )


ENTRIES = {kind: _entry_model(kind) for kind in ORDER}


RegistryFile = create_model(
    "RegistryFile",
    __base__=Form,
    __doc__="The whole registry. Each list holds entries as the API registers them, plus their "
    "``enabled`` flag (``active`` for systems).",
    version=(Literal[1], Field(description="The file format's version")),
    schemas=(list[SchemaDocument], Field([], description="Uploaded schemas, latest versions")),
    mappings=(list[MappingDocument], Field([], description="Uploaded mappings, with pairs")),
    **{kind: (list[ENTRIES[kind]], []) for kind in ORDER},  # type: ignore[valid-type]
)


def file_schema() -> dict[str, Any]:
    """The JSON Schema of a registry file, as shipped in ``SCHEMA_FILE``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **RegistryFile.model_json_schema(),
        "title": "LGSP Hub registry file",
    }


@dataclass
class Change:
    kind: str
    key: str
    action: Literal["upload", "create", "update", "enable", "disable"]
    fields: list[str] = field(default_factory=list)
    entry: dict[str, Any] = field(default_factory=dict, repr=False)
    after_systems: bool = field(default=False, repr=False)  # names a system the file creates

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "action": self.action, "fields": self.fields}


def _fields(kind: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as the file holds it: the entry's fields in the key's order first, a null
    field and an ``enabled: true`` left out."""
    k, model = KINDS[kind], ENTRIES[kind]
    keys = [c.name for c in k.keys]
    names = [*keys, *(["type"] if kind == "connectors" else []), *model.model_fields]
    out = {n: row[n] for n in dict.fromkeys(names) if row.get(n) is not None}
    if out.get(k.switch) is True:
        del out[k.switch]
    return out


def export(conn: Connection) -> dict[str, Any]:
    """The whole registry as a registry file's content (no keys, no times, no ids)."""
    doc: dict[str, Any] = {"version": FILE_VERSION, "schemas": [], "mappings": []}
    for name, content, _ in _latest_documents(conn, "schema"):
        entry = {"document": loads_json(content)} if name.endswith(".json") else {"xsd": content}
        doc["schemas"].append({"name": name, **entry})
    for name, content, examples in _latest_documents(conn, "mapping"):
        doc["mappings"].append({"name": name, "mapping": loads_json(content), "examples": examples})
    for kind in ORDER:
        doc[kind] = [_fields(kind, row) for row in list_all(conn, kind)]
    return doc


def parse(document: Any) -> BaseModel:
    """A registry file's content checked against its model; the refusal names each field."""
    try:
        return RegistryFile.model_validate(document)
    except ValidationError as exc:
        raise SchemaViolation(
            "the registry file is not valid",
            errors=[
                {"path": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()[:50]
            ],
        ) from None


def plan(conn: Connection, wanted: BaseModel, schemas: Schemas | None = None) -> list[Change]:
    """What applying ``wanted`` would do, kind by kind in the order they depend on each other;
    refuses a file that names an entry twice, changes what cannot change, or leaves a route or
    access rule without what it refers to. Mappings are verified (compiled, pairs run) against
    ``schemas`` as the file leaves them; without ``schemas`` they are left out of the plan."""
    changes: list[Change] = _plan_schemas(conn, wanted.schemas)
    if schemas is not None:
        pending = {c.key: c.entry["content"] for c in changes}
        changes += _plan_mappings(conn, wanted.mappings, schemas.with_pending(pending))
    final: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in ORDER:
        k = KINDS[kind]
        current = {k.key_of(row): row for row in list_all(conn, kind)}
        entries: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(getattr(wanted, kind)):
            values = entry.model_dump()
            key = k.key_of(values)
            if key in entries:
                raise _refused(f"/{kind}/{i}", f"{k.label} {key!r} is listed twice", "listed twice")
            entries[key] = values
        final[kind] = {**{key: row for key, row in current.items()}, **entries}
        for key, values in entries.items():
            row = current.get(key)
            if row is None:
                changes.append(Change(kind, key, "create", entry=values))
                continue
            differ = [n for n in values if n != k.switch and values[n] != row.get(n)]
            fixed = [n for n in differ if n not in UPDATABLE[kind]]
            if fixed:
                raise _refused(
                    f"/{kind}/{key}",
                    f"{', '.join(fixed)} of {k.label} {key!r} cannot change; delete it first",
                    "cannot change",
                )
            if differ:
                changes.append(Change(kind, key, "update", differ, {n: values[n] for n in differ}))
            if values[k.switch] != row[k.switch]:
                changes.append(Change(kind, key, "enable" if values[k.switch] else "disable"))
        for key, row in current.items():
            if key not in entries and row[k.switch]:
                changes.append(Change(kind, key, "disable"))
                final[kind][key] = {**row, k.switch: False}
    _check_references(final)
    return _creation_order(_document_systems_last(changes))


def _document_systems_last(changes: list[Change]) -> list[Change]:
    """An agency's ``document_system`` is set once the systems exist (agencies come before
    systems, which belong to agencies): a created agency is created without it, and the
    setting — created or changed — is an update after the systems."""
    out: list[Change] = []
    for change in changes:
        system = change.entry.get("document_system")
        if change.kind != "agencies" or system is None:  # only creates and updates have it
            out.append(change)
            continue
        if change.action == "create":
            out.append(
                Change(
                    "agencies",
                    change.key,
                    "create",
                    entry={**change.entry, "document_system": None},
                )
            )
        elif change.fields != ["document_system"]:
            rest = [n for n in change.fields if n != "document_system"]
            out.append(
                Change("agencies", change.key, "update", rest, {n: change.entry[n] for n in rest})
            )
        out.append(
            Change(
                "agencies",
                change.key,
                "update",
                ["document_system"],
                {"document_system": system},
                after_systems=True,
            )
        )
    return out


def _latest_documents(conn: Connection, kind: str) -> list[tuple[str, str, Any]]:
    """``(name, content, examples)`` of the latest version of every uploaded document of
    ``kind``."""
    newest = (
        select(documents.c.name, func.max(documents.c.version).label("version"))
        .where(documents.c.kind == kind)
        .group_by(documents.c.name)
        .subquery()
    )
    return [
        (r.name, r.content, r.examples)
        for r in conn.execute(
            select(documents.c.name, documents.c.content, documents.c.examples)
            .join(
                newest,
                (documents.c.name == newest.c.name) & (documents.c.version == newest.c.version),
            )
            .where(documents.c.kind == kind)
            .order_by(documents.c.name)
        )
    ]


def _plan_schemas(conn: Connection, entries: list[SchemaDocument]) -> list[Change]:
    """An upload for each schema whose latest version differs from the file's (a JSON Schema
    compared as a value); each checked as an upload is. A schema the file leaves out stays."""
    current = {name: content for name, content, _ in _latest_documents(conn, "schema")}
    changes, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"/schemas/{i}"
        if entry.name in seen:
            raise _refused(where, f"schema {entry.name!r} is listed twice", "listed twice")
        seen.add(entry.name)
        if (entry.document is None) == (entry.xsd is None):
            raise _refused(where, f"schema {entry.name!r} needs one of document or xsd", "one of")
        if entry.document is not None:
            content = json.dumps(entry.document, ensure_ascii=False, indent=2)
            same = entry.name in current and loads_json(current[entry.name]) == entry.document
        else:
            content, same = entry.xsd, current.get(entry.name) == entry.xsd
        try:
            Schemas.check(entry.name, content)
        except RequestError as exc:
            raise _located(exc, where, f"schema {entry.name!r}", inner=False) from None
        if not same:
            changes.append(Change("schemas", entry.name, "upload", entry={"content": content}))
    return changes


def _plan_mappings(
    conn: Connection, entries: list[MappingDocument], schemas: Schemas
) -> list[Change]:
    """An upload for each mapping whose latest version (document or pairs) differs from the
    file's; each verified as an upload is, against the schemas as the file leaves them."""
    current = {n: (loads_json(c), e) for n, c, e in _latest_documents(conn, "mapping")}
    changes, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"/mappings/{i}"
        if entry.name in seen:
            raise _refused(where, f"mapping {entry.name!r} is listed twice", "listed twice")
        seen.add(entry.name)
        examples = [e.model_dump(by_alias=True) for e in entry.examples]
        try:
            verify(entry.name, entry.mapping, stored_examples(examples), schemas)
        except RequestError as exc:
            raise _located(exc, where, f"mapping {entry.name!r}", inner=True) from None
        if current.get(entry.name) != (entry.mapping, examples):
            content = json.dumps(entry.mapping, ensure_ascii=False, indent=2)
            changes.append(
                Change(
                    "mappings",
                    entry.name,
                    "upload",
                    entry={"content": content, "examples": examples},
                )
            )
    return changes


def _check_references(final: dict[str, dict[str, dict[str, Any]]]) -> None:
    """After the change, no enabled route or access rule may point at something missing or
    disabled (the refusal names both)."""

    def live(kind: str, key: str | None) -> bool:
        row = final[kind].get(key) if key is not None else None
        return row is not None and bool(row[KINDS[kind].switch])

    for key, route in final["routes"].items():
        if not route["enabled"]:
            continue
        if not live("connectors", route["connector"]):
            raise _refused(
                f"/routes/{key}",
                f"route {key!r} would be left without its "
                f"connector {route['connector']!r} (missing or disabled)",
                "connector missing or disabled",
            )
        if route["service_code"] is not None and not live("services", route["service_code"]):
            raise _refused(
                f"/routes/{key}",
                f"route {key!r} would be left without its "
                f"service {route['service_code']!r} (missing or disabled)",
                "service missing or disabled",
            )
    agencies = final["agencies"]
    if not any(
        s["role"] == "admin"
        and s["active"]
        and s.get("key_revoked_at") is None
        and agencies.get(s["agency_code"], {}).get("enabled")
        for s in final["systems"].values()
    ):
        raise _refused(
            "/systems",
            "the file leaves no admin able to act (an active admin "
            "system of an enabled agency); list the hub's admin system",
            "no admin left",
        )
    for key, rule in final["access_rules"].items():
        for kind, ref in (("systems", rule["system_code"]), ("services", rule["service_code"])):
            if rule["enabled"] and ref not in final[kind]:
                raise _refused(
                    f"/access_rules/{key}",
                    f"access rule {key!r} names "
                    f"{KINDS[kind].label} {ref!r}, which the file does not have",
                    f"unknown {KINDS[kind].label}",
                )


def _creation_order(changes: list[Change]) -> list[Change]:
    """Creations and changes kind by kind (an agency after its parent), disables last and in
    reverse, so nothing is ever created before what it refers to."""
    agencies = {c.key: c for c in changes if c.kind == "agencies" and c.action == "create"}
    placed: list[Change] = []
    seen: set[str] = set()

    def place(change: Change, path: tuple[str, ...] = ()) -> None:
        if change.key in seen:
            return
        if change.key in path:
            raise _refused(
                "/agencies",
                f"agencies {' → '.join(path)} are each other's parent or successor",
                "a cycle",
            )
        for named in ("parent_code", "successor_code"):  # what it names exists before it
            other = agencies.get(change.entry.get(named) or "")
            if other is not None:
                place(other, (*path, change.key))
        seen.add(change.key)
        placed.append(change)

    for change in agencies.values():
        place(change)
    rest = [c for c in changes if c not in agencies.values()]
    later = [c for c in rest if c.after_systems]
    forward = [
        c
        for kind in ORDER
        for c in rest
        if c.kind == kind and c.action != "disable" and not c.after_systems
    ]
    backward = [
        c for kind in reversed(ORDER) for c in rest if c.kind == kind and c.action == "disable"
    ]
    uploads = [c for c in changes if c.action == "upload"]  # before the services naming them
    return uploads + placed + forward + later + backward


def apply(
    hub: Hub, actor: str, document: Any, *, dry_run: bool = False, reason: str | None = None
) -> dict[str, Any]:
    """Make the registry match ``document``: the plan, and unless ``dry_run`` the plan
    carried out in one transaction (a failure anywhere leaves the registry as it was)."""
    wanted = parse(document)
    with hub.reader.connect() as conn:
        changes = plan(conn, wanted, hub.schemas)
    keys: dict[str, str] = {}
    if not dry_run and changes:
        why = reason or "registry file applied"
        with changing(hub) as conn:
            changes = plan(conn, wanted, hub.schemas)  # again, in the applying transaction
            for change in changes:
                keys.update(_carry_out(hub, conn, actor, change, why))
    return {
        "applied": not dry_run,
        "changes": [c.as_dict() for c in changes],
        "api_keys": keys,
    }


def _carry_out(hub: Hub, conn: Connection, actor: str, change: Change, why: str) -> dict[str, str]:
    if change.action == "upload":
        kind = "schema" if change.kind == "schemas" else "mapping"
        examples = change.entry.get("examples")
        store(
            hub, actor, kind, change.key, change.entry["content"], examples, reason=why, conn=conn
        )
        return {}
    k = KINDS[change.kind]
    if change.action == "create":
        values = dict(change.entry)
        enabled = values.pop(k.switch)
        created = register(hub, actor, change.kind, values, reason=why, conn=conn)
        if not enabled:
            set_enabled(hub, actor, change.kind, change.key, False, reason=why, conn=conn)
        return {change.key: created["api_key"]} if "api_key" in created else {}
    if change.action == "update":
        update_entry(hub, actor, change.kind, change.key, change.entry, reason=why, conn=conn)
    else:
        enabled = change.action == "enable"
        set_enabled(hub, actor, change.kind, change.key, enabled, reason=why, conn=conn)
    return {}


def _located(exc: RequestError, where: str, what: str, *, inner: bool) -> RequestError:
    """The same refusal (a hostile document stays ``hostile_input``), said of ``what`` at
    ``where`` in the file; ``inner``: keep the refusal's own paths, under ``where``."""
    errors = [
        {"path": where + e.get("path", ""), "message": e.get("message", "")}
        for e in (exc.details.get("errors", []) if inner else [])
    ]
    return type(exc)(
        f"{what}: {exc.message}", errors=errors or [{"path": where, "message": exc.code}]
    )


def _refused(path: str, message: str, short: str) -> SchemaViolation:
    return SchemaViolation(message, errors=[{"path": path, "message": short}])
