"""Streaming XML canonicalisation (C14N 1.0, exclusive or inclusive) at flat memory.

An enveloped edXML signature digests the whole document — hundreds of MB when an attachment
is large — canonicalised, with the ``Signature`` element left out. A tree would cost several
times the document; this module canonicalises with expat straight from the file, a block at a
time, text handed over in pieces (never a whole attachment at once), and writes the canonical
form in pieces to a callable (a hash's ``update``). Its output is byte-identical to lxml's
``etree.tostring(tree, method="c14n", exclusive=…, with_comments=False)`` for the documents
edXML uses (the tests compare them on every sample and on generated tricky documents). One
known difference: libxml2 writes a namespace URI unescaped (``xmlns="…?a=1&b=2"``, not even
well-formed); here it is escaped as C14N says, like an attribute value.

Two shapes of node-set, the two a signature needs:

* the document (``subtree=False``): everything, except the elements ``omit`` picks with their
  descendants (the enveloped-signature transform), which subclasses can also ``keep`` as a
  standalone copy (the Signature, to read it);
* a subtree (``subtree=True``): only the first element ``apex`` picks, with its descendants —
  how ``SignedInfo`` is canonicalised: the namespaces its ancestors declare are in scope
  (inclusive C14N renders them all on it). lxml cannot be used for this: libxml2 2.14 renders
  a spurious ``xmlns=""`` two levels under the apex when the default namespace is declared
  above it, which is exactly an edXML-namespaced ``Signature``.

Comments are dropped (a same-document reference removes them before any transform). Not
done: the inheritance of ``xml:*`` attributes from omitted ancestors into a subset (inclusive
C14N 1.0 asks for it; lxml does not do it either; edXML does not use them).

Only well-formed, safe XML gets through: a DOCTYPE or entity declaration is ``HostileInput``,
anything expat refuses is ``MalformedInput`` with the line, as ``hub.xmlsafe`` says them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from xml.parsers import expat

from hub.errors import HostileInput, MalformedInput

__all__ = [
    "BLOCK",
    "CAPTURE_LIMIT",
    "XML_NS",
    "Canonicaliser",
    "Element",
    "canonicalize",
    "element_end",
    "is_empty",
    "splice",
]

BLOCK = 1024 * 1024
CAPTURE_LIMIT = 1024 * 1024  # characters of a kept copy (a Signature is a few KB)
XML_NS = "http://www.w3.org/XML/1998/namespace"
_SEP = "\x1f"  # between namespace, local name and prefix in expat's names: never in XML


@dataclass(eq=False, slots=True)
class Element:
    """An open element as the walk sees it: its name as written, its namespace and local
    name, its parent, its depth (the root is 0) and the byte offset of its start tag."""

    name: str
    namespace: str
    local: str
    parent: Element | None
    depth: int
    start: int
    scope: dict[str, str] = field(repr=False)  # in-scope prefix -> namespace ("" = default)
    rendered: dict[str, str] = field(repr=False)  # namespaces in effect in the output
    visible: bool = field(default=True, repr=False)


class _Stop(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a hook to end the walk early."""


