"""Run the real server (uvicorn) in a background thread on a free loopback port, or as a
separate ``python -m backend serve`` process.

Tests talk to it over real HTTP with sync clients (httpx, the Letta SDK), so the server has its
own event loop and thread and never waits on the test's.
"""

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from starlette.applications import Starlette

from backend.app import create_app
from backend.settings import Settings
from tests.waiting import wait_for

T = TypeVar("T")


class ServerThread:
    """A started server; ``url`` is its base URL. Use :meth:`stop` (fixtures do it for you)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        self.loop: asyncio.AbstractEventLoop | None = None
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="chinwag-test-server", daemon=True)
        self._failure: BaseException | None = None

    def _run(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[self._sock])

        try:
            asyncio.run(serve())
        except BaseException as exc:  # surfaced to the test by start()
            self._failure = exc

    def call(self, work: Callable[[Starlette], Awaitable[T]], timeout: float = 10.0) -> T:
        """Run ``work(app)`` on the server's own event loop (to reach inside it) and wait."""
        assert self.loop is not None, "the server is not running"
        return asyncio.run_coroutine_threadsafe(work(self.app), self.loop).result(timeout)

    def start(self, timeout: float = 10.0) -> "ServerThread":
        self._thread.start()
        ready = threading.Event()

        def poll() -> None:
            while self._thread.is_alive() and not self._server.started:
                ready.wait(0.01)
            ready.set()

        threading.Thread(target=poll, daemon=True).start()
        if not ready.wait(timeout) or not self._server.started:
            raise RuntimeError(f"test server did not start: {self._failure!r}")
        return self

    def stop(self) -> None:
        """Stop serving; a server that was never started only gives up its socket."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


def make_settings(db_path: Path, **overrides: Any) -> Settings:
    """Settings isolated from the machine: no provider keys from the environment."""
    overrides.setdefault("env", {})
    return Settings(db_path=db_path, **overrides)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``python -m backend serve`` as a child process, as a user would run it."""

    def __init__(
        self,
        db: Path,
        config: Path,
        *args: str,
        log: Path | None = None,
        timeout: float = 20,
        open_files: int | None = None,
    ) -> None:
        """``args`` go to ``serve``; ``log`` keeps its output; ``open_files`` lowers its limit
        of open file descriptors (as ``ulimit -n`` would)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CHINWAG_CONFIG": str(config)}
        env.pop("OPENAI_API_KEY", None)
        output = log.open("ab") if log else subprocess.DEVNULL

        def limit_files() -> None:
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend",
                "serve",
                "--port",
                str(self.port),
                "--db",
                str(db),
                "--log-level",
                "warning",
                *args,
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
            preexec_fn=limit_files,
        )
        if log:
            output.close()  # type: ignore[union-attr]  # the child has its own copy
        wait_for(self._healthy, timeout=timeout)

    def _healthy(self) -> bool:
        assert self.process.poll() is None, "the server exited"
        try:
            return httpx.get(f"{self.url}/v1/health/", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
