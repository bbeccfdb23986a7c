"""The demo province: every sandbox partner registered as a province would register its real
ones, and a short tour that sends a dossier to DVCQG, looks a citizen up and takes a payment.

``seed`` is idempotent: run again (after a restart, when the sandbox may be on other ports) it
points the connectors at the sandbox's current addresses and adds what is missing. The sandbox's
credentials are written as secret files under the data directory, so the connectors reference
them the way a real deployment does (``*_file``), never in their configuration.

``tour`` runs once the hub answers, as the one-stop system would, and prints each flow with the
``lgsp`` command that traces it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import requests
from sqlalchemy import select

from hub import registry
from hub.client import ClientError, HubClient
from hub.context import Hub
from hub.security import write_private
from hub.store.tables import agencies, connector_instances, routes, services, systems
from sandbox.province import Province

PROVINCE = "000.00.00.H49"
DEPARTMENT = "000.00.11.H49"
DEMO_SYSTEM = "motcua"
DEMO = Path(__file__).resolve().parents[1] / "demo"

__all__ = ["DEMO_SYSTEM", "EXAMPLES", "ROUTES", "SERVICES", "connectors", "secrets", "seed", "tour"]

Say = Callable[[str], object]


def secrets(hub: Hub, province: Province) -> dict[str, str]:
    """The sandbox's credentials as files (0600), by name: their paths."""
    folder = hub.settings.data_dir / "demo-secrets"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    values = {
        "dvcqg-password": province["dvcqg"].password,
        "payment-secret": province["payment"].secret,
        "payment-token": province["payment"].token,
        "vnpost-token": province["vnpost"].access_token,
        "reporting-token": province["reporting"].token,
        "emc-token": province["emc"].token,
        "onestop-token": province["onestop"].token,
        "sms-password": province["sms"].password,
        "ndxp-secret": province["ndxp"].consumer_secret,
        "vdxp-secret": province["vdxp"].secret,
    }
    paths = {}
    for name, value in values.items():
        path = folder / name
        write_private(path, value)
        paths[name] = str(path)
    return paths


