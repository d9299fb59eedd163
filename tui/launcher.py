"""Starts the bundled server as a child process for ``chinwag`` without ``--server``.

The TUI never imports ``backend``: the server runs as ``python -m backend serve`` in its own
process, on a free loopback port, and is stopped when the TUI exits.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


class LaunchError(RuntimeError):
    """The embedded server did not become healthy; the message carries its last output."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    """A ``python -m backend serve`` child bound to 127.0.0.1."""

    def __init__(self, db: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._db = db
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child

    def spawn(self) -> None:
        """Start the child; it becomes usable once :meth:`wait_ready` returns."""
        args = [sys.executable, "-m", "backend", "serve", "--host", "127.0.0.1"]
        args += ["--port", str(self.port)]
        if self._db is not None:
            self._db.parent.mkdir(parents=True, exist_ok=True)
            args += ["--db", str(self._db)]
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )

    async def wait_ready(self, timeout: float = 15.0) -> str:
        """Poll ``GET /v1/health/`` (bounded) until the child answers; return its URL."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=0.5) as http:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    raise LaunchError(f"The bundled server exited at start:\n{self.output()}")
                try:
                    if (await http.get(f"{self.url}/v1/health/")).status_code == 200:
                        return self.url
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise LaunchError(f"The bundled server did not answer at {self.url} within {timeout:.0f} s")

    def output(self) -> str:
        """What the child has written so far (shown when it fails to start)."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()

    def stop(self) -> None:
        """Terminate the child (kill it if it lingers)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
