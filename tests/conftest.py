"""Fixtures shared by every test package: a real server over loopback HTTP on a temp database."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.fake_openai import FakeOpenAI
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


@pytest.fixture(scope="session")
def _fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_llm(_fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The fake OpenAI-compatible model, reset for each test (one server for the session)."""
    _fake_openai.reset()
    yield _fake_openai
    _fake_openai.reset()


def fake_provider_config(fake: FakeOpenAI, **overrides: Any) -> dict[str, Any]:
    """A config whose first provider, ``fake``, is the fake model (so it is the default)."""
    table = {
        "base_url": fake.base_url,
        "api_key": "test-key",
        "models": list(fake.models),
        # Longer than any hold lasts on a loaded machine: a reply a test holds open must not
        # fail as a model timeout meanwhile (the timeout's own test sets a short one).
        "timeout": 120,
        **overrides,
    }
    return {"providers": {"fake": table}}


@pytest.fixture
def llm_server(server_factory: ServerFactory, fake_llm: FakeOpenAI) -> ServerThread:
    """A server whose agents default to ``fake/fake-model``."""
    return server_factory(config=fake_provider_config(fake_llm))


@pytest.fixture
def config_file(tmp_path: Path, fake_llm: FakeOpenAI) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[providers.fake]\nbase_url = "{fake_llm.base_url}"\napi_key = "k"\n'
        'models = ["fake-model"]\n'
    )
    return path