def connectors(province: Province, secret: dict[str, str]) -> dict[str, tuple[str, dict]]:
    """name → (type, configuration) of every demo connector, at the sandbox's addresses."""
    dvcqg, payment = province["dvcqg"], province["payment"]

    def bearer(name: str) -> dict[str, str]:
        return {"type": "bearer", "token_file": secret[name]}

    ndxp = province["ndxp"]
    gateway = {
        "url": ndxp.url,
        "consumer_key": ndxp.consumer_key,
        "consumer_secret_file": secret["ndxp-secret"],
        "version": ndxp.version,
        "timeout_seconds": 10,
    }
    vdxp = {
        "base_url": province["vdxp"].url,
        "system_id": province["vdxp"].system_id,
        "secret_file": secret["vdxp-secret"],
        "timeout_seconds": 30,
    }
    return {
        "vdxp": ("vdxp", vdxp),
        "population": (
            "population",
            {
                **gateway,
                "context": "csdldc",
                "form": "soap",
                "MaDVC": "1.000001.000.00.00.H49",
                "MaTichHop": "TH-H49-01",
                "MaDonVi": PROVINCE,
                "MaDichVu": "033",
            },
        ),
        "ndxp-units": ("ndxp", {**gateway, "context": "danhmuc", "resource": "donvihanhchinh"}),
        "ndop-units": (
            "ndop",
            {**gateway, "context": "ndop-danhmuc", "resource": "donvihanhchinh"},
        ),
        "provincial-portal": (
            "rest",
            {"url": f"{province['rest-sink'].url}/portal/dossier-status", "timeout_seconds": 5},
        ),
        "citizen-registry": (
            "soap",
            {
                "wsdl": province["soap-service"].wsdl_url,
                "operation": "LookupCitizen",
                "timeout_seconds": 5,
            },
        ),
        "dvcqg": (
            "dvcqg",
            {
                "url": dvcqg.service_url,
                "login_url": dvcqg.login_url,
                "username": dvcqg.username,
                "password_file": secret["dvcqg-password"],
                "dstcode": dvcqg.dstcode,
                "madonvi": dvcqg.madonvi,
                "timeout_seconds": 10,
            },
        ),
        "dvcqg-payment": (
            "payment",
            {
                "url": payment.api_url,
                "MaDoiTac": payment.partner,
                "secret_file": secret["payment-secret"],
                "auth": bearer("payment-token"),
                "timeout_seconds": 10,
            },
        ),
        "onestop-progress": (
            "onestop",
            {
                "url": province["onestop"].url,
                "operation": "progress",
                "auth": bearer("onestop-token"),
            },
        ),
        "onestop-status": (
            "onestop",
            {
                "url": province["onestop"].url,
                "operation": "status",
                "auth": bearer("onestop-token"),
            },
        ),
        "sms": (
            "sms",
            {
                "url": province["sms"].url,
                "username": province["sms"].username,
                "password_file": secret["sms-password"],
                "brandname": province["sms"].brandnames[0],
                "ascii_only": True,
                "templates": {
                    "dossier-ready": "Ho so {MaHoSo} da co ket qua ({TrangThaiTen}). "
                    "Moi ong/ba den nhan tai {NoiNhan}.",
                    "payment-due": "Ho so {MaHoSo}: vui long nop le phi {SoTien} dong.",
                },
                "default_template": "dossier-ready",
            },
        ),
        "vnpost-pickup": (
            "vnpost",
            {
                "url": province["vnpost"].url,
                "operation": "pickup",
                "access_token_file": secret["vnpost-token"],
                "timeout_seconds": 10,
            },
        ),
        "gov-reporting": (
            "reporting",
            {"url": f"{province['reporting'].url}/api/baocao", "auth": bearer("reporting-token")},
        ),
        "emc": (
            "emc",
            {
                "url": f"{province['emc'].url}/api/tracking",
                "auth": bearer("emc-token"),
                "location": "49",
            },
        ),
    }


