"""One request through an app's ASGI interface, with no socket and no client: server time alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode


async def get(app: Any, path: str, params: dict[str, str], headers: Sequence[tuple[bytes, bytes]] = ()
              ) -> tuple[int, dict[str, str], bytes]:
    """One GET through the ASGI interface: status, headers and the body as sent."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": urlencode(params).encode(), "headers": [(b"host", b"bench"), *headers],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    status, sent, body = 0, dict[str, str](), list[bytes]()
    answered, asked = asyncio.Event(), False

    async def receive() -> dict[str, Any]:
        # The request, then nothing until the response is out: as a server does for a client
        # that stays connected (the search route watches for the disconnect meanwhile).
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            sent.update((k.decode().lower(), v.decode()) for k, v in message["headers"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    answered.set()
    return status, sent, b"".join(body)
