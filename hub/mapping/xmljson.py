"""XML ↔ JSON, one documented convention, so field rules work on XML too and a JSON result can
be written as XML.

XML → JSON: the document is ``{root name: value}``; an element is
  * its text (a string, as written), when it has no attributes and no child elements; ``null``
    when it is empty;
  * else an object: each attribute as ``"@name"``, each child element by its name (a name that
    occurs more than once becomes a list, in document order), and the element's own text, when
    it has any besides whitespace, as ``"#text"`` (stripped; the pieces of mixed content joined).
Namespaces are dropped: names are local names (``ns:MaHoSo`` and ``{urn:…}MaHoSo`` are
``MaHoSo``), because prefixes are the sender's choice and expressions should not depend on them.
Comments and processing instructions are dropped. All values are strings (XML has no numbers):
convert with ``to_number()`` in an expression. An element named in the source's ``lists`` is
always a list, even when it occurs once.

JSON → XML is the reverse: the value must be an object with one key, the root element; in an
object ``"@name"`` is an attribute, ``"#text"`` the text, any other key a child element (a list
repeats it); a scalar is the element's text (``true``/``false``, numbers as JSON writes them),
``null`` an empty element. Elements are in the target's ``namespace`` (the default namespace)
when it names one, else in none; attributes are in none.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from lxml import etree

from hub.mapping.errors import MappingFailed

__all__ = ["to_json", "to_xml"]


def to_json(root: etree._Element, lists: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {etree.QName(root).localname: _value(root, lists)}


def _value(element: etree._Element, lists: frozenset[str]) -> Any:
    children = [c for c in element if isinstance(c.tag, str)]  # not comments or PIs
    if not children and not element.attrib:
        return element.text or None
    value: dict[str, Any] = {
        f"@{etree.QName(name).localname}": text for name, text in element.attrib.items()
    }
    groups: dict[str, list[Any]] = {}
    for child in children:
        groups.setdefault(etree.QName(child).localname, []).append(_value(child, lists))
    for name, items in groups.items():
        value[name] = items if len(items) > 1 or name in lists else items[0]
    text = "".join([element.text or "", *(c.tail or "" for c in element.iterchildren())]).strip()
    if text:
        value["#text"] = text
    return value


def to_xml(value: Any, namespace: str | None = None) -> etree._Element:
    """``MappingFailed`` (side ``mapping``) naming the path of a value XML cannot hold."""
    if not isinstance(value, dict) or len(value) != 1:
        raise MappingFailed(
            "mapping",
            [{"path": "/", "message": "XML needs one root: an object with exactly one key"}],
        )
    ((name, content),) = value.items()
    root = _element(None, name, namespace, "/" + name)
    _fill(root, content, namespace, "/" + name)
    return root


def _element(
    parent: etree._Element | None, name: str, namespace: str | None, path: str
) -> etree._Element:
    if name.startswith(("@", "#")) or ":" in name:
        _refuse(path, f"{name!r} is not an element name here")
    tag = etree.QName(namespace, name).text if namespace else name
    try:
        if parent is None:
            return etree.Element(tag, nsmap={None: namespace} if namespace else None)
        return etree.SubElement(parent, tag)
    except ValueError as exc:
        _refuse(path, str(exc))


def _fill(element: etree._Element, value: Any, namespace: str | None, path: str) -> None:
    try:
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}/{key}"
                if key.startswith("@"):
                    element.set(key[1:], _text(item, where))
                elif key == "#text":
                    element.text = _text(item, where)
                else:
                    for n, one in enumerate(item if isinstance(item, list) else [item]):
                        at = f"{where}/{n}" if isinstance(item, list) else where
                        if isinstance(one, list):
                            _refuse(at, "a list inside a list has no XML form")
                        _fill(_element(element, key, namespace, at), one, namespace, at)
        elif isinstance(value, list):
            _refuse(path, "a list needs a name: put it under a key")
        elif value is not None:
            element.text = _text(value, path)
    except ValueError as exc:  # a name or a character XML cannot hold
        _refuse(path, str(exc))


def _text(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    _refuse(path, "an attribute or text must be a string, number or boolean")


def _refuse(path: str, message: str) -> NoReturn:
    raise MappingFailed("mapping", [{"path": path, "message": message}])