class Canonicaliser:
    """expat handlers writing the canonical form of a document to ``write`` (``None``: the
    walk only runs the hooks). Subclasses override the hooks:

    * ``omit(element)``: leave this element and its descendants out (document mode);
    * ``apex(element)``: the element whose subtree is the output (subtree mode; the first);
    * ``keep(element)``: for an omitted element, also build a standalone copy of it (its
      in-scope namespaces declared on it), handed to ``kept(element, xml)`` at its end;
    * ``ended(element, index)``: an element ends; ``index`` is the byte offset expat reports
      (the ``</`` of its end tag, or just past ``/>`` of an empty one);

    and may call ``stop()`` from a hook to end the walk there."""

    def __init__(
        self,
        write: Callable[[bytes], Any] | None = None,
        *,
        exclusive: bool = True,
        inclusive_prefixes: Iterable[str] = (),
        subtree: bool = False,
    ) -> None:
        self.write = write
        self.exclusive = exclusive
        self.inclusive = {"" if p == "#default" else p for p in inclusive_prefixes}
        self.subtree = subtree
        self.out: list[str] = []
        self.stack: list[Element] = []
        self.declared: dict[str, str] = {}
        self.hidden = 0  # depth of the open element that hides its subtree, 0 if none
        self.copy: list[str] | None = None
        self.copy_size = 0
        self.copying: Element | None = None
        self.after_root = False
        self.done = False  # subtree mode: the apex has ended
        self.parser = parser = expat.ParserCreate(namespace_separator=_SEP)
        parser.namespace_prefixes = True
        parser.ordered_attributes = True
        parser.buffer_text, parser.buffer_size = True, BLOCK
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = self._hostile
        parser.ExternalEntityRefHandler = self._hostile
        parser.StartNamespaceDeclHandler = self._declare
        parser.StartElementHandler, parser.EndElementHandler = self._start, self._end
        parser.CharacterDataHandler = self._text
        parser.ProcessingInstructionHandler = self._pi
        parser.CommentHandler = self._comment

    # --- hooks ---------------------------------------------------------------------------------
    def omit(self, element: Element) -> bool:
        return False

    def apex(self, element: Element) -> bool:
        return False

    def keep(self, element: Element) -> bool:
        return False

    def kept(self, element: Element, xml: str) -> None:
        """An omitted element's standalone copy, when ``keep`` asked for it."""

    def ended(self, element: Element, index: int) -> None:
        """An element ends at byte ``index`` (see the class docstring)."""

    def stop(self) -> None:
        raise _Stop

    # --- driving -------------------------------------------------------------------------------
    def run(self, source: BinaryIO) -> None:
        """Read ``source`` from where it stands to its end (or a ``stop()``), a block at a
        time. Raises ``MalformedInput`` or ``HostileInput``."""
        parser = self.parser
        try:
            while block := source.read(BLOCK):
                parser.Parse(block, False)
                self._flush()
            parser.Parse(b"", True)
        except _Stop:
            pass
        except expat.ExpatError as exc:
            raise MalformedInput(
                "XML is not well-formed", line=exc.lineno, reason=expat.ErrorString(exc.code)
            ) from None
        self._flush()

    def _flush(self) -> None:
        if self.out:
            data = "".join(self.out).encode("utf-8")
            self.out.clear()
            if self.write is not None:
                self.write(data)

    def _hostile(self, *_: Any) -> None:
        raise HostileInput(
            "XML with a DOCTYPE or entity declaration is refused", reason="dtd_forbidden"
        )

    # --- handlers ------------------------------------------------------------------------------
    def _declare(self, prefix: str | None, uri: str | None) -> None:
        self.declared[prefix or ""] = uri or ""

    def _start(self, name: str, attributes: list[str]) -> None:
        declared, self.declared = self.declared, {}
        parent = self.stack[-1] if self.stack else None
        namespace, local, prefix = _split(name)
        scope = parent.scope if parent else {}
        if declared:
            scope = {**scope, **declared}
        element = Element(
            name=f"{prefix}:{local}" if prefix else local,
            namespace=namespace,
            local=local,
            parent=parent,
            depth=len(self.stack),
            start=self.parser.CurrentByteIndex,
            scope=scope,
            rendered=parent.rendered if parent else {},
        )
        self.stack.append(element)
        if self.copying is not None:
            self._copy_start(element, attributes, declared)
        if self.hidden:
            element.visible = False
            return
        if self.subtree:
            element.visible = not self.done and (
                (parent is not None and parent.visible) or self.apex(element)
            )
            if not element.visible:
                return
        elif self.omit(element):
            element.visible = False
            self.hidden = element.depth + 1
            if self.keep(element):
                self.copy, self.copy_size, self.copying = [], 0, element
                self._copy_start(element, attributes, scope)
            return
        if self.write is not None:
            self._emit_start(element, attributes, prefix)

    def _end(self, name: str) -> None:
        element = self.stack.pop()
        index = self.parser.CurrentByteIndex
        if self.copy is not None:
            self.copy.append(f"</{element.name}>")
            if element is self.copying:
                xml, self.copy, self.copying = "".join(self.copy), None, None
                self.kept(element, xml)
        if element.visible:
            if self.write is not None:
                self.out.append(f"</{element.name}>")
            if self.subtree and (element.parent is None or not element.parent.visible):
                self.done = True
        if self.hidden == element.depth + 1:
            self.hidden = 0
        if not self.stack:
            self.after_root = True
        self.ended(element, index)

    def _text(self, text: str) -> None:
        if self.copy is not None:
            self._copy(_escape_text(text))
        if self.write is not None and self.stack and self.stack[-1].visible:
            self.out.append(_escape_text(text))

    def _pi(self, target: str, data: str) -> None:
        pi = f"<?{target} {data}?>" if data else f"<?{target}?>"
        if self.copy is not None:
            self._copy(pi)
        if self.write is None:
            return
        if self.stack:
            if self.stack[-1].visible:
                self.out.append(pi)
        elif not self.subtree:
            self.out.append("\n" + pi if self.after_root else pi + "\n")

    def _comment(self, data: str) -> None:
        if self.copy is not None:
            self._copy(f"<!--{data}-->")

    # --- the canonical start tag ---------------------------------------------------------------
    def _emit_start(self, element: Element, attributes: list[str], prefix: str) -> None:
        parent = element.parent
        visible_parent = parent is not None and parent.visible
        # In effect in the output before this element: what the nearest output ancestor left.
        before = parent.rendered if visible_parent else {}
        wanted: dict[str, str] = {}
        if self.exclusive:
            wanted[prefix] = element.scope.get(prefix, "")
            for p in self.inclusive:
                if p in element.scope:
                    wanted[p] = element.scope[p]
        else:
            wanted.update(element.scope)
            wanted.setdefault("", "")
        attrs: list[tuple[str, str, str, str]] = []
        for i in range(0, len(attributes), 2):
            namespace, local, attr_prefix = _split(attributes[i])
            if attr_prefix and attr_prefix != "xml" and self.exclusive:
                wanted[attr_prefix] = namespace
            qname = f"{attr_prefix}:{local}" if attr_prefix else local
            attrs.append((namespace, local, qname, attributes[i + 1]))
        wanted.pop("xml", None)
        render = sorted(
            (p, uri) for p, uri in wanted.items() if before.get(p, "" if not p else None) != uri
        )
        parts = [f"<{element.name}"]
        if render:
            element.rendered = {**before, **dict(render)}
            for p, uri in render:
                parts.append(_declaration(p, uri))
        else:
            element.rendered = before
        if attrs:
            attrs.sort()
            for _, _, qname, value in attrs:
                parts.append(f' {qname}="{_escape_attribute(value)}"')
        parts.append(">")
        self.out.append("".join(parts))

    # --- the standalone copy of a kept element -------------------------------------------------
    def _copy_start(self, element: Element, attributes: list[str], declare: dict[str, str]) -> None:
        parts = [f"<{element.name}"]
        for p, uri in sorted(declare.items()):
            if p != "xml" and (p or uri or element is not self.copying):
                parts.append(_declaration(p, uri))
        for i in range(0, len(attributes), 2):
            _, local, attr_prefix = _split(attributes[i])
            qname = f"{attr_prefix}:{local}" if attr_prefix else local
            parts.append(f' {qname}="{_escape_attribute(attributes[i + 1])}"')
        parts.append(">")
        self._copy("".join(parts))

    def _copy(self, text: str) -> None:
        assert self.copy is not None
        self.copy_size += len(text)
        if self.copy_size > CAPTURE_LIMIT:
            raise MalformedInput(
                f"an element kept whole is over {CAPTURE_LIMIT} characters",
                reason="element_too_large",
            )
        self.copy.append(text)