# service code → (name, mode, request schema, response schema, personal data)
SERVICES: dict[str, tuple[str, str, str | None, str | None, bool]] = {
    "citizen.verify": (
        "A citizen verified against the national population database (NDXP)",
        "sync",
        "citizen-verify.v1.json",
        None,
        True,
    ),
    "catalog.admin-units": (
        "Administrative units, old and 2025 codes (NDXP shared catalogue)",
        "sync",
        None,
        None,
        False,
    ),
    "catalog.admin-units.ndop": (
        "Administrative units through NDOP (its API is not public: NDXP's pattern)",
        "sync",
        None,
        None,
        False,
    ),
    "dossier.status": (
        "Dossier progress to the portal",
        "async",
        "dossier-status.v1.json",
        None,
        False,
    ),
    "citizen.lookup": (
        "Citizen lookup by ID number",
        "sync",
        "citizen-lookup.v1.json",
        None,
        False,
    ),
    "dossier.sync": (
        "One-stop dossiers to DVCQG (DongBoHoSoMC)",
        "async",
        "onestop-dossier.v1.json",
        None,
        False,
    ),
    "dossier.lookup": (
        "Where is my dossier (SMS, chat, kiosk, web)",
        "sync",
        "dossier-lookup.v1.json",
        "dossier-lookup-answer.v1.json",
        True,
    ),
    "dossier.progress": (
        "Progress from other agencies to the one-stop system",
        "async",
        "dossier-status.v1.json",
        None,
        False,
    ),
    "payment.init": ("Online fee payment (DVCQG payment platform)", "sync", None, None, False),
    "sms.notify": ("An SMS to a citizen from a template", "async", None, None, False),
    "postal.pickup": ("VNPost picks a dossier up at the citizen's", "async", None, None, False),
    "report.submit": ("Reports to the Government reporting system", "async", None, None, False),
    "usage.track": ("Online service usage to EMC", "async", None, None, False),
    "edoc": ("Official documents (edXML, QCVN 102:2016)", "async", None, None, False),
}
# service code → its example message under demo/partners (the tour sends some; checks use all)
EXAMPLES: dict[str, str] = {
    "citizen.verify": "citizen-verify.json",
    "catalog.admin-units": "admin-units.json",
    "catalog.admin-units.ndop": "admin-units.json",
    "dossier.status": "../dossier-status.json",
    "citizen.lookup": "../citizen-lookup.json",
    "dossier.sync": "dossier.json",
    "dossier.lookup": "dossier-lookup.json",
    "dossier.progress": "progress.json",
    "payment.init": "payment.json",
    "sms.notify": "sms.json",
    "postal.pickup": "postal-pickup.json",
    "report.submit": "report.json",
    "usage.track": "usage.json",
    "edoc": "edoc.xml",
}
# route name → (connector, service, mapping)
ROUTES: dict[str, tuple[str, str, str | None]] = {
    "citizen-verify-to-population": ("population", "citizen.verify", None),
    "admin-units-to-ndxp": ("ndxp-units", "catalog.admin-units", None),
    "admin-units-to-ndop": ("ndop-units", "catalog.admin-units.ndop", None),
    "dossier-status-to-portal": ("provincial-portal", "dossier.status", None),
    "citizen-lookup-to-registry": ("citizen-registry", "citizen.lookup", None),
    "dossier-sync-to-dvcqg": ("dvcqg", "dossier.sync", "onestop-dossier-to-dvcqg"),
    "dossier-lookup-to-onestop": ("onestop-status", "dossier.lookup", None),
    "dossier-progress-to-onestop": ("onestop-progress", "dossier.progress", None),
    "payment-init-to-platform": ("dvcqg-payment", "payment.init", None),
    "sms-notify-to-gateway": ("sms", "sms.notify", None),
    "postal-pickup-to-vnpost": ("vnpost-pickup", "postal.pickup", None),
    "report-submit-to-government": ("gov-reporting", "report.submit", None),
    "usage-track-to-emc": ("emc", "usage.track", None),
    "edoc-to-vdxp": ("vdxp", "edoc", None),
}


def _exists(conn, column, value) -> bool:
    return conn.execute(select(column).where(column == value)).first() is not None


def seed(hub: Hub, province: Province) -> str | None:
    """Create or refresh the demo registry; returns the demo system's key when it is new."""
    actor, key = "demo", None
    secret = secrets(hub, province)
    with registry.changing(hub) as conn:
        for name, (type_name, config) in connectors(province, secret).items():
            if _exists(conn, connector_instances.c.name, name):
                registry.update_entry(hub, actor, "connectors", name, {"config": config}, conn=conn)
            else:
                registry.add_connector(hub, actor, name, type_name, config, conn=conn)
        if not _exists(conn, agencies.c.code, PROVINCE):
            registry.add_agency(
                hub, actor, PROVINCE, "Ủy ban nhân dân tỉnh (demo)", level=2, conn=conn
            )
            registry.add_agency(
                hub,
                actor,
                DEPARTMENT,
                "Văn phòng UBND tỉnh (demo)",
                parent_code=PROVINCE,
                level=2,
                conn=conn,
            )
        if not _exists(conn, systems.c.code, DEMO_SYSTEM):
            key = registry.add_system(
                hub, actor, DEMO_SYSTEM, PROVINCE, "Hệ thống một cửa điện tử (demo)", conn=conn
            )["api_key"]
        for code, (name, mode, schema, answer, personal) in SERVICES.items():
            if _exists(conn, services.c.code, code):
                continue
            registry.add_service(
                hub,
                actor,
                code,
                name,
                mode=mode,
                content_type="application/xml" if code == "edoc" else "application/json",
                request_schema=schema,
                response_schema=answer,
                personal_data=personal,
                conn=conn,
            )
            registry.allow(hub, actor, DEMO_SYSTEM, code, conn=conn)
        for name, (connector, service, mapping) in ROUTES.items():
            if not _exists(conn, routes.c.name, name):
                registry.add_route(
                    hub, actor, name, connector, service_code=service, mapping=mapping, conn=conn
                )
        documents(hub, province, conn)
    if key:
        path = hub.settings.data_dir / "demo.key"
        write_private(path, key + "\n")
    return key


