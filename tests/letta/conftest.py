"""Fixtures of the opt-in tests against a real Letta server.

They run only when ``CHINWAG_LETTA_URL`` names a running Letta server (for instance the one that
``letta-reference/run.sh start`` serves on ``http://127.0.0.1:8283``); otherwise every test here
is skipped, so the default test run never needs Letta. ``CHINWAG_LETTA_MODEL`` picks the model
handle (default ``openai-proxy/gpt-4o-mini``, the reference kit's stub model, which answers
"Stub reply to: <message>" and waits 3 s when a message contains ``[slow]``);
``CHINWAG_LETTA_TOKEN`` is sent as the bearer token if set.

Every agent a test creates is deleted at the end of the test (deleting an agent deletes its
conversations and messages).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tui.client import ChinwagClient

LETTA_URL = os.environ.get("CHINWAG_LETTA_URL", "").rstrip("/")
LETTA_TOKEN = os.environ.get("CHINWAG_LETTA_TOKEN") or None
LETTA_MODEL = os.environ.get("CHINWAG_LETTA_MODEL", "openai-proxy/gpt-4o-mini")

# Apply to a whole module with ``pytestmark = LETTA``.
LETTA = [
    pytest.mark.letta,
    pytest.mark.skipif(
        not LETTA_URL, reason="set CHINWAG_LETTA_URL to the URL of a running Letta server"
    ),
]

T = TypeVar("T")


def stub_reply(text: str) -> str:
    """What the reference kit's stub model answers to ``text``."""
    return f"Stub reply to: {text}"


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def eventually(
    read: Callable[[], Awaitable[T]], timeout: float = 15.0, what: str = "condition"
) -> T:
    """Await ``read()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


class LettaRaw:
    """Plain HTTP to the Letta server, for what the client under test does not do itself:
    seeding long histories quickly, reading raw listings, finding active runs."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def seed(self, conversation_id: str, batches: int, per_batch: int) -> None:
        """Send ``batches`` requests of ``per_batch`` user messages each (not streamed): each
        request lists ``per_batch`` user messages and one assistant reply."""
        path = f"/v1/conversations/{conversation_id}/messages"
        for b in range(batches):
            messages = [{"role": "user", "content": f"m{b}-{i}"} for i in range(per_batch)]
            response = await self.http.post(path, json={"messages": messages, "streaming": False})
            response.raise_for_status()

    async def messages(self, conversation_id: str, **params: Any) -> list[dict[str, Any]]:
        """One raw listing (at most 1000 items) with Letta's own defaults unless overridden."""
        params.setdefault("limit", 1000)
        path = f"/v1/conversations/{conversation_id}/messages"
        response = await self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    async def active_run(self, conversation_id: str) -> str | None:
        """The id of a run in progress in this conversation, if any."""
        response = await self.http.get(
            "/v1/runs/", params={"conversation_id": conversation_id, "active": "true"}
        )
        response.raise_for_status()
        runs = [r for r in response.json() if r.get("status") in ("created", "running")]
        return runs[0]["id"] if runs else None


@pytest.fixture
def letta_url() -> str:
    return LETTA_URL


@pytest.fixture
async def api() -> AsyncIterator[ChinwagClient]:
    client = ChinwagClient(LETTA_URL, LETTA_TOKEN)
    yield client
    await client.aclose()


@pytest.fixture
async def raw() -> AsyncIterator[LettaRaw]:
    headers = {"Authorization": f"Bearer {LETTA_TOKEN}"} if LETTA_TOKEN else {}
    async with httpx.AsyncClient(base_url=LETTA_URL, headers=headers, timeout=60) as http:
        yield LettaRaw(http)


@pytest.fixture
async def make_agent() -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Create agents with the test model; every one is deleted at teardown."""
    client = ChinwagClient(LETTA_URL, LETTA_TOKEN)
    created: list[str] = []

    async def make(prefix: str = "chinwag-test", **kwargs: Any) -> Any:
        kwargs.setdefault("persona", "I am a terse test assistant.")
        kwargs.setdefault("human", "The human is a tester.")
        agent = await client.create_agent(unique_name(prefix), LETTA_MODEL, **kwargs)
        created.append(agent.id)
        return agent

    yield make
    for agent_id in created:
        try:
            await client.delete_agent(agent_id)
        except Exception as exc:  # report, but never hide the test's own result
            print(f"could not delete {agent_id}: {exc}")
    await client.aclose()


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never read or write the user's real config file (the app tests need this)."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("CHINWAG_CONFIG", str(path))
    monkeypatch.delenv("LETTA_BASE_URL", raising=False)
    monkeypatch.delenv("LETTA_API_KEY", raising=False)
    return path
