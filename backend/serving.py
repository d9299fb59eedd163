"""The HTTP server around the app: uvicorn, guarded against slow clients, stopped gracefully.

uvicorn alone waits forever for a request's head or body and accepts connections until the
process runs out of file descriptors, after which every accept logs a traceback. Here:

- a request head must arrive within ``header_timeout`` seconds, and its body within
  ``body_timeout`` seconds of the head (a response that streams for long is not limited);
- the open connections stay below the file-descriptor limit: past the cap, the connection that
  has waited longest for a request head is closed to make room (a slow client gives way to a
  new one), and a new connection is refused only when every open one is busy with a request;
- an overload is logged once per interval, with counts, never once per connection;
- on SIGTERM (or Ctrl-C) every running turn is cancelled first, so each open stream ends with
  ``stop_reason`` and ``[DONE]`` and the partial reply is stored, before connections close;
- a request with a small declared body reaches the app once its body is in (see
  :class:`_BodyFirst`).
"""

import asyncio
import importlib
import logging
import os
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT

log = logging.getLogger("chinwag.server")

OVERLOAD_LOG_SECONDS = 10.0
LISTEN_QUEUE = 2048
_PROTOCOLS = {
    "h11": "uvicorn.protocols.http.h11_impl:H11Protocol",
    "httptools": "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol",
}


