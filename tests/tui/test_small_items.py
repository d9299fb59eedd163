"""Smaller promises: quitting mid-reply, keymap ids, dividers on light themes (issue 11,
item 10)."""

from __future__ import annotations

from pathlib import Path

from textual.color import Color

from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerThread
from tests.tui.conftest import AppFactory
from tests.tui.helpers import idle_in, replies, send, wait_until
from tests.tui.test_resilience import canned
from tui.client import ChinwagClient
from tui.screens.dialogs import ConfirmDialog
from tui.widgets.messages import LiveBlock
from tui.widgets.splitter import Splitter


async def test_quitting_while_a_reply_streams_asks_then_keeps_it_interrupted(
    llm_server: ServerThread, fake_llm: FakeOpenAI, make_app: AppFactory
) -> None:
    api = ChinwagClient(llm_server.url)
    agent = await api.create_agent("talker")
    conversation = await api.create_conversation(agent.id, "cut")
    fake_llm.reply = "one two three four five six"
    fake_llm.deltas = 6
    fake_llm.hold(after_deltas=2)
    app = make_app(llm_server.url)
    async with app.run_test(size=(130, 36)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await send(pilot, "count")
        await wait_until(pilot, lambda: replies(app) == ["one two "], what="partial reply")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the ask")
        assert app.is_running
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running, timeout=10, what="the app to quit")
        block = app.query(LiveBlock).last()
        assert "interrupted" in str(block.border_title)
    fake_llm.release()
    page = await api.newest_page(conversation.id)
    await api.aclose()
    kept = [m.content for m in page.messages if m.message_type == "assistant_message"]
    assert kept == ["one two "]
    assert app.return_code == 0


async def test_an_unknown_keymap_binding_id_is_warned_about(isolated_config: Path) -> None:
    isolated_config.write_text(
        '[keymap]\n"app.compact" = "ctrl+l"\n"app.compactt" = "ctrl+y"\n', encoding="utf-8"
    )
    app = canned(isolated_config)
    async with app.run_test(size=(130, 36)) as pilot:
        await wait_until(pilot, lambda: app.conversation is not None, what="ready")
        said = [n.message for n in app._notifications]
        assert any("app.compactt" in m for m in said), said
        assert not any("app.compact," in m or m.endswith("app.compact") for m in said)


def _luma(color: Color) -> float:
    r, g, b = color.rgb
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


async def test_pane_dividers_stay_visible_on_light_themes(isolated_config: Path) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=(130, 36)) as pilot:
        await wait_until(pilot, lambda: app.conversation is not None, what="ready")
        for theme in ("textual-light", "textual-dark"):
            app.theme = theme
            await pilot.pause()
            splitter = app.screen.query(Splitter).first()
            line = splitter.styles.color
            ground = splitter.background_colors[1]
            shown = ground + line  # the divider's colour as painted over its background
            assert abs(_luma(shown) - _luma(ground)) > 0.15, theme
