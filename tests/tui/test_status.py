"""The status line and notices tell the truth: connection state, token advice, re-attach,
context figures, copying (issue 11, item 7)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import tui.clipboard
from tests.fakes.fake_openai import FakeOpenAI
from tests.seed import seed_history
from tests.servers import ServerThread
from tests.tui.conftest import AppFactory
from tests.tui.helpers import (
    idle_in,
    screen_text,
    send,
    send_and_wait,
    wait_for_workers,
    wait_until,
)
from tui.client import ChinwagClient
from tui.screens.dialogs import ConnectionErrorScreen
from tui.settings import AppSettings

SIZE = (130, 36)
DEFAULT_HEALTH = AppSettings.__dataclass_fields__["health_interval"].default


class Switchable(httpx.AsyncBaseTransport):
    """Real HTTP, except that while ``down`` every request fails as against a dead server;
    records the requests, and can cut streams (``cut_after`` frames) and refuse re-attaches."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.down = False
        self.refuse: Callable[[httpx.Request], bool] = lambda request: False
        self.cut_after: int | None = None
        self.seen: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        if self.down or self.refuse(request):
            raise httpx.ConnectError("connection refused")
        response = await self.inner.handle_async_request(request)
        cut = self.cut_after
        if cut is not None and request.method == "POST" and request.url.path.endswith("/messages"):
            self.cut_after = None
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=_CutAfter(response.stream, cut),
            )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _CutAfter(httpx.AsyncByteStream):
    def __init__(self, inner: Any, frames: int) -> None:
        self.inner, self.frames = inner, frames

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.inner:
            yield chunk
            seen += chunk.count(b"\n\n")
            if seen >= self.frames:
                await self.inner.aclose()
                raise httpx.ReadError("connection reset by peer")

    async def aclose(self) -> None:
        await self.inner.aclose()


def switchable_app(make_app: AppFactory, url: str, **overrides: Any) -> tuple[Any, Switchable]:
    transport = Switchable()
    app = make_app(
        url,
        client_factory=lambda u, token: ChinwagClient(u, token, transport=transport),
        **overrides,
    )
    return app, transport


async def _agent(url: str) -> str:
    api = ChinwagClient(url)
    agent = await api.create_agent("watcher")
    conversation = await api.create_conversation(agent.id, "watched")
    await api.aclose()
    return conversation.id


async def test_status_follows_the_server_going_and_coming_back(
    server: ServerThread, make_app: AppFactory
) -> None:
    await _agent(server.url)
    app, transport = switchable_app(make_app, server.url, health_interval=DEFAULT_HEALTH)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        assert app.status.state == "connected"
        transport.down = True
        await wait_until(
            pilot, lambda: app.status.state == "disconnected", timeout=10, what="disconnected"
        )
        await pilot.press("ctrl+r")  # a request while it is down: the error screen
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionErrorScreen))
        transport.down = False
        await wait_until(
            pilot, lambda: app.status.state == "connected", timeout=6, what="connected again"
        )
        await wait_until(
            pilot, lambda: not isinstance(app.screen, ConnectionErrorScreen), what="screen gone"
        )
        await wait_until(pilot, lambda: app.conversation is not None, what="reloaded")


async def test_a_wrong_token_is_told_to_check_the_token(
    server_factory: Callable[..., ServerThread], make_app: AppFactory, tmp_path: Path
) -> None:
    server = server_factory(tmp_path / "locked.db", token="right")
    app = make_app(server.url, token="wrong")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionErrorScreen))
        await pilot.pause()
        text = " ".join(screen_text(pilot).split())
        assert "refused the token" in text
        assert "Start a server" not in text


async def test_a_failed_re_attach_is_not_announced_as_re_attached(
    llm_server: ServerThread, fake_llm: FakeOpenAI, make_app: AppFactory
) -> None:
    await _agent(llm_server.url)
    fake_llm.reply = " ".join(f"w{i}" for i in range(12))
    fake_llm.deltas = 12
    fake_llm.delta_delay = 0.03
    app, transport = switchable_app(make_app, llm_server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        transport.cut_after = 4
        transport.refuse = lambda request: request.url.path.endswith("/stream")
        await send(pilot, "count")
        await wait_until(pilot, lambda: not app.streaming, timeout=20, what="the turn to end")
        await wait_for_workers(pilot, timeout=20)
        said = [n.message for n in app._notifications]
        assert not [m for m in said if "re-attached" in m], said
        assert any(p.endswith("/stream") for _, p in transport.seen)


async def test_context_figures_after_a_cancel_and_for_a_long_history(
    llm_server: ServerThread, fake_llm: FakeOpenAI, make_app: AppFactory
) -> None:
    conversation_id = await _agent(llm_server.url)
    await asyncio.to_thread(seed_history, llm_server.settings.db_path, conversation_id, 5000)
    fake_llm.reply = "one two three four five six"
    fake_llm.deltas = 6
    fake_llm.hold(after_deltas=2)
    app = make_app(llm_server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await wait_until(pilot, lambda: "msgs" in app.status.context, what="the figures")
        count, tokens = _figures(app.status.context)
        assert count >= 5000
        assert tokens >= 5000 * len("message 1234") // 4  # all of them, not the page shown

        await send(pilot, "count")
        await wait_until(pilot, lambda: app.streaming, what="the reply")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.streaming, what="cancelled")
        fake_llm.release()
        await wait_for_workers(pilot)
        assert _figures(app.status.context)[1] > 1000, app.status.context


def _figures(context: str) -> tuple[int, int]:
    """``5,003 msgs · ~15,000 tok / 8,192`` → (5003, 15000)."""
    count, _, rest = context.partition(" msgs · ~")
    return int(count.replace(",", "")), int(rest.split(" tok")[0].replace(",", ""))


async def test_a_turn_does_not_fetch_every_in_context_id(
    llm_server: ServerThread, make_app: AppFactory
) -> None:
    conversation_id = await _agent(llm_server.url)
    app, transport = switchable_app(make_app, llm_server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await wait_until(pilot, lambda: "msgs" in app.status.context, what="the figures")
        before = _figures(app.status.context)[0]
        transport.seen.clear()
        await send_and_wait(pilot, "hello")
        assert ("GET", f"/v1/conversations/{conversation_id}") not in transport.seen
        assert _figures(app.status.context)[0] > before


async def test_copy_says_copied_only_when_it_was(
    server: ServerThread, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _agent(server.url)
    monkeypatch.setattr(tui.clipboard.shutil, "which", lambda name: None)
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await send_and_wait(pilot, "something to copy")
        app.action_do("export.copy_last")
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert not [m for m in said if "copied" in m.lower() and "OSC 52" not in m], said
        assert any("OSC 52" in m for m in said)
