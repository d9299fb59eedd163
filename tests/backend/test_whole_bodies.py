"""A request that declares a small body reaches the app once the body is in (serving.py's
``_BodyFirst``), and every other request still reaches it at once: a chunked body, a body that
waits for ``100 Continue``, and a body larger than uvicorn's read buffer must be read as they
arrive, or the exchange would hang.

The real guarded uvicorn protocol serves a small recording ASGI app on loopback; the client
writes raw bytes, so the test decides where a request's head and body are split. A barrier
request on a second connection, answered only after the server has read what was sent before
it, shows what the app had seen by then.
"""

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from backend.serving import build_config
from tests.waiting import wait_for


def head(path: str, headers: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n".encode()


class EchoApp:
    """Answers each request with its whole body; records the paths it was called for."""

    def __init__(self) -> None:
        self.entered: list[str] = []
        self.messages: dict[str, int] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.entered.append(scope["path"])
        body, more, messages = b"", True, 0
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            messages += 1
        self.messages[scope["path"]] = messages
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Served:
    def __init__(self, app: EchoApp, port: int, server: uvicorn.Server) -> None:
        self.app = app
        self.port = port
        self.server = server

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def barrier(self) -> None:
        """A request on its own connection: once it is answered, the server has read every
        byte that was sent to it before."""
        with self.connect() as sock:
            sock.sendall(head("/barrier", "Content-Length: 0\r\n"))
            assert Responses(sock).next_body() == b""


@contextmanager
def serving(app: EchoApp, **options: Any) -> Iterator[Served]:
    """The guarded httptools protocol serving ``app`` on loopback, in a thread of its own."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = build_config(
        app, header_timeout=10, body_timeout=10, http="httptools", lifespan="off", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive())
        assert server.started
        yield Served(app, sock.getsockname()[1], server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def served() -> Iterator[Served]:
    with serving(EchoApp()) as served:
        yield served


class Responses:
    """The responses arriving on one connection, in order (each declares its length)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def next_body(self, status: bytes = b"200") -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 " + status), head
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")[1:]
            if line.lower().startswith(b"content-length:")
        )
        while len(self.buffer) < length:
            self._receive()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return body

    def interim(self) -> bytes:
        """The head of an informational response such as ``100 Continue``."""
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "the server closed the connection"
        self.buffer += chunk


def test_a_small_body_sent_after_its_head_reaches_the_app_whole(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(head("/late", "Content-Length: 11\r\n"))
        served.barrier()
        assert "/late" not in served.app.entered  # the head alone does not start the app
        sock.sendall(b"hello world")
        assert Responses(sock).next_body() == b"hello world"
    assert served.app.entered.count("/late") == 1
    assert served.app.messages["/late"] == 1  # one receive() got it all


def test_requests_on_one_connection_each_wait_for_their_own_body(served: Served) -> None:
    with served.connect() as sock:
        responses = Responses(sock)
        for i in range(3):  # sent whole, one after another
            body = f"body {i}".encode()
            sock.sendall(head(f"/{i}", f"Content-Length: {len(body)}\r\n"))
            sock.sendall(body)
            assert responses.next_body() == body
        pipelined = b"".join(  # three at once, the last one's body still to come
            head(f"/p{i}", "Content-Length: 4\r\n") + b"p%03d" % i for i in range(3)
        )
        sock.sendall(pipelined[:-2])
        served.barrier()
        assert "/p2" not in served.app.entered
        sock.sendall(pipelined[-2:])
        assert [responses.next_body() for _ in range(3)] == [b"p000", b"p001", b"p002"]
    assert served.app.entered[:3] == ["/0", "/1", "/2"]
    assert served.app.entered[-1] == "/p2" and served.app.entered.count("/p2") == 1


def test_a_chunked_body_reaches_the_app_as_it_arrives(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(head("/chunked", "Transfer-Encoding: chunked\r\n"))
        sock.sendall(b"5\r\nhello\r\n")
        wait_for(lambda: "/chunked" in served.app.entered)
        sock.sendall(b"6\r\n world\r\n0\r\n\r\n")
        assert Responses(sock).next_body() == b"hello world"


def test_a_body_waiting_for_100_continue_is_asked_for(served: Served) -> None:
    with served.connect() as sock:
        headers = "Content-Length: 5\r\nExpect: 100-continue\r\n"
        sock.sendall(head("/expect", headers))
        responses = Responses(sock)
        # Sent only once the app reads the body: a request held for its body would hang here.
        assert responses.interim().startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hello")
        assert responses.next_body() == b"hello"


def test_a_body_larger_than_the_read_buffer_is_read_as_it_arrives(served: Served) -> None:
    body = bytes(range(256)) * 800  # 200 KB: uvicorn stops reading past 64 KB until the app reads
    with served.connect() as sock:
        sock.sendall(head("/big", f"Content-Length: {len(body)}\r\n"))
        sock.sendall(body)
        assert Responses(sock).next_body() == body
    assert served.app.messages["/big"] > 1


def test_a_client_that_leaves_mid_body_never_reaches_the_app(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(head("/gone", "Content-Length: 100\r\n"))
        sock.sendall(b'{"half":')
        served.barrier()
    served.barrier()  # the close has been read too
    assert "/gone" not in served.app.entered


def test_a_request_still_waiting_for_its_body_at_shutdown_is_answered() -> None:
    # As uvicorn answers any request it stops waiting for: a 500 once the graceful timeout is
    # over, rather than a connection left open until the process is gone.
    with serving(EchoApp(), timeout_graceful_shutdown=0.2) as served, served.connect() as sock:
        sock.sendall(head("/stalled", "Content-Length: 100\r\n"))
        sock.sendall(b'{"half":')
        served.barrier()
        served.server.should_exit = True
        assert Responses(sock).next_body(status=b"500") == b"Internal Server Error"
