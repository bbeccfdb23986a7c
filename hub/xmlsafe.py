"""The one way the hub parses XML: no DTD, no entity expansion, no network access, and
XInclude is never processed (the hub never calls ``xinclude()``).

A document that declares a DOCTYPE is refused outright (``HostileInput``): edXML and SOAP never
need one, and refusing it closes XXE and "billion laughs" before anything is expanded. The
prolog (declaration, comments, processing instructions) is scanned whole, so a DOCTYPE hidden
behind a long comment is caught just the same.
"""

from __future__ import annotations

import re

from lxml import etree

from hub.errors import HostileInput, MalformedInput

_PARSER_ARGS = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                    huge_tree=False, remove_comments=False)
_SPACE = re.compile(rb"[ \t\r\n]*")


def parser() -> etree.XMLParser:
    return etree.XMLParser(**_PARSER_ARGS)


def declares_doctype(data: bytes) -> bool:
    """Does the prolog (everything before the root element) contain a DOCTYPE?"""
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while True:
        pos = _SPACE.match(data, pos).end()
        if data.startswith(b"<?", pos):
            closer = b"?>"
        elif data.startswith(b"<!--", pos):
            closer = b"-->"
        else:
            return data.startswith(b"<!DOCTYPE", pos) or data.startswith(b"<!ENTITY", pos)
        end = data.find(closer, pos)
        if end < 0:
            return False
        pos = end + len(closer)


def _hostile() -> HostileInput:
    return HostileInput("XML with a DOCTYPE or entity declaration is refused",
                        reason="dtd_forbidden")


def parse(data: bytes) -> etree._Element:
    """Parse ``data`` or raise ``MalformedInput`` / ``HostileInput`` naming the problem."""
    if declares_doctype(data):
        raise _hostile()
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        raise MalformedInput("XML is not well-formed", line=exc.lineno,
                             reason=str(exc.msg)) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _hostile()
    return root
