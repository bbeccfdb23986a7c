"""XML → XML by an XSLT 1.0 stylesheet (libxslt, through lxml), run so that a stylesheet can
read nothing but the message and write nothing at all.

* The stylesheet is parsed by ``hub.xmlsafe``: no DOCTYPE, no entities, no network.
* ``xsl:include`` and ``xsl:import`` are refused when the mapping is loaded: a mapping is one
  document (and its stylesheet), versioned as one.
* Access control denies every read and write, file or network: ``document('/etc/passwd')``,
  ``document('http://…')`` and EXSLT's ``exsl:document`` (writing a file) fail the transform.
* No extension functions are registered: a stylesheet calls no Python.
* Template recursion is bounded by libxslt's maximum depth (lxml's default, 3000 nested calls):
  a stylesheet that recurses forever fails at once, saying so. (A stylesheet whose work is
  exponential without being deep still runs long: XSLT has no other budget. Run the example
  pairs before using a new stylesheet.)

A compiled stylesheet is kept per thread: the worker maps on several threads at once.
"""

from __future__ import annotations

import threading

from lxml import etree

from hub import xmlsafe
from hub.errors import HubError
from hub.mapping.errors import MappingFailed

__all__ = ["Stylesheet"]

XSL = "http://www.w3.org/1999/XSL/Transform"
_GENERIC = ("runtime error", "unknown error", "Error applying stylesheet")
_STRING_BASE = "string://__STRING__XSLT__"  # lxml's base URL for a stylesheet without a file


class Stylesheet:
    def __init__(self, text: str) -> None:
        """``ValueError`` naming the line of what is wrong with the stylesheet."""
        self._data = text.encode("utf-8")
        try:
            root = xmlsafe.parse(self._data)
        except HubError as exc:
            line = exc.details.get("line")
            raise ValueError(
                f"{exc.message}"
                + (f" at line {line}" if line else "")
                + (f": {exc.details['reason']}" if exc.details.get("reason") else "")
            ) from None
        for element in root.iter(f"{{{XSL}}}include", f"{{{XSL}}}import"):
            raise ValueError(
                f"xsl:{etree.QName(element).localname} at line {element.sourceline} is refused:"
                " a stylesheet is one document"
            )
        self._local = threading.local()
        self._transform(root)

    def _transform(self, root: etree._Element | None = None) -> etree.XSLT:
        transform = getattr(self._local, "transform", None)
        if transform is None:
            root = root if root is not None else xmlsafe.parse(self._data)
            try:
                transform = etree.XSLT(root, access_control=etree.XSLTAccessControl.DENY_ALL)
            except etree.XSLTParseError as exc:
                problem = _explain(exc.error_log, exc)
                raise ValueError(f"not a valid stylesheet: {problem}") from None
            self._local.transform = transform
        return transform

    def __call__(self, document: etree._Element) -> etree._Element:
        """The transformed document; ``MappingFailed`` (side ``mapping``, path ``/xslt``)
        saying what the stylesheet did wrong, and where."""
        transform = self._transform()
        try:
            result = transform(document)
        except etree.XSLTApplyError as exc:
            raise MappingFailed(
                "mapping", [{"path": "/xslt", "message": _explain(transform.error_log, exc)}]
            ) from None
        root = result.getroot()
        if root is None:
            raise MappingFailed(
                "mapping", [{"path": "/xslt", "message": "the stylesheet produced no element"}]
            )
        return root


def _explain(log: etree._ListErrorLog, exc: Exception) -> str:
    """libxslt's log says ``runtime error, element 'copy-of'`` (with the stylesheet line) and,
    separately, what went wrong; people need both, on one line."""
    where = next(
        (f" (line {e.line}, {e.message.split(', ', 1)[-1]})" for e in log if e.line > 0), ""
    )
    told = [e.message for e in log if not e.message.startswith(_GENERIC)]
    message = str(exc) if not str(exc).startswith(_GENERIC) else (told or ["failed"])[0]
    return message.splitlines()[0].replace(_STRING_BASE, "") + where
