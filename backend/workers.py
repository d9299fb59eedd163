"""``chinwag serve --workers N``: N server processes on one listening socket and one database.

Each worker is a whole server (its own event loop, connections to the database and runs); the
database's conversation locks, chunk logs and cancel requests already coordinate processes, so a
client may send to one worker and follow or cancel the run through another. The parent binds
the socket, forks the workers, restarts one that dies, and on SIGTERM or SIGINT asks each to
stop (each finishes its running turns as a lone server does) and waits for them.
"""

import contextlib
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("chinwag.server")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every worker accepts on (IPv6 too)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(sock: socket.socket, run: Callable[[socket.socket], None]) -> None:
    """In the forked child: serve until asked to stop, then leave without the parent's cleanup."""
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        run(sock)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve_workers(count: int, sock: socket.socket, run: Callable[[socket.socket], None]) -> None:
    """Run ``run(sock)`` in ``count`` forked processes until SIGTERM or SIGINT."""
    children: set[int] = set()
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            _worker(sock, run)
        children.add(pid)

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for _ in range(count):
            spawn()
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            children.discard(pid)
            if not stopping:
                log.warning(
                    "worker %d ended (status %d); starting another",
                    pid,
                    os.waitstatus_to_exitcode(status),
                )
                spawn()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sock.close()
