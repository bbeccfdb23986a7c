"""The one way the hub parses XML: no DTD, no entity expansion, no network, no XInclude.

A document that declares a DOCTYPE is refused outright (``HostileInput``): edXML and SOAP never
need one, and refusing it closes XXE and "billion laughs" before anything is expanded.
"""

from __future__ import annotations

from lxml import etree

from hub.errors import HostileInput, MalformedInput

_PARSER_ARGS = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                    huge_tree=False, remove_comments=False)


def parser() -> etree.XMLParser:
    return etree.XMLParser(**_PARSER_ARGS)


def parse(data: bytes) -> etree._Element:
    """Parse ``data`` or raise ``MalformedInput`` / ``HostileInput`` naming the problem."""
    head = data[:4096].lstrip()
    if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in head.upper():
        raise HostileInput("XML with a DOCTYPE or entity declaration is refused",
                           reason="dtd_forbidden")
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        raise MalformedInput("XML is not well-formed", line=exc.lineno,
                             reason=str(exc.msg)) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise HostileInput("XML with a DOCTYPE or entity declaration is refused",
                           reason="dtd_forbidden")
    return root
