"""The app driven with ``App.run_test()`` against a real Letta server: opt-in, see ``conftest.py``.

The same flows as ``tests/tui/test_flows.py`` runs against the bundled server: open an agent and
a conversation, send and watch the streamed reply, page back through a long history, compact
with the compaction key. What differs from the bundled server is listed in ``docs/letta-compat.md``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from shared_schema import PingMessage
from tests.letta.conftest import (
    LETTA,
    LETTA_MODEL,
    LETTA_TOKEN,
    LETTA_URL,
    LettaRaw,
    eventually,
    stub_reply,
)
from tests.tui import helpers
from tests.tui.helpers import replies, screen_text, send, wait_for_workers, wait_until
from tui.app import ChinwagApp
from tui.client import ChinwagClient
from tui.config import load_config
from tui.settings import AppSettings
from tui.widgets.messages import LiveBlock, SummaryBlock

pytestmark = LETTA

SIZE = (120, 40)
# A real Letta server answers more slowly than the bundled one.
send_and_wait = functools.partial(helpers.send_and_wait, timeout=20)
MakeAgent = Callable[..., Awaitable[Any]]
AppFactory = Callable[..., ChinwagApp]


@pytest.fixture
def make_app(isolated_config: Path, tmp_path: Path) -> AppFactory:
    """An app pointed at the Letta server, with the settings that make runs repeatable."""

    def make(**overrides: Any) -> ChinwagApp:
        values: dict[str, Any] = {
            "config": load_config(isolated_config),
            "server_url": LETTA_URL,
            "token": LETTA_TOKEN,
            "cursor_blink": False,
            "show_latency": False,
            "health_interval": 0,
            "export_dir": tmp_path,
        }
        values.update(overrides)
        return ChinwagApp(AppSettings(**values))

    return make


@pytest.fixture
async def other_client() -> AsyncIterator[ChinwagClient]:
    """A second client, as another terminal talking to the same conversation."""
    client = ChinwagClient(LETTA_URL, LETTA_TOKEN)
    yield client
    await client.aclose()


class RecordingClient(ChinwagClient):
    """The app's client, keeping what ``send`` yielded so a test can tell how far it got."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chunks: list[Any] = []

    async def send(
        self, conversation_id: str, text: str, *, otid: str | None = None
    ) -> AsyncIterator[Any]:
        async for chunk in super().send(conversation_id, text, otid=otid):
            self.chunks.append(chunk)
            yield chunk


def transcript(app: ChinwagApp) -> list[tuple[str, str]]:
    return [(b.entry.kind, b.entry.text) for b in app.messages.blocks]


async def opened(pilot: Pilot, conversation_id: str) -> None:
    """Wait until the app shows this conversation (opened from the settings)."""
    app: ChinwagApp = pilot.app  # type: ignore[assignment]
    await wait_until(
        pilot,
        lambda: app.conversation is not None and app.conversation.id == conversation_id,
        timeout=20,
        what="the conversation to open",
    )
    await wait_for_workers(pilot, timeout=20)


async def start_slow_reply(
    client: ChinwagClient, raw: LettaRaw, conversation_id: str, text: str
) -> asyncio.Task[None]:
    """Another client starts a ``[slow]`` reply; returns once Letta reports the run active."""

    async def run() -> None:
        async for _ in client.send(conversation_id, text):
            pass

    task = asyncio.create_task(run())
    await eventually(lambda: raw.active_run(conversation_id), what="the other client's run")
    return task


async def test_open_send_streamed_reply_and_compact(
    api: ChinwagClient, make_agent: MakeAgent, make_app: AppFactory
) -> None:
    agent = await make_agent()
    conversation = await api.create_conversation(agent.id, "letta flow")
    async for _ in api.send(conversation.id, "earlier"):
        pass

    app = make_app(agent_id=agent.id, conversation_id=conversation.id)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, conversation.id)
        assert app.status.state == "connected"
        assert app.status.version and app.status.model == LETTA_MODEL
        assert app.agent is not None and app.agent.id == agent.id
        assert [c.summary for c in app.conversations.conversations] == [
            "Default conversation",
            "letta flow",
        ]
        # Letta's listing has no roles and parts of content; the transcript still reads right.
        assert transcript(app)[0][0] == "system"
        assert transcript(app)[1:] == [("user", "earlier"), ("assistant", stub_reply("earlier"))]

        await send_and_wait(pilot, "hello from the app")
        assert replies(app) == [stub_reply("hello from the app")]
        block = app.query(LiveBlock).last()
        assert "cancelled" not in str(block.border_title)
        assert "failed" not in str(block.border_title)
        for text in ("second", "third"):
            await send_and_wait(pilot, text)
        assert replies(app)[-1] == stub_reply("third")

        in_context = len((await api.get_conversation(conversation.id)).in_context_message_ids)
        assert in_context == 9
        await pilot.press("ctrl+k")
        await wait_until(pilot, lambda: len(app.screen_stack) > 1, what="the compact dialog")
        assert f"In context now: {in_context} messages" in screen_text(pilot)
        await pilot.click("#ok")
        await wait_until(
            pilot,
            lambda: any(b.counts for b in app.query(SummaryBlock)),
            timeout=20,
            what="the summary block with counts",
        )
        await wait_for_workers(pilot, timeout=20)
        summaries = list(app.query(SummaryBlock))
        assert len(summaries) == 1, "Letta's system_alert is shown as the summary block"
        before, after = summaries[0].counts
        assert before == in_context and after < before
        assert summaries[0].entry.text.startswith("Summary")
        assert "system_alert" not in summaries[0].entry.text
        assert f"{before} → {after} messages" in str(summaries[0].border_title)
        fresh = await api.get_conversation(conversation.id)
        assert len(fresh.in_context_message_ids) == after
        assert summaries[0].entry.id == fresh.in_context_message_ids[1]

        # Chatting goes on after the compaction.
        await send_and_wait(pilot, "after the summary")
        assert replies(app)[-1] == stub_reply("after the summary")