def canonicalize(
    source: BinaryIO,
    *,
    exclusive: bool = True,
    inclusive_prefixes: Iterable[str] = (),
) -> bytes:
    """The whole canonical form of a document, in memory: for tests and small documents."""
    parts: list[bytes] = []
    Canonicaliser(parts.append, exclusive=exclusive, inclusive_prefixes=inclusive_prefixes).run(
        source
    )
    return b"".join(parts)


def element_end(source: BinaryIO, start: int, end_index: int) -> int:
    """The byte offset just past an element that starts at ``start`` and whose end expat
    reported at ``end_index``: past ``/>`` when its start tag is empty, else past the ``>`` of
    the end tag there. Reads a few bytes of the (seekable) source."""
    return _tag_end(source, start) if is_empty(source, start) else _tag_end(source, end_index)


def is_empty(source: BinaryIO, start: int) -> bool:
    """Is the element whose start tag is at ``start`` an empty-element tag (``<a/>``)?"""
    tag_end = _tag_end(source, start)
    source.seek(tag_end - 2)
    return source.read(1) == b"/"


def splice(source: BinaryIO, out: BinaryIO, edits: Iterable[tuple[int, int, bytes]]) -> None:
    """Copy ``source`` from where it stands to ``out`` a block at a time, each ``(start, end,
    data)`` of ``edits`` (byte offsets from there, not overlapping) replaced by ``data``."""
    origin = position = source.tell()
    for start, end, data in sorted(edits, key=lambda edit: edit[:2]):
        _copy(source, out, origin + start - position)
        out.write(data)
        position = origin + end
        source.seek(position)
    while block := source.read(BLOCK):
        out.write(block)


def _copy(source: BinaryIO, out: BinaryIO, size: int) -> None:
    while size > 0 and (block := source.read(min(size, BLOCK))):
        out.write(block)
        size -= len(block)


def _tag_end(source: BinaryIO, offset: int) -> int:
    """The offset just past the ``>`` closing the tag at ``offset`` (quoted ``>`` skipped)."""
    source.seek(offset)
    quote, position = 0, offset
    while block := source.read(4096):
        for i, byte in enumerate(block):
            if quote:
                quote = 0 if byte == quote else quote
            elif byte in (0x22, 0x27):  # " '
                quote = byte
            elif byte == 0x3E:  # >
                return position + i + 1
        position += len(block)
    raise MalformedInput("XML is not well-formed: a tag does not end", reason="truncated")


def _split(name: str) -> tuple[str, str, str]:
    """expat's ``namespace SEP local [SEP prefix]`` → (namespace, local, prefix)."""
    parts = name.split(_SEP)
    if len(parts) == 1:
        return "", name, ""
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return parts[0], parts[1], parts[2]


def _declaration(prefix: str, uri: str) -> str:
    uri = _escape_attribute(uri)
    return f' xmlns:{prefix}="{uri}"' if prefix else f' xmlns="{uri}"'


def _escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text.replace("\r", "&#xD;") if "\r" in text else text


def _escape_attribute(value: str) -> str:
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if '"' in value:
        value = value.replace('"', "&quot;")
    if "\t" in value:
        value = value.replace("\t", "&#x9;")
    if "\n" in value:
        value = value.replace("\n", "&#xA;")
    return value.replace("\r", "&#xD;") if "\r" in value else value
