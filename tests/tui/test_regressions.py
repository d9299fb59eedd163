"""Regressions found in review: first send, stale placeholder, focus after dialogs, form keys."""

from __future__ import annotations

from tests.servers import ServerThread
from tests.tui.conftest import AppFactory
from tests.tui.helpers import screen_text, type_burst, wait_for_workers, wait_until
from tui.app import ChinwagApp
from tui.client import ChinwagClient
from tui.widgets.messages import LiveBlock, MessageBlock

SIZE = (160, 45)
DRAFT = "Hello! My cat is called **Miso**. Can you show me a python snippet?"


async def _agent_without_conversations(url: str) -> str:
    api = ChinwagClient(url)
    agent = await api.create_agent("cat-person")
    await api.aclose()
    return agent.id


async def test_first_send_typed_fast_arrives_whole_and_shows_live(
    server: ServerThread, make_app: AppFactory
) -> None:
    await _agent_without_conversations(server.url)
    app: ChinwagApp = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: "No conversations yet" in screen_text(pilot), what="the hint"
        )
        await wait_for_workers(pilot)
        assert app.focused is app.composer
        type_burst(pilot, *DRAFT, "enter")
        await wait_until(pilot, lambda: app.conversation is not None, what="a conversation")
        await wait_until(
            pilot,
            lambda: any(b.entry.text.startswith("You said") for b in app.query(LiveBlock)),
            what="the reply shown live",
        )
        await wait_until(pilot, lambda: not app.streaming, what="the reply to end")
        await wait_for_workers(pilot)
        user = [b.entry.text for b in app.query(MessageBlock) if b.entry.kind == "user"]
        assert user == [DRAFT]
        assert "No conversations yet" not in screen_text(pilot)
        assert not app.messages.query(".hint")
        assert app.composer.text == ""

        api = ChinwagClient(server.url)
        page = await api.newest_page(app.conversation.id)
        await api.aclose()
        sent = [m.content for m in page.messages if m.message_type == "user_message"]
        assert sent == [DRAFT]