async def test_after_compaction_the_transcript_is_the_current_context(
    api: ChinwagClient, make_agent: MakeAgent, make_app: AppFactory
) -> None:
    agent = await make_agent()
    conversation = await api.create_conversation(agent.id, "compacted")
    app = make_app(agent_id=agent.id, conversation_id=conversation.id)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, conversation.id)
        for text in ("one", "two", "three", "four"):
            await send_and_wait(pilot, text)
        await pilot.press("ctrl+k")
        await wait_until(pilot, lambda: len(app.screen_stack) > 1, what="the compact dialog")
        await pilot.click("#ok")
        await wait_until(
            pilot,
            lambda: any(b.counts for b in app.query(SummaryBlock)),
            timeout=20,
            what="the summary block with counts",
        )
        await wait_for_workers(pilot, timeout=20)
        fresh = await api.get_conversation(conversation.id)
        shown = [b.entry.id for b in app.messages.blocks]
        assert shown == fresh.in_context_message_ids  # [system, summary, kept turns…]
        before, after = app.query(SummaryBlock).last().counts
        assert f"{before} → {after} messages" in screen_text(pilot)


async def test_open_a_conversation_compacted_elsewhere_shows_its_summary(
    api: ChinwagClient, make_agent: MakeAgent, make_app: AppFactory
) -> None:
    agent = await make_agent()
    conversation = await api.create_conversation(agent.id, "compacted elsewhere")
    for i in range(3):
        async for _ in api.send(conversation.id, f"message {i}"):
            pass
    result = await api.compact(conversation.id, "all")
    assert result.num_messages_after < result.num_messages_before
    app = make_app(agent_id=agent.id, conversation_id=conversation.id)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, conversation.id)
        fresh = await api.get_conversation(conversation.id)
        assert [b.entry.id for b in app.messages.blocks] == fresh.in_context_message_ids
        assert "summary" in [b.entry.kind for b in app.messages.blocks]


async def test_page_back_to_the_oldest_message_and_forward_again(
    api: ChinwagClient, raw: LettaRaw, make_agent: MakeAgent, make_app: AppFactory
) -> None:
    agent = await make_agent()
    conversation = await api.create_conversation(agent.id, "long")
    await raw.seed(conversation.id, batches=6, per_batch=10)
    everything = [m["id"] for m in await raw.messages(conversation.id, order="asc")]
    assert len(everything) == 67

    app = make_app(agent_id=agent.id, conversation_id=conversation.id, page_size=10, window=30)
    async with app.run_test(size=SIZE) as pilot:
        view = app.messages
        await opened(pilot, conversation.id)
        await wait_until(pilot, lambda: len(view.blocks) == 10, what="the newest page")
        assert [b.entry.id for b in view.blocks] == everything[-10:]
        assert view.has_older

        seen = {b.entry.id for b in view.blocks}
        most = 0
        while view.has_older:
            top = view.blocks[0]
            view.scroll_home(animate=False, immediate=True)
            await wait_until(pilot, lambda top=top: view.blocks[0] is not top, what="older page")
            await wait_for_workers(pilot)
            await pilot.pause()
            window = [b.entry.id for b in view.blocks]
            start = everything.index(window[0])
            assert window == everything[start : start + len(window)], "no gap, no duplicate"
            assert top.is_attached, "the block that was on top is still there"
            seen.update(window)
            most = max(most, len(window))
        assert view.blocks[0].entry.id == everything[0]
        assert view.blocks[0].entry.kind == "system"
        assert seen == set(everything)
        assert most <= 30
        assert view.has_newer  # the newest side was pruned to keep the window bounded

        while view.has_newer:
            bottom = view.blocks[-1]
            view.scroll_end(animate=False, immediate=True)
            await wait_until(
                pilot, lambda bottom=bottom: view.blocks[-1] is not bottom, what="newer page"
            )
            await wait_for_workers(pilot)
            await pilot.pause()
            window = [b.entry.id for b in view.blocks]
            start = everything.index(window[0])
            assert window == everything[start : start + len(window)], "no gap, no duplicate"
        assert view.blocks[-1].entry.id == everything[-1]
        assert len(view.blocks) <= 30


