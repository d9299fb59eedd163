"""ASGI middleware: who may call, bearer-token auth, JSON-only bodies, the body limit, and the
last-resort 500.

They answer with API.md's error body themselves, because they sit outside Starlette's exception
handling. The order in :func:`backend.app.create_app` is the order of the checks: the caller's
``Host`` and ``Origin`` first (a web page never gets further), then the token, then the body.
"""

import functools
import hmac
import ipaddress
import json
import logging
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import (
    ApiError,
    ForbiddenHost,
    ForbiddenOrigin,
    Internal,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)

log = logging.getLogger("chinwag.server")

OPEN_PATHS = frozenset({"/v1/health", "/v1/health/"})


async def send_error(send: Send, error: ApiError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def host_name(host: str) -> str:
    """The name part of a ``Host`` header: no port, no IPv6 brackets, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        name = host.partition(":")[0]
    else:
        name = host
    return name.rstrip(".")


def is_loopback_name(name: str) -> bool:
    """``localhost`` (RFC 6761 names under it too) or a loopback address."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=64)
def _names_loopback(host: str) -> bool:
    """Whether a ``Host`` header names this machine's loopback: a client sends the same one
    on every request, and parsing an address each time cost more than the rest of the check."""
    return is_loopback_name(host_name(host))


class CallerGuard:
    """Keeps web pages out (API.md 1, "Who may call").

    Without a token, only a ``Host`` naming this machine's loopback is answered, which defeats
    DNS rebinding: a page on ``attacker.example`` that re-points its name at 127.0.0.1 still
    sends ``Host: attacker.example``. With or without a token, a request carrying the ``Origin``
    of another site is refused, unless that origin was allowed explicitly.
    """

    def __init__(
        self, app: ASGIApp, *, restrict_host: bool, allowed_origins: frozenset[str]
    ) -> None:
        self.app = app
        self.restrict_host = restrict_host
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_host = _header(scope, b"host")
        host = raw_host.decode("latin-1") if raw_host is not None else None
        if self.restrict_host and host is not None and not _names_loopback(host):
            await send_error(
                send,
                ForbiddenHost(
                    f"This server answers only requests for localhost, not for {host!r}. "
                    "Use http://localhost or http://127.0.0.1, or start it with --token."
                ),
            )
            return
        raw_origin = _header(scope, b"origin")
        if raw_origin is not None:
            origin = raw_origin.decode("latin-1").strip().rstrip("/").lower()
            own = f"{scope.get('scheme', 'http')}://{host}".lower() if host else None
            if origin != own and origin not in self.allowed_origins:
                await send_error(
                    send,
                    ForbiddenOrigin(
                        f"Requests from the web origin {origin!r} are not allowed. "
                        "Start the server with --allow-origin to allow it."
                    ),
                )
                return
        await self.app(scope, receive, send)


class TokenAuth:
    """Requires ``Authorization: Bearer <token>`` on every route but health (constant-time)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected is None or scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"authorization") or b""
        if not hmac.compare_digest(given, self.expected):
            await send_error(send, Unauthorized("Unauthorized"))
            return
        await self.app(scope, receive, send)


def is_json_media_type(value: bytes) -> bool:
    media_type = value.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json"


class JsonBodiesOnly:
    """A request with a body must declare ``Content-Type: application/json``.

    A web page can send a cross-site "simple" POST (``text/plain``, form data) without asking
    the browser's permission first; requiring JSON takes that away.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type = _header(scope, b"content-type")
        length = _header(scope, b"content-length")
        has_body = _header(scope, b"transfer-encoding") is not None or (
            length is not None and length.strip() not in (b"", b"0")
        )
        if (content_type is not None or has_body) and not (
            content_type is not None and is_json_media_type(content_type)
        ):
            shown = content_type.decode("latin-1") if content_type is not None else "none"
            await send_error(
                send,
                UnsupportedMediaType(
                    f"Request bodies must be JSON with Content-Type: application/json "
                    f"(this one's Content-Type is {shown!r})."
                ),
            )
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
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.limit:
                await send_error(send, self._error())
                return
            if _header(scope, b"transfer-encoding") is None:  # the server reads no more
                await self.app(scope, receive, send)
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


class InternalErrors:
    """Turns an unexpected exception into a logged 500 with a request id, and ends there.

    Starlette's own last-resort handler re-raises after answering, which makes the server drop
    the kept-alive connection; a client whose request failed keeps its connection here. A
    response that had already started cannot be repaired, so that one still ends the connection.
    """

    def __init__(
        self, app: ASGIApp, translate: Callable[[Exception], ApiError | None] = lambda e: None
    ) -> None:
        self.app = app
        self.translate = translate  # a known failure (a full disk) gets its own clear answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            known = self.translate(exc)
            if known is not None:
                log.error("%s %s: %s", scope["method"], scope["path"], known.detail)
                await send_error(send, known)
                return
            request_id = uuid.uuid4().hex
            log.error(
                "request %s %s %s failed",
                request_id,
                scope["method"],
                scope["path"],
                exc_info=exc,
            )
            await send_error(
                send,
                Internal(
                    "The server failed to handle this request; it has been logged.",
                    request_id=request_id,
                ),
            )
