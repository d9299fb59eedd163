"""Pilot flows against the real bundled server over HTTP, with the fake OpenAI-compatible model."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot

from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerThread
from tests.tui.conftest import AppFactory
from tests.tui.helpers import screen_text, wait_for_workers, wait_until
from tui.app import ChinwagApp
from tui.widgets.messages import LiveBlock, MessageBlock, SummaryBlock

SIZE = (120, 40)


def replies(app: ChinwagApp) -> list[str]:
    return [b.entry.text for b in app.query(LiveBlock)]


async def send(pilot: Pilot, text: str) -> None:
    """Type and send; returns once the user's block is in the transcript."""
    app: ChinwagApp = pilot.app  # type: ignore[assignment]
    app.action_focus("composer")
    await pilot.press(*text, "enter")
    await wait_until(
        pilot,
        lambda: any(b.entry.text == text for b in app.query(MessageBlock)),
        what=f"{text!r} to be sent",
    )


async def send_and_wait(pilot: Pilot, text: str) -> None:
    app: ChinwagApp = pilot.app  # type: ignore[assignment]
    await send(pilot, text)
    await wait_until(pilot, lambda: not app.streaming, what="the reply to finish")
    await wait_for_workers(pilot)


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
            lambda: [c.summary for c in app.conversations.conversations] == ["hello there"],
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
    from tests.seed import seed_history
    from tui.client import ChinwagClient

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