# agency → the demo document system that receives (and sends) its documents
DOCUMENT_SYSTEMS = {PROVINCE: "qlvb-ubnd", DEPARTMENT: "qlvb-vp"}


def document_key(settings, system: str) -> Path:
    """Where the demo writes a document system's API key (0600)."""
    return settings.data_dir / "demo-keys" / f"{system}.key"


def documents(hub: Hub, province: Province, conn) -> None:
    """Documents in the demo: each agency's document system, the system the hub acts as for
    what it pulls from VDXP, development signing keys for the agencies (when the keys are
    where the settings look), and the agencies on the sandbox axis. Idempotent."""
    from hub.bootstrap import OPERATOR_AGENCY
    from hub.edxml.devca import make_dev_ca

    settings, actor = hub.settings, "demo"
    axis = province["vdxp"]
    for code in (PROVINCE, DEPARTMENT, OPERATOR_AGENCY):
        axis.add_agency(code, code, None, axis.system_id)
    certs = settings.data_dir / "certs"
    if settings.keys_path == certs / "agencies" and settings.trust_path == certs / "trust":
        make_dev_ca(certs, list(DOCUMENT_SYSTEMS), key_size=2048)
    for agency, system in (*DOCUMENT_SYSTEMS.items(), (PROVINCE, settings.edoc_axis_system)):
        if _exists(conn, systems.c.code, system):
            continue
        made = registry.add_system(hub, actor, system, agency, system, conn=conn)
        registry.allow(hub, actor, system, "edoc", conn=conn)
        if system in DOCUMENT_SYSTEMS.values():
            registry.update_entry(
                hub, actor, "agencies", agency, {"document_system": system}, conn=conn
            )
            path = document_key(settings, system)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_private(path, made["api_key"] + "\n")


def tour(
    url: str,
    key: str,
    province: Province,
    say: Say,
    timeout: float = 60,
    document_key: str | None = None,
) -> None:
    """The flows, once the hub answers; each printed with the command that traces it. A flow
    that fails says why and the tour goes on: the demo is for looking around. With
    ``document_key`` (the provincial office's document system) an official document too."""
    hub = HubClient(url, key)
    deadline = time.monotonic() + timeout
    while not _ready(url):
        if time.monotonic() > deadline:
            say("demo tour: the hub did not come up")
            return
        time.sleep(0.2)
    flows = [_dossier_to_dvcqg, _citizen_lookup, _dossier_lookup, _payment]
    if document_key:
        flows.append(lambda _, p, s: _document(HubClient(url, document_key), p, s))
    for flow in flows:
        try:
            flow(hub, province, say)
        except (ClientError, requests.RequestException, TimeoutError, KeyError) as exc:
            name = "document" if flow.__name__ == "<lambda>" else flow.__name__
            say(f"  {name.strip('_').replace('_', ' ')}: failed ({exc})")
    say(f"each flow, its trace and the overview are on the dashboard: {url}/admin/messages")


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _dossier_to_dvcqg(hub: HubClient, province: Province, say: Say) -> None:
    body = (DEMO / "partners" / "dossier.json").read_bytes()
    sent = hub.send("dossier.sync", body, "application/json")
    status = _settled(hub, sent["id"])
    portal = province["dvcqg"]
    code = json.loads(body)["maHoSo"]
    held = "held by the sandbox DVCQG" if code in portal.dossiers else "not at the portal"
    say(f"1. dossier {code} → DVCQG DongBoHoSoMC: {status}, {held}")
    say(f"     lgsp trace {sent['id']}")


