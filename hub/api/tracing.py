"""W3C Trace Context at the API's edge: a request's ``traceparent`` (and ``tracestate``) is
read, a span of the hub's is made under it — or a new trace started when there is none or it
is not valid (never a 4xx: a caller's tracing must not cost it its request) — and bound for the
request (``hub.tracecontext``), so its log lines carry the trace and an accepted message keeps
it for the worker. The answer carries the hub's ``traceparent``: same trace-id, the hub's span.

A pure ASGI middleware, like ``hub.api.edge``: ``BaseHTTPMiddleware`` would cost every request
a task and a stream."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import tracecontext

__all__ = ["TraceRequests"]


class TraceRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        caller = tracecontext.parse(
            headers.get(tracecontext.TRACEPARENT),
            ",".join(headers.getlist(tracecontext.TRACESTATE)) or None,
        )
        span = caller.child() if caller is not None else tracecontext.start()
        answer = (tracecontext.TRACEPARENT.encode(), span.traceparent.encode())

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), answer]}
            await send(message)

        with tracecontext.bound(traceparent=span):
            await self.app(scope, receive, sending)
