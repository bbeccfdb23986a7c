"""What an integrator gives to register or change a registry entry, field by field: the API's
request bodies, the CLI's options and (next) the registry file's entries all come from these
models, so the three accept the same things. Pydantic only: the CLI loads them fast."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AccessRuleIn",
    "AgencyIn",
    "AgencyPatch",
    "AgencyState",
    "ConnectorIn",
    "ConnectorPatch",
    "ConnectorUpdate",
    "KeyRotation",
    "RouteIn",
    "RoutePatch",
    "SchemaDocument",
    "ExampleSide",
    "MappingDocument",
    "MappingExample",
    "ServiceIn",
    "ServicePatch",
    "SystemIn",
    "SystemPatch",
    "FORMS",
    "MAX_GRACE_SECONDS",
    "Form",
]

MAX_GRACE_SECONDS = 30 * 86400  # a rotated key's old one is valid at most this long


class Form(BaseModel):
    """An unknown field is refused, naming it: a typo must not be dropped in silence."""

    model_config = ConfigDict(extra="forbid")


AgencyState = Literal["active", "closed", "merged"]


class AgencyIn(Form):
    code: str = Field(
        max_length=64, description="QĐ 20/2020 code (000.00.00.H49) or a 2025 short form (H56.14)"
    )
    name: str = Field(min_length=1, max_length=300)
    parent_code: str | None = None
    level: int | None = Field(None, ge=1, le=4, description="1 central … 4 commune")
    state: AgencyState = Field(
        "active", description="`merged`: into `successor_code`; `closed`: no successor"
    )
    successor_code: str | None = Field(
        None, max_length=64, description="The agency it was merged into (only when merged)"
    )
    valid_from: date | None = Field(None, description="The code in force from (null: always)")
    valid_to: date | None = Field(None, description="… until this date, exclusive (null: still)")
    document_system: str | None = Field(
        None, max_length=64, description="The registered system that receives its documents"
    )


class AgencyPatch(Form):
    name: str | None = Field(None, min_length=1, max_length=300)
    parent_code: str | None = None
    level: int | None = Field(None, ge=1, le=4)
    state: AgencyState | None = Field(
        None, description="Prefer the directory's merge, close and reopen"
    )
    successor_code: str | None = Field(None, max_length=64)
    valid_from: date | None = None
    valid_to: date | None = None
    document_system: str | None = Field(None, max_length=64)


class SystemIn(Form):
    code: str = Field(max_length=64)
    agency_code: str
    name: str = Field(min_length=1, max_length=300)
    role: str = Field("system", description="`system` or `admin`")


class SystemPatch(Form):
    agency_code: str | None = None
    name: str | None = Field(None, min_length=1, max_length=300)
    role: str | None = Field(None, description="`system` or `admin`")


class KeyRotation(Form):
    grace_seconds: float = Field(
        86400,
        ge=0,
        le=MAX_GRACE_SECONDS,
        allow_inf_nan=False,
        description="How long the key in use until now stays valid (0: refused at once)",
    )


class ServiceIn(Form):
    code: str = Field(max_length=100)
    name: str = Field(min_length=1, max_length=300)
    mode: str = Field("async", description="`async` (queued) or `sync` (answered at once)")
    content_type: str = "application/json"
    version: str = "1"
    request_schema: str | None = Field(None, description="A schema file in the hub's catalog")
    response_schema: str | None = None
    retry_budget_seconds: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Keep retrying a delivery this long; null = the hub default",
    )
    unroutable: Literal["refuse", "park"] = Field(
        "refuse",
        description="A message nothing routes: `refuse` it (422 `no_route`), or `park` it "
        "(202, traced as `unroutable`) until a route takes it",
    )
    personal_data: bool = Field(
        False,
        description="A synchronous lookup of citizens' personal data: each call must give "
        "`X-LGSP-Purpose` and `X-LGSP-Officer`, is written to the personal-data access log, "
        "and its request is stored masked",
    )


class ServicePatch(Form):
    name: str | None = Field(None, min_length=1, max_length=300)
    mode: str | None = None
    content_type: str | None = None
    version: str | None = None
    request_schema: str | None = None
    response_schema: str | None = None
    retry_budget_seconds: float | None = Field(None, gt=0, allow_inf_nan=False)
    unroutable: Literal["refuse", "park"] | None = None
    personal_data: bool | None = None


class AccessRuleIn(Form):
    system_code: str
    service_code: str


class ConnectorUpdate(Form):
    config: dict[str, Any] = Field(description="Valid for the type's `config_schema`")
    retry_budget_seconds: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Keep retrying a delivery this long; null = the hub default",
    )


class ConnectorPatch(Form):
    config: dict[str, Any] | None = Field(None, description="Replaces the whole configuration")
    retry_budget_seconds: float | None = Field(None, gt=0, allow_inf_nan=False)


class ConnectorIn(ConnectorUpdate):
    name: str = Field(max_length=100)
    type: str


class RouteIn(Form):
    name: str = Field(max_length=100)
    connector: str
    service_code: str | None = Field(None, description="null = any service")
    recipient: str | None = Field(None, description="Agency code; null = any")
    condition: list[dict[str, Any]] | None = Field(
        None, description="Content rules, all of which must hold (see hub.routing)"
    )
    mapping: str | None = None
    priority: int = 100


class RoutePatch(Form):
    connector: str | None = None
    service_code: str | None = None
    recipient: str | None = None
    condition: list[dict[str, Any]] | None = None
    mapping: str | None = None
    priority: int | None = None


class SchemaDocument(Form):
    """A schema in a registry file: a JSON Schema as a value, or an XSD as text."""

    name: str = Field(max_length=200, description="Ends in .json (JSON Schema) or .xsd (XSD)")
    document: dict[str, Any] | None = Field(None, description="The JSON Schema itself")
    xsd: str | None = Field(None, description="The XML Schema, as text")


class ExampleSide(Form):
    type: Literal["json", "xml"]
    text: str = Field(description="The JSON or XML document, as text")


class MappingExample(Form):
    """One example pair: what goes in, what must come out."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    case: str = Field(min_length=1, max_length=100)
    given: ExampleSide = Field(alias="in")
    expected: ExampleSide = Field(alias="out")


class MappingDocument(Form):
    """A mapping in an upload or a registry file: the document and its example pairs."""

    name: str = Field(max_length=200)
    mapping: dict[str, Any] = Field(description="The mapping document (hub.mapping)")
    examples: list[MappingExample] = Field(min_length=1)


# kind → (registering, changing): a kind without a change model has nothing to change
FORMS: dict[str, tuple[type[BaseModel], type[BaseModel] | None]] = {
    "agencies": (AgencyIn, AgencyPatch),
    "systems": (SystemIn, SystemPatch),
    "services": (ServiceIn, ServicePatch),
    "access_rules": (AccessRuleIn, None),
    "connectors": (ConnectorIn, ConnectorPatch),
    "routes": (RouteIn, RoutePatch),
}
