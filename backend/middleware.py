"""ASGI middleware: bearer-token auth and the request body limit.

Both answer with API.md's error body themselves, because they sit outside Starlette's exception
handling.
"""

import hmac
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import ApiError, PayloadTooLarge, Unauthorized

OPEN_PATHS = frozenset({"/v1/health", "/v1/health/"})


async def send_error(send: Send, error: ApiError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TokenAuth:
    """Requires ``Authorization: Bearer <token>`` on every route but health (constant-time)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected is None or scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(given, self.expected):
            await send_error(send, Unauthorized("Unauthorized"))
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuses bodies over ``limit`` bytes: early from Content-Length, else while reading."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _error(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body is larger than the limit of {self.limit} bytes.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await send_error(send, self._error())
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._error()
            return message

        await self.app(scope, limited_receive, send)
