"""Long histories: one key to the newest or the oldest message, page keys that move exactly
one screen across page loads, and marks for loading and for news below (issue 11, item 5)."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot

from tests.fakes.fake_openai import FakeOpenAI
from tests.seed import seed_history
from tests.servers import ServerThread
from tests.tui.conftest import AppFactory
from tests.tui.helpers import (
    replies,
    screen_text,
    send,
    type_burst,
    wait_for_workers,
    wait_until,
)
from tui.app import ChinwagApp
from tui.client import ChinwagClient

SIZE = (120, 40)
ROWS_PER_MESSAGE = 4  # border, one line of text, border, margin


async def _history(server: ServerThread, n: int) -> str:
    api = ChinwagClient(server.url)
    agent = await api.create_agent("historian")
    conversation = await api.create_conversation(agent.id, "long")
    await api.aclose()
    await asyncio.to_thread(seed_history, server.settings.db_path, conversation.id, n)
    return conversation.id


def _row(app: ChinwagApp) -> int:
    """The row of the whole history at the top of the view (every block is the same height)."""
    view = app.messages
    first = int(view.blocks[0].entry.text.split()[1])
    return first * ROWS_PER_MESSAGE + round(view.scroll_y)


async def _settled(pilot: Pilot) -> None:
    await wait_for_workers(pilot)
    await pilot.pause()
    await pilot.pause()


async def test_home_and_end_reach_the_first_and_newest_message_in_one_press(
    server: ServerThread, make_app: AppFactory
) -> None:
    await _history(server, 3000)
    app = make_app(server.url, page_size=50, window=150)
    async with app.run_test(size=SIZE) as pilot:
        view = app.messages
        await wait_until(pilot, lambda: len(view.blocks) == 50, what="the newest page")
        await _settled(pilot)
        view.focus()
        await pilot.press("home")
        await wait_until(
            pilot, lambda: view.blocks[0].entry.text == "message 0", what="the first message"
        )
        await _settled(pilot)
        assert view.scroll_y == 0 and view.has_newer
        await pilot.press("end")
        await wait_until(
            pilot,
            lambda: view.blocks[-1].entry.text == "message 2999" and not view.has_newer,
            what="the newest message",
        )
        await _settled(pilot)
        assert view.scroll_y == view.max_scroll_y


async def test_page_up_moves_exactly_one_screen_across_page_loads(
    server: ServerThread, make_app: AppFactory
) -> None:
    await _history(server, 1000)
    app = make_app(server.url, page_size=20, window=100)
    async with app.run_test(size=SIZE) as pilot:
        view = app.messages
        await wait_until(pilot, lambda: len(view.blocks) == 20, what="the newest page")
        await _settled(pilot)
        view.focus()
        screen = view.scrollable_content_region.height
        start = _row(app)
        for press in range(1, 13):  # one at a time, each crossing or nearing a page edge
            await pilot.press("pageup")
            await _settled(pilot)
            assert _row(app) == start - press * screen, f"press {press}"
        # A fast burst, while pages are still loading: none dropped, none doubled.
        here = _row(app)
        type_burst(pilot, *["pageup"] * 8)
        await wait_until(pilot, lambda: _row(app) <= here - 8 * screen, what="the burst")
        await _settled(pilot)
        assert _row(app) == here - 8 * screen


async def test_a_loading_mark_shows_while_an_older_page_loads(
    server: ServerThread, make_app: AppFactory
) -> None:
    await _history(server, 400)
    app = make_app(server.url, page_size=20, window=100)
    async with app.run_test(size=SIZE) as pilot:
        view = app.messages
        await wait_until(pilot, lambda: len(view.blocks) == 20, what="the newest page")
        await _settled(pilot)
        seen: list[bool] = []
        view.focus()
        view.scroll_home(animate=False, immediate=True)
        await wait_until(
            pilot,
            lambda: seen.append("loading older…" in screen_text(pilot)) or len(view.blocks) > 20,
            what="the older page",
        )
        assert any(seen)
        await _settled(pilot)
        assert "loading older…" not in screen_text(pilot)


async def test_a_mark_says_there_is_news_below_when_scrolled_away_from_a_live_reply(
    llm_server: ServerThread, fake_llm: FakeOpenAI, make_app: AppFactory
) -> None:
    await _history(llm_server, 60)
    fake_llm.reply = " ".join(f"word{i}" for i in range(60))
    fake_llm.deltas = 60
    fake_llm.delta_delay = 0.05
    app = make_app(llm_server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.messages.blocks) > 10, what="the history")
        await _settled(pilot)
        await send(pilot, "tell me a long story")
        await wait_until(pilot, lambda: replies(app) and replies(app)[-1], what="the reply")
        app.messages.focus()
        await pilot.press("pageup")
        await wait_until(pilot, lambda: "new below" in screen_text(pilot), what="the mark")
        await pilot.press("end")
        await wait_until(pilot, lambda: not app.streaming, timeout=20, what="the reply to end")
        await _settled(pilot)
        assert "new below" not in screen_text(pilot)
