"""The bare sink: the accept baseline. uvicorn, configured as the hub configures it
(``hub/server.py``: h11, asyncio, log level warning, no access log), serving a raw ASGI app
that reads the whole request body and answers ``202 {"id": …}`` at once (``GET``: 200).

It runs in a subprocess of its own, as the hub does, so "accept ÷ bare sink" compares the
hub's work on top of the same HTTP server stack, process boundary and client, nothing else.
Started by ``accept.py``; alone: ``.venv/bin/python bench/bare_sink.py --port 8099``.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

ANSWER = b'{"id":"01JDBARESINK0000000000000"}'  # as long as the hub's 202 body


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = scope["type"] == "http"
    while more:  # read (and drop) the whole body, as the hub must before it answers
        more = (await receive()).get("more_body", False)
    status = 202 if scope["method"] in ("POST", "PUT") else 200
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    opts = parser.parse_args()
    uvicorn.Server(
        uvicorn.Config(app, host=opts.host, port=opts.port, log_level="warning", access_log=False)
    ).run()
