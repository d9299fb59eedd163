"""Pilot flows against the real bundled server over HTTP, with the fake OpenAI-compatible model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from textual.pilot import Pilot

from tests.fakes.fake_openai import FakeOpenAI
from tests.seed import seed_history
from tests.servers import ServerThread
from tests.tui.conftest import AppFactory
from tests.tui.helpers import (
    replies,
    screen_text,
    send,
    send_and_wait,
    wait_for_workers,
    wait_until,
)
from tui.app import ChinwagApp
from tui.client import ChinwagClient
from tui.widgets.messages import LiveBlock, MessageBlock, SummaryBlock

SIZE = (120, 40)


async def test_create_agent_chat_stream_and_compact(
    llm_server: ServerThread, fake_llm: FakeOpenAI, make_app: AppFactory
) -> None:
    fake_llm.deltas = 8
    app = make_app(llm_server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "No agents yet" in screen_text(pilot), what="hint")
        assert app.status.state == "connected"

        app.action_focus("agents")
        await pilot.press("n")
        await wait_until(pilot, lambda: len(app.screen_stack) > 1, what="new agent dialog")
        await pilot.press(*"ada", "enter")
        await wait_until(pilot, lambda: len(app.agents.agents) == 1, what="the agent")
        assert app.agents.agents[0].model == "fake/fake-model"

        await send_and_wait(pilot, "hello there")
        assert replies(app) == ["Fake reply to: hello there"]
        assert app.conversation is not None
        await wait_until(
            pilot,
            lambda: (
                [c.summary for c in app.conversations.conversations]
                == ["Default conversation", "hello there"]
            ),
            what="the conversation named after the first words",
        )
        for text in ("second", "third", "fourth"):
            await send_and_wait(pilot, text)
        assert replies(app)[-1] == "Fake reply to: fourth"
        chat = fake_llm.requests[-1]["messages"]
        assert [m["content"] for m in chat if m["role"] == "user"][-1] == "fourth"

        await pilot.press("ctrl+k")
        await wait_until(pilot, lambda: len(app.screen_stack) > 1, what="compact dialog")
        assert "In context now: 9 messages" in screen_text(pilot)
        await pilot.click("#ok")
        await wait_until(
            pilot,
            lambda: any(b.counts for b in app.query(SummaryBlock)),
            what="the summary block with counts",
        )
        block = app.query(SummaryBlock).last()
        before, after = block.counts
        assert before == 9 and after < before
        assert block.entry.text
        assert f"{before} → {after} messages" in screen_text(pilot)


async def test_page_back_through_5000_messages(server: ServerThread, make_app: AppFactory) -> None:
    api = ChinwagClient(server.url)
    agent = await api.create_agent("historian")
    conversation = await api.create_conversation(agent.id, "long")
    await api.aclose()
    ids = await asyncio.to_thread(seed_history, server.settings.db_path, conversation.id, 5000)

    app = make_app(server.url, page_size=250, window=500)
    async with app.run_test(size=SIZE) as pilot:
        view = app.messages
        await wait_until(pilot, lambda: len(view.blocks) == 250, what="the newest page")
        await wait_for_workers(pilot)
        assert view.blocks[-1].entry.text == "message 4999"
        assert view.has_older
        most = 0
        while view.has_older:
            top = view.blocks[0]
            view.scroll_home(animate=False, immediate=True)
            await wait_until(pilot, lambda top=top: view.blocks[0] is not top, what="an older page")
            await wait_for_workers(pilot)
            await pilot.pause()
            most = max(most, len(view.blocks))
            # The block that was on top is still where the reader saw it.
            assert top.is_attached and top.virtual_region.y > 0
            assert abs(view.scroll_y - top.virtual_region.y) <= 1
        assert most <= 500
        assert view.blocks[0].entry.id == ids[0]
        assert view.blocks[0].entry.text == "message 0"
        assert view.has_newer  # the newest side was pruned to keep the window bounded
        assert len(app.query(MessageBlock)) <= 500


async def open_new_conversation(
    url: str, pilot: Pilot, summary: str = "flow"
) -> tuple[ChinwagClient, str]:
    """Make an agent and conversation through the API and wait until the app shows them."""
    app: ChinwagApp = pilot.app  # type: ignore[assignment]
    api = ChinwagClient(url)
    agent = await api.create_agent("flow")
    conversation = await api.create_conversation(agent.id, summary)
    app.action_do("connection.refresh")
    await wait_until(
        pilot,
        lambda: app.conversation is not None and app.conversation.id == conversation.id,
        what="the conversation to open",
    )
    await wait_for_workers(pilot)
    return api, conversation.id


async def test_escape_cancels_and_keeps_partial_text(
    llm_server: ServerThread, fake_llm: FakeOpenAI, make_app: AppFactory
) -> None:
    fake_llm.reply = "one two three four five six"
    fake_llm.deltas = 6
    fake_llm.hold(after_deltas=2)
    app = make_app(llm_server.url)
    async with app.run_test(size=SIZE) as pilot:
        api, conversation_id = await open_new_conversation(llm_server.url, pilot)
        await send(pilot, "count")
        await wait_until(pilot, lambda: replies(app) == ["one two "], what="partial reply")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.streaming, what="the stream to end")
        fake_llm.release()
        await wait_for_workers(pilot)
        block = app.query(LiveBlock).last()
        assert block.entry.text == "one two "
        assert "cancelled" in str(block.border_title)
        listed = await api.newest_page(conversation_id)
        assert [m.content for m in listed.messages if m.message_type == "assistant_message"] == [
            "one two "
        ]
        await api.aclose()


async def test_busy_conversation_keeps_draft_and_attaches(
    llm_server: ServerThread, fake_llm: FakeOpenAI, make_app: AppFactory
) -> None:
    fake_llm.reply = "alpha beta gamma delta"
    fake_llm.deltas = 4
    fake_llm.hold(after_deltas=2)
    app = make_app(llm_server.url)
    async with app.run_test(size=SIZE) as pilot:
        api, conversation_id = await open_new_conversation(llm_server.url, pilot)

        async def other_client() -> None:
            async for _ in api.send(conversation_id, "from elsewhere"):
                pass

        elsewhere = asyncio.create_task(other_client())
        await asyncio.to_thread(fake_llm.wait_for_held, 1)

        app.action_focus("composer")
        await pilot.press(*"my draft", "enter")
        await wait_until(pilot, lambda: app.chat.busy_run_id is not None, what="the busy banner")
        assert app.composer.text == "my draft"
        assert "busy" in screen_text(pilot) and app.chat.busy_run_id in screen_text(pilot)

        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: replies(app) == ["alpha beta "], what="the replay")
        # The other client's prompt is shown above its reply.
        prompts = [b.entry.text for b in app.query(MessageBlock) if b.entry.kind == "user"]
        assert prompts[-1:] == ["from elsewhere"]
        fake_llm.release()
        await wait_until(pilot, lambda: not app.streaming, what="the attached reply to end")
        await wait_for_workers(pilot)
        assert replies(app) == ["alpha beta gamma delta"]
        assert app.chat.busy_run_id is None
        assert app.composer.text == "my draft"
        await elsewhere
        await api.aclose()


class DropFirstStream(httpx.AsyncBaseTransport):
    """A real HTTP transport that cuts the first send's stream after ``frames`` SSE frames."""

    def __init__(self, frames: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.frames = frames
        self.paths: list[str] = []
        self.dropped = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.paths.append(request.url.path)
        if request.method == "POST" and request.url.path.endswith("/messages") and not self.dropped:
            self.dropped = True
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=_CutAfter(response.stream, self.frames),
            )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _CutAfter(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, frames: int) -> None:
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


async def test_dropped_stream_reattaches_without_duplicate_or_missing_text(
    llm_server: ServerThread, fake_llm: FakeOpenAI, make_app: AppFactory
) -> None:
    words = [f"w{i} " for i in range(12)]
    fake_llm.reply = "".join(words).strip()
    fake_llm.deltas = 12
    fake_llm.delta_delay = 0.03
    transport = DropFirstStream(frames=4)
    app = make_app(
        llm_server.url,
        client_factory=lambda url, token: ChinwagClient(url, token, transport=transport),
    )
    async with app.run_test(size=SIZE) as pilot:
        api, _ = await open_new_conversation(llm_server.url, pilot)
        await send_and_wait(pilot, "count to twelve")
        assert transport.dropped
        assert any(p.endswith("/stream") for p in transport.paths)
        assert replies(app) == [fake_llm.reply]
        await api.aclose()
