"""Fixtures shared by every test package: a real server over loopback HTTP on a temp database."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import ServerThread, make_settings

ServerFactory = Callable[..., ServerThread]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers with custom settings; each is stopped at teardown."""
    started: list[ServerThread] = []

    def start(db_path: Path | None = None, **overrides: Any) -> ServerThread:
        settings = make_settings(db_path or tmp_path / "chinwag.db", **overrides)
        server = ServerThread(settings).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def server(server_factory: ServerFactory) -> ServerThread:
    return server_factory()


@pytest.fixture
def http(server: ServerThread) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client
