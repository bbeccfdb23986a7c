"""What the directory's routes take and answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field

from hub.directory.history import CHANGES
from hub.registry.models import AgencyState, Form

__all__ = [
    "NO_AGENCY",
    "PARAMS",
    "AddedAlias",
    "AgencyBrief",
    "AgencyDetail",
    "Alias",
    "AliasIn",
    "ChangedAgency",
    "CloseIn",
    "CodePath",
    "DirectoryAgency",
    "Grant",
    "GrantIn",
    "HistoryEntry",
    "ImportResult",
    "MergeIn",
    "ReceivingSystem",
    "ResolutionOut",
    "Tree",
    "TreeNode",
]

CodePath = Annotated[str, Path(max_length=64, description="A code, or an alias")]
PARAMS = "`invalid_request`: a parameter (`details.errors[*].path` names it)"
NO_AGENCY = "`not_found`: no agency has this code or alias"
TEXT = r"^[^\x00-\x1f\x7f]*$"  # no control characters: what a store cannot hold or a log shows


class DirectoryAgency(BaseModel):
    code: str
    name: str
    parent_code: str | None
    level: int | None = Field(description="1 central, 2 province, 3 district, 4 commune")
    state: AgencyState
    successor_code: str | None = Field(description="The agency it was merged into")
    valid_from: date | None = Field(description="The code in force from (null: always)")
    valid_to: date | None = Field(description="… until this date, exclusive (null: still)")
    document_system: str | None = Field(description="The system that receives its documents")
    enabled: bool = Field(description="The admin's switch, apart from the state")
    created_at: datetime


class AgencyBrief(BaseModel):
    code: str
    name: str
    level: int | None
    state: AgencyState
    parent_code: str | None
    valid_from: date | None
    valid_to: date | None


class Alias(BaseModel):
    alias: str
    note: str | None


class ReceivingSystem(BaseModel):
    code: str
    name: str
    agency_code: str
    active: bool


class ResolutionOut(BaseModel):
    """A code resolved: ``code`` answers for ``original`` today (``original`` itself if not
    ``known``); ``chain`` the agencies followed; ``state`` the last one's (``closed``: it has
    no successor; ``merged``: its successors could not be followed to the end)."""

    original: str
    code: str
    chain: list[str]
    state: AgencyState | None
    known: bool
    alias: bool = Field(description="`original` is an alias of the chain's first agency")


class AgencyDetail(DirectoryAgency):
    named_by_alias: bool = Field(description="The code asked for is one of its aliases")
    resolution: ResolutionOut
    parent: AgencyBrief | None
    children: list[AgencyBrief]
    aliases: list[Alias]
    receiving_system: ReceivingSystem | None


class HistoryEntry(BaseModel):
    id: int
    agency_code: str
    at: datetime
    change: str = Field(description=", ".join(f"`{c}`" for c in CHANGES))
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    actor: str
    reason: str | None


class TreeNode(AgencyBrief):
    children: list[TreeNode]


class Tree(BaseModel):
    as_of: date
    roots: list[TreeNode]


class ChangedAgency(BaseModel):
    code: str
    fields: list[str]


class AddedAlias(BaseModel):
    alias: str
    agency_code: str


class ImportResult(BaseModel):
    applied: bool = Field(description="false: a dry run, nothing was changed")
    rows: int
    created: list[str]
    changed: list[ChangedAgency]
    aliases_added: list[AddedAlias]
    unchanged: int


class MergeIn(Form):
    into: str = Field(max_length=64, pattern=TEXT, description="The successor: a code or alias")
    reparent_children: bool = Field(False, description="Move the agencies under it to `into`")
    on: date | None = Field(None, description="The day it takes effect (default: today)")


class CloseIn(Form):
    on: date | None = Field(None, description="The day it takes effect (default: today)")


class AliasIn(Form):
    alias: str = Field(min_length=1, max_length=64, description="e.g. H56.14, a system account")
    note: str | None = Field(None, max_length=300, pattern=TEXT)


class GrantIn(Form):
    agency_code: str = Field(max_length=64, pattern=TEXT, description="A code or an alias")
    subtree: bool = Field(False, description="And every agency below it")


class Grant(BaseModel):
    system_code: str
    agency_code: str
    name: str
    state: AgencyState
    subtree: bool
    own: bool = Field(description="The system's own agency: always spoken for")
    created_at: datetime | None
