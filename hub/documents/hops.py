"""Appending the hub's hop to a document: a ``TraceHeader{OrganId, Timestamp}`` written into the
edXML bytes as they stream, after the last ``TraceHeader`` (a ``TraceHeaderList`` is made after
``MessageHeader`` if there is none), so the ``Bussiness`` block keeps its place and the rest of
the document is untouched, byte for byte.

Two passes: expat reads the header (and stops there) to find where the hop goes, as a byte
offset; then a plain copy of the file writes it there. Memory stays flat for any size; nothing
is re-serialised, so whitespace, prefixes and the attachments are what the sender wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from xml.parsers import expat
from zoneinfo import ZoneInfo

from hub.edxml.model import EDXML_NS
from hub.edxml.rules import TIMESTAMP_FORMAT

__all__ = ["VIETNAM", "hop_timestamp", "with_hop"]

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
BLOCK = 1024 * 1024


def hop_timestamp(at: datetime) -> str:
    """``yyyy/MM/dd HH:mm:ss`` in Asia/Ho_Chi_Minh, as edXML writes times."""
    return at.astimezone(VIETNAM).strftime(TIMESTAMP_FORMAT)


class _HeaderRead(Exception):
    """Raised when edXMLHeader ends: where the hop goes is known by then."""


@dataclass(frozen=True)
class _Place:
    offset: int  # copy up to here,
    after_tag: bool  # then through the end of the tag that starts here (if True),
    wrap: bool  # and write the hop inside a new TraceHeaderList (if True)


def _find(source: BinaryIO) -> _Place | None:
    """Where the hop goes: after the last TraceHeader, else at the start of TraceHeaderList's
    content, else after MessageHeader (in a new list). None if the document is not UTF-8."""
    found: dict[str, int] = {}
    names: list[str] = []
    encoding = ["utf-8"]
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def xml_decl(_version, enc, _standalone):
        if enc:
            encoding[0] = enc.lower()

    def start(name, _attrs):
        local = name.rpartition(" ")[2]
        names.append(local)
        if local == "TraceHeaderList" and len(names) == 4 and "list" not in found:
            found["list"] = parser.CurrentByteIndex

    def end(_name):
        local = names.pop()
        if local == "TraceHeader" and names[-1:] == ["TraceHeaderList"] and len(names) == 4:
            found["trace"] = parser.CurrentByteIndex
        elif local == "MessageHeader" and len(names) == 3 and "header" not in found:
            found["header"] = parser.CurrentByteIndex
        elif local == "edXMLHeader" and len(names) == 2:
            raise _HeaderRead  # the rest (body, attachments) is not read: it has no traces

    parser.XmlDeclHandler = xml_decl
    parser.StartElementHandler, parser.EndElementHandler = start, end
    try:
        while block := source.read(BLOCK):
            parser.Parse(block, False)
        parser.Parse(b"", True)
    except _HeaderRead:
        pass
    if encoding[0].replace("_", "-") not in ("utf-8", "utf8", "us-ascii"):
        return None
    if "trace" in found:
        return _Place(found["trace"], True, False)
    if "list" in found:
        return _Place(found["list"], True, False)
    return _Place(found["header"], True, True)


def with_hop(source: BinaryIO, organ_id: str, at: datetime) -> Iterator[bytes] | None:
    """The document of ``source`` (seekable, read from its start) with the hop appended, as
    chunks; None if it cannot be done in place (a document not in UTF-8)."""
    source.seek(0)
    place = _find(source)
    if place is None:
        return None
    hop = (
        f'<edXML:TraceHeader xmlns:edXML="{EDXML_NS}"><edXML:OrganId>{organ_id}</edXML:OrganId>'
        f"<edXML:Timestamp>{hop_timestamp(at)}</edXML:Timestamp></edXML:TraceHeader>"
    )
    if place.wrap:
        hop = f'<edXML:TraceHeaderList xmlns:edXML="{EDXML_NS}">{hop}</edXML:TraceHeaderList>'
    return _copy(source, place, hop.encode())


def _copy(source: BinaryIO, place: _Place, hop: bytes) -> Iterator[bytes]:
    source.seek(0)
    left = place.offset
    while left > 0:
        block = source.read(min(BLOCK, left))
        if not block:
            break
        left -= len(block)
        yield block
    tail = b""
    while (end := tail.find(b">")) < 0:  # through the end of the tag found there
        more = source.read(4096)
        if not more:
            raise ValueError("the document ended inside a tag")
        tail += more
    tag = tail[: end + 1]
    if tag.endswith(b"/>"):  # an empty <TraceHeaderList/>: opened and closed around the hop
        name = tag[1:-2].split()[0] if tag[1:-2].split() else b""
        yield tag[:-2].rstrip() + b">" + hop + b"</" + name + b">"
    else:
        yield tag
        yield hop
    yield tail[end + 1 :]
    while block := source.read(BLOCK):
        yield block