async def test_busy_conversation_keeps_the_draft(
    api: ChinwagClient,
    raw: LettaRaw,
    other_client: ChinwagClient,
    make_agent: MakeAgent,
    make_app: AppFactory,
) -> None:
    agent = await make_agent()
    conversation = await api.create_conversation(agent.id, "busy")
    app = make_app(agent_id=agent.id, conversation_id=conversation.id)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, conversation.id)
        elsewhere = await start_slow_reply(other_client, raw, conversation.id, "[slow] elsewhere")

        app.action_focus("composer")
        await pilot.press(*"my draft", "enter")
        await wait_until(pilot, lambda: app.chat.busy_run_id is not None, what="the busy banner")
        assert app.chat.busy_run_id == await raw.active_run(conversation.id)
        assert app.composer.text == "my draft"
        assert "busy" in screen_text(pilot)
        await asyncio.wait_for(elsewhere, 30)


async def test_attach_key_shows_the_reply_that_keeps_it_busy(
    api: ChinwagClient,
    raw: LettaRaw,
    other_client: ChinwagClient,
    make_agent: MakeAgent,
    make_app: AppFactory,
) -> None:
    agent = await make_agent()
    conversation = await api.create_conversation(agent.id, "attach")
    app = make_app(agent_id=agent.id, conversation_id=conversation.id)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, conversation.id)
        elsewhere = await start_slow_reply(other_client, raw, conversation.id, "[slow] watch me")
        try:
            app.action_focus("composer")
            await pilot.press(*"my draft", "enter")
            await wait_until(
                pilot, lambda: app.chat.busy_run_id is not None, what="the busy banner"
            )
            await pilot.press("ctrl+o")
            await wait_until(
                pilot,
                lambda: replies(app) == [stub_reply("[slow] watch me")] and not app.streaming,
                timeout=15,
                what="the attached reply",
            )
            assert app.composer.text == "my draft"
        finally:
            await asyncio.wait_for(asyncio.gather(elsewhere, return_exceptions=True), 30)


async def test_escape_cancels_the_reply(
    api: ChinwagClient, raw: LettaRaw, make_agent: MakeAgent, make_app: AppFactory
) -> None:
    agent = await make_agent()
    conversation = await api.create_conversation(agent.id, "cancel")
    clients: list[RecordingClient] = []

    def client_factory(url: str, token: str | None) -> ChinwagClient:
        clients.append(RecordingClient(url, token))
        return clients[-1]

    app = make_app(
        agent_id=agent.id, conversation_id=conversation.id, client_factory=client_factory
    )
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, conversation.id)
        await send(pilot, "[slow] cancel me")
        # Cancel once the reply's stream has begun (Letta is then waiting on the model); a
        # cancel that lands before that ends the stream cleanly, with [DONE].
        await wait_until(
            pilot,
            lambda: any(isinstance(c, PingMessage) for c in clients[0].chunks),
            what="the stream to begin",
        )
        await pilot.press("escape")
        await eventually(
            lambda: _no_active_run(raw, conversation.id), what="the run to be cancelled"
        )
        await wait_until(pilot, lambda: not app.streaming, timeout=15, what="the stream to end")
        user = next(b for b in app.messages.blocks if b.entry.text == "[slow] cancel me")
        assert user.has_class("cancelled")


async def _no_active_run(raw: LettaRaw, conversation_id: str) -> bool:
    return await raw.active_run(conversation_id) is None


async def test_agent_details_edit_a_memory_block_on_letta(
    api: ChinwagClient, make_agent: MakeAgent, make_app: AppFactory
) -> None:
    agent = await make_agent()
    app = make_app(agent_id=agent.id)
    async with app.run_test(size=(120, 44)) as pilot:
        await helpers.idle_in(pilot, "agents")
        # Typed at once, before Letta has answered: open, go to the persona block, type, save.
        helpers.type_burst(pilot, "e", "tab", *"Brief. ", "ctrl+s")
        await wait_until(
            pilot,
            lambda: any("Saved agent" in n.message for n in app._notifications),
            timeout=20,
            what="the save",
        )
        assert len(app.screen_stack) == 1
    saved = await api.get_agent(agent.id)
    blocks = {b.label: b.value for b in (saved.memory.blocks or saved.blocks)}
    assert blocks["persona"] == "Brief. I am a terse test assistant."
    assert blocks["human"] == "The human is a tester."
