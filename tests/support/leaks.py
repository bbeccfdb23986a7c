"""After the suite: did any page, API listing or log line show a citizen's ID number, a phone
number or a secret as it is?

While the tests run, every hub they start (``start_hub``) is watched: the bodies of its GET
answers on the read side (console pages, message search and trace, dead letters, denials,
audit, documents, operational data, metrics) are kept, and so is every log line as the hub's
own handler writes it (``hub.logs``: masked, escaped). What is looked for: every citizen-ID-
and mobile-number-shaped value written in the tests' sources and the real samples (the values
the tests feed the hub), every API key the hub issued during the run, and the admin keys.
Where an answer is meant to carry them — a document fetched by its recipient, a key shown once
at creation or rotation — it is not a page or a listing and is not watched."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from pathlib import Path

from hub.logs import MaskingFilter

__all__ = ["Watch", "canaries_in", "find_leaks", "watch"]

ROOT = Path(__file__).resolve().parents[2]
WATCHED = (
    "/admin",
    "/v1/messages",
    "/v1/dead-letters",
    "/v1/denials",
    "/v1/audit-log",
    "/v1/personal-data-access",
    "/v1/opdata",
    "/metrics",
)
NOT_WATCHED = ("/v1/documents/inbox",)  # the recipient fetches its document, whole
CITIZEN_ID = re.compile(r"(?<!\d)0(?!0{11})[0-9]{2}[0-3][0-9]{8}(?!\d)")
MOBILE = re.compile(r"(?<!\d)0[35789][0-9]{8}(?!\d)")
KEY = re.compile(r"lgsp_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}")
MAX_BODY = 512 * 1024


def canaries_in(paths: Iterable[Path]) -> set[str]:
    """The personal numbers written in these files (tests and samples)."""
    found: set[str] = set()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        found.update(CITIZEN_ID.findall(text), MOBILE.findall(text))
    return found


def find_leaks(
    canaries: Iterable[str], secrets: Iterable[str], texts: Iterable[tuple[str, str]]
) -> list[str]:
    """``where: what`` for each canary or secret found as it is in ``texts``."""
    wanted = [(c, "personal number") for c in canaries] + [(s, "secret") for s in secrets]
    leaks = []
    for where, text in texts:
        for value, kind in wanted:
            if value in text:
                leaks.append(f"{where}: a {kind} ending …{value[-4:]} shown unmasked")
    return leaks


class Watch(logging.Handler):
    """The bodies and log lines of this run, and the keys the hub issued."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(MaskingFilter())
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.bodies: list[tuple[str, str]] = []
        self.lines: list[str] = []
        self.secrets: set[str] = set()
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self._lock:
            self.lines.append(line)

    def answered(self, method: str, path: str, body: bytes) -> None:
        text = body[:MAX_BODY].decode("utf-8", errors="replace")
        with self._lock:
            self.secrets.update(KEY.findall(text) if method != "GET" else ())
            if method == "GET" and path.startswith(WATCHED) and not path.startswith(NOT_WATCHED):
                self.bodies.append((f"GET {path}", text))

    def texts(self) -> list[tuple[str, str]]:
        with self._lock:
            return [*self.bodies, *(("log line", line) for line in self.lines)]


watch = Watch()


def asgi(app):
    """``app`` with its answers reported to ``watch``."""

    async def watched(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        chunks: list[bytes] = []
        size = 0

        async def sending(message):
            nonlocal size
            if message["type"] == "http.response.body":
                if size < MAX_BODY:
                    chunks.append(message.get("body", b""))
                    size += len(chunks[-1])
                if not message.get("more_body"):
                    watch.answered(scope["method"], scope["path"], b"".join(chunks))
            await send(message)

        await app(scope, receive, sending)

    return watched