@dataclass
class Limits:
    """How long a client may take, and how many connections may be open at once."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 1000
    backlog: int = 2048

    @classmethod
    def for_fd_limit(cls, header_timeout: float, body_timeout: float) -> "Limits":
        """Leave a quarter of the open-file limit (at least 64) for the database, the model's
        connections and logs, and accept in bursts small enough never to cross the limit."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY or soft <= 0:
            soft = 65536
        reserve = max(64, soft // 4)
        return cls(
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            max_connections=max(16, soft - reserve),
            backlog=max(8, min(2048, reserve // 4)),
        )


@dataclass
class Overload:
    """Counts refused and evicted connections; logs them once per interval."""

    limit: int
    interval: float = OVERLOAD_LOG_SECONDS
    refused: int = 0
    evicted: int = 0
    _window_ends: float = 0.0
    _flush: asyncio.TimerHandle | None = field(default=None, repr=False)

    def note(self, *, evicted: bool) -> None:
        if evicted:
            self.evicted += 1
        else:
            self.refused += 1
        now = time.monotonic()
        if now >= self._window_ends:
            self._report()
            self._window_ends = now + self.interval
            self._flush = asyncio.get_running_loop().call_later(self.interval, self._report)

    def _report(self) -> None:
        if self.refused or self.evicted:
            log.warning(
                "overloaded: at the limit of %d connections (below the open-file limit); in "
                "the last %.0f s closed %d that were slow to send a request, refused %d",
                self.limit,
                self.interval,
                self.evicted,
                self.refused,
            )
        self.refused = self.evicted = 0


class _Guarded:
    """Mixed into a uvicorn HTTP protocol: deadlines for the head and the body, and the cap."""

    limits: Limits
    overload: Overload
    # Provided by the uvicorn protocol this is mixed into.
    connections: set[Any]
    transport: asyncio.Transport
    cycle: Any
    loop: asyncio.AbstractEventLoop

    _phase = "new"
    _phase_since = 0.0
    _timer: asyncio.TimerHandle | None = None
    _cycle_seen: Any = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        if len(self.connections) > self.limits.max_connections and not self._make_room():
            self.overload.note(evicted=False)
            transport.abort()
            return
        self._enter("head", self.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter("closed", None)
        super().connection_lost(exc)  # type: ignore[misc]

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for a request head; False if none."""
        waiting = [
            c for c in self.connections if c is not self and getattr(c, "_phase", None) == "head"
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._phase_since)
        oldest._enter("closed", None)
        oldest.transport.abort()
        self.overload.note(evicted=True)
        return True

    def _follow(self) -> None:
        """Move to the phase the request is in: its head, its body, or the app's answer."""
        if self._phase == "closed":
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            if self._phase != "head":
                self._enter("head", self.limits.header_timeout)
        elif cycle.more_body:
            if self._phase != "body" or cycle is not self._cycle_seen:
                self._cycle_seen = cycle
                self._enter("body", self.limits.body_timeout)
        elif self._phase != "answer":
            self._enter("answer", None)

    def _enter(self, phase: str, timeout: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._phase = phase
        self._phase_since = time.monotonic()
        if timeout is not None:
            self._timer = self.loop.call_later(timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self._enter("closed", None)
            self.transport.close()


class _BodyFirst:
    """Mixed into uvicorn's httptools protocol: a request that declares a small body starts
    the app once that body is in.

    A client such as httpx writes a request's head and body separately. Started on the head,
    the app runs up to its first ``receive()``, waits there, and is woken again through every
    middleware: that second pass cost a small POST (a retried send) about a tenth of its CPU.
    A body that may be large (over uvicorn's read buffer), comes in chunks, or waits for ``100
    Continue`` must be read as it arrives, so that request still starts at once.
    """

    # Provided by the uvicorn protocol this is mixed into.
    cycle: Any

    _held: tuple[Any, Any] | None = None

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if cycle.more_body and not cycle.waiting_for_100_continue and _small_body(cycle.scope):
            self._held = (cycle, app)
            return
        super()._start_asgi_task(cycle, app)  # type: ignore[misc]

    def on_message_complete(self) -> None:
        super().on_message_complete()  # type: ignore[misc]
        held = self._held
        if held is not None and held[0] is self.cycle and not self.cycle.more_body:
            self._held = None
            super()._start_asgi_task(*held)  # type: ignore[misc]

    def shutdown(self) -> None:
        """At shutdown a request still waiting for its body starts after all: uvicorn answers
        a request it stops waiting for (a 500 after the graceful timeout) through its task."""
        held, self._held = self._held, None
        if held is not None and held[0] is self.cycle:
            super()._start_asgi_task(*held)  # type: ignore[misc]
        super().shutdown()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._held = None  # the request never came whole: there is no one to answer
        super().connection_lost(exc)  # type: ignore[misc]


def _small_body(scope: dict[str, Any]) -> bool:
    """Whether the request declares a body of at most uvicorn's read buffer, sent whole."""
    length = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
        elif name == b"transfer-encoding":
            return False
    return length is not None and length.isdigit() and 0 < int(length) <= HIGH_WATER_LIMIT


def guarded_protocol(http: str, limits: Limits) -> type[asyncio.Protocol]:
    """uvicorn's ``http`` protocol (``auto``, ``h11`` or ``httptools``) with the guards."""
    if http == "auto":
        try:
            import httptools  # noqa: F401
        except ImportError:
            http = "h11"
        else:
            http = "httptools"
    module_name, _, class_name = _PROTOCOLS[http].partition(":")
    base = getattr(importlib.import_module(module_name), class_name)
    namespace = {"limits": limits, "overload": Overload(limits.max_connections)}
    mixins = (_Guarded, _BodyFirst) if http == "httptools" else (_Guarded,)
    return type(f"Guarded{class_name}", (*mixins, base), namespace)


class Server(uvicorn.Server):
    """uvicorn's server that ends the app's runs before it closes connections."""

    def __init__(
        self, config: uvicorn.Config, before_shutdown: Callable[[], Awaitable[None]]
    ) -> None:
        super().__init__(config)
        self.before_shutdown = before_shutdown

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        _quiet_accept_errors(asyncio.get_running_loop())
        await super().startup(sockets)
        # asyncio accepts at most ``backlog`` connections per turn of the loop, and uses the
        # same number for the kernel's queue. The turn stays small (see Limits) while the
        # queue is made long again, so a burst of clients waits there instead of being dropped.
        for server in getattr(self, "servers", []):
            for listening in server.sockets:
                with socket.socket(fileno=os.dup(listening.fileno())) as sock:
                    sock.listen(LISTEN_QUEUE)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await self.before_shutdown()
        except Exception:
            log.exception("could not end the running turns before stopping")
        await super().shutdown(sockets)


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Out of file descriptors, asyncio logs a traceback per failed accept: one line per
    interval is enough."""
    default = loop.get_exception_handler()
    next_report = 0.0
    suppressed = 0

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        nonlocal next_report, suppressed
        if context.get("message") != "socket.accept() out of system resource":
            if default is not None:
                default(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now < next_report:
            suppressed += 1
            return
        log.warning(
            "overloaded: cannot accept connections (%s); %d more such failures since the last "
            "report",
            context.get("exception"),
            suppressed,
        )
        suppressed, next_report = 0, now + OVERLOAD_LOG_SECONDS

    loop.set_exception_handler(handler)


def build_config(
    app: Any, *, header_timeout: float, body_timeout: float, http: str = "auto", **options: Any
) -> uvicorn.Config:
    """uvicorn's configuration with the guards; ``options`` (host, port …) pass through."""
    limits = Limits.for_fd_limit(header_timeout, body_timeout)
    return uvicorn.Config(
        app, http=guarded_protocol(http, limits), backlog=limits.backlog, **options
    )
