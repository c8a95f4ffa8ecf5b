"""A request body limit enforced while the body is read, not after buffering all of it.

A pure ASGI middleware: a declared ``Content-Length`` over the limit is refused before a
byte of the body is read; otherwise ``receive`` is wrapped and counts the bytes as the
application pulls them, and the first chunk that crosses the limit ends the request with
413. At most the limit plus one chunk (the server's, typically 64 KiB) is ever held, so a
20 MiB chunked upload costs the server no more memory than a 1 MiB one.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import BodyTooLarge

log = logging.getLogger(__name__)

__all__ = ["BodyLimitMiddleware"]


class _LimitExceeded(Exception):
    """Raised from ``receive`` to stop the application reading on."""


class BodyLimitMiddleware:
    """Answer 413 ``body_too_large`` (with ``limit`` and the ``size`` seen) for bodies over
    ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, declared, declared=True)
            return

        seen = 0
        started = False  # the application began its answer: too late for a 413
        refused = False  # we answered 413: whatever the application sends is dropped

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    if not started and not refused:
                        refused = True
                        await self._refuse(send, seen, declared=False)
                    raise _LimitExceeded
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _LimitExceeded:
            if not refused:
                raise
        # The application may also have turned _LimitExceeded into an answer of its own
        # (FastAPI reports a body it failed to read as 400): guarded_send dropped it.

    async def _refuse(self, send: Send, size: int, *, declared: bool) -> None:
        how = "declares" if declared else "sent at least"
        log.info("refused a request body: %s %d bytes, limit %d", how, size, self.max_bytes)
        error = BodyTooLarge(
            f"the request body {how} {size} bytes; the limit is {self.max_bytes} bytes",
            limit=self.max_bytes,
            size=size,
        )
        raw = json.dumps({"error": error.to_dict()}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.http_status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length itself
    return None
