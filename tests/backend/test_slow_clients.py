"""Slow clients never lock everyone out (issue 8, point 3): request heads and bodies have a
deadline, connections stay below the open-file limit, and an overload is logged once per
interval. The server runs as ``chinwag serve`` in a child process with a lowered file limit."""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ServerProcess
from tests.waiting import wait_for

OPEN_FILES = 200  # the child's limit; the test opens more slow sockets than that
SLOW_SOCKETS = 300
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0


@pytest.fixture
def slow_server(tmp_path: Path, config_file: Path) -> Iterator[tuple[ServerProcess, Path]]:
    log = tmp_path / "server.log"
    server = ServerProcess(
        tmp_path / "c.db",
        config_file,
        "--header-timeout",
        str(HEADER_TIMEOUT),
        "--body-timeout",
        str(BODY_TIMEOUT),
        log=log,
        open_files=OPEN_FILES,
    )
    yield server, log
    server.stop()


def is_closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_sockets_beyond_the_file_limit_do_not_lock_out_others(
    slow_server: tuple[ServerProcess, Path],
) -> None:
    server, log = slow_server
    slow: list[socket.socket] = []
    try:
        for _ in range(SLOW_SOCKETS):  # each sends half a request head, then nothing
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /v1/health/ HTTP/1.1\r\nHost: localhost\r\n")
            slow.append(sock)
        started = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=5) as http:
            for _ in range(5):
                assert http.get("/v1/health/").status_code == 200
                assert http.post("/v1/agents/", json={"name": "a"}).status_code == 200
        assert time.monotonic() - started < 5  # far from the header timeout: nobody waited
        # Every slow socket is closed within the header timeout (plus slack).
        wait_for(lambda: all(is_closed_by_server(s) for s in slow), timeout=HEADER_TIMEOUT + 8)
    finally:
        for sock in slow:
            sock.close()
    assert server.process.poll() is None
    text = log.read_text()
    assert "Too many open files" not in text and "Traceback" not in text
    overloads = [line for line in text.splitlines() if "overloaded" in line]
    assert 1 <= len(overloads) <= 3, overloads  # once per interval, not once per socket


def test_a_body_that_stops_coming_is_cut_off(slow_server: tuple[ServerProcess, Path]) -> None:
    server, _ = slow_server
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/agents/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"name": '
        )
        started = time.monotonic()
        wait_for(lambda: is_closed_by_server(sock), timeout=BODY_TIMEOUT + 8)
        assert time.monotonic() - started >= BODY_TIMEOUT * 0.8
    with httpx.Client(base_url=server.url, timeout=5) as http:
        assert http.get("/v1/agents/").json() == []


def test_a_slow_but_steady_head_is_still_cut_at_the_deadline(
    slow_server: tuple[ServerProcess, Path],
) -> None:
    """Slowloris: a byte now and then must not keep a connection forever."""
    server, _ = slow_server
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        closed = False
        for byte in b"GET /v1/health/ HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if is_closed_by_server(sock):  # also paces the bytes, 0.05 s apart
                closed = True
                break
        assert closed
        assert time.monotonic() - started < HEADER_TIMEOUT + 3