def _citizen_lookup(hub: HubClient, province: Province, say: Say) -> None:
    body = (DEMO / "partners" / "citizen-verify.json").read_bytes()
    grounds = {"X-LGSP-Purpose": quote("Xác minh chủ hồ sơ"), "X-LGSP-Officer": "cb-0042"}
    answer = hub.call("citizen.verify", body, "application/json", grounds)
    people = answer.json()["CongDan"]
    say(
        f"2. a citizen verified in the population database (NDXP, SOAP): {len(people)} found;"
        " the caller got the data, the hub kept it masked"
    )
    say(f"     lgsp trace {answer.headers['X-LGSP-Message-Id']}    lgsp personal-data-log")


def _dossier_lookup(hub: HubClient, province: Province, say: Say) -> None:
    body = (DEMO / "partners" / "dossier-lookup.json").read_bytes()
    grounds = {"X-LGSP-Purpose": "tra-cuu-ho-so-qua-SMS", "X-LGSP-Officer": "sms-gateway"}
    answer = hub.call("dossier.lookup", body, "application/json", grounds)
    found = answer.json()["dossiers"]
    shown = ", ".join(f"{d['MaHoSo']} {d['TrangThaiTen']}" for d in found) or "none"
    say(f"3. where is my dossier (by the citizen's ID, SMS channel): {shown}")
    say(
        f"     lgsp trace {answer.headers['X-LGSP-Message-Id']}    lgsp personal-data-log"
        "  (the ID stays masked in both)"
    )


def _payment(hub: HubClient, province: Province, say: Say) -> None:
    body = json.loads((DEMO / "partners" / "payment.json").read_text(encoding="utf-8"))
    body["MaThamChieu"] = reference = f"DEMO{time.strftime('%y%m%d%H%M%S')}"
    started = hub.json("POST", "/v1/payments", json=body)
    paid = requests.post(  # the citizen pays on the platform's page
        started["UrlThanhToan"], data={"result": "paid"}, timeout=10
    )
    paid.raise_for_status()
    state = _payment_state(hub, reference)
    say(f"4. payment {reference} of {body['SoTien']} VND: {state} (the platform called back)")
    say(f"     lgsp payments show {reference}    lgsp trace {started['message_id']}")


def _settled(hub: HubClient, message_id: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = hub.json("GET", f"/v1/messages/{message_id}")["status"]
        if status in ("delivered", "dead") or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def _payment_state(hub: HubClient, reference: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = hub.json("GET", f"/v1/payments/{reference}")["state"]
        if state != "initiated" or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def _document(qlvb: HubClient, province: Province, say: Say, timeout: float = 30) -> None:
    """The provincial office sends a document to the People's Committee (inside the province:
    held for its document system) and to Huế (through the sandbox's VDXP axis)."""
    body = (DEMO / "partners" / "edoc.json").read_bytes()
    sent = qlvb.json(
        "POST", "/v1/documents", data=body, headers={"Content-Type": "application/json"}
    )
    document_id = json.loads(body)["document_id"]
    deadline = time.monotonic() + timeout
    while True:
        view = qlvb.json("GET", "/v1/documents", params={"id": document_id})
        states = {
            r["recipient"]: (r["channel"], r["state"]) for r in view["documents"][0]["recipients"]
        }
        if all(state != "pending" for channel, state in states.values() if channel == "axis"):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.3)
    shown = ", ".join(f"{code} via {channel}: {state}" for code, (channel, state) in states.items())
    say(f"5. document {document_id}: {shown}")
    say(f"     lgsp documents show '{document_id}'    lgsp trace {sent['id']}")
