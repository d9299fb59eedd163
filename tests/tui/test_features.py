"""Pilot tests of the features around the chat: export, copy, agent details, retry, resizing."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from tests.servers import ServerThread, make_settings
from tests.tui.conftest import AppFactory
from tests.tui.helpers import idle_in, screen_text, type_burst, wait_for_workers, wait_until
from tui.app import ChinwagApp
from tui.client import ChinwagClient
from tui.screens.agent_detail import AgentDetailScreen
from tui.screens.dialogs import ConnectionErrorScreen, TextDialog
from tui.widgets.messages import ChatBlock, LiveBlock

SIZE = (120, 40)


async def _chat(url: str, summary: str = "Sourdough notes") -> tuple[str, str]:
    """An agent with one conversation of two exchanges (builtin echo model)."""
    api = ChinwagClient(url)
    agent = await api.create_agent("baker", human="Sam")
    conversation = await api.create_conversation(agent.id, summary)
    for text in ("How warm should the proof be?", "And **how long**?"):
        async for _ in api.send(conversation.id, text):
            pass
    await api.aclose()
    return agent.id, conversation.id


async def _opened(pilot, conversation_id: str) -> None:  # type: ignore[no-untyped-def]
    app: ChinwagApp = pilot.app
    await wait_until(
        pilot,
        lambda: app.conversation is not None and app.conversation.id == conversation_id,
        what="the conversation to open",
    )
    await wait_until(pilot, lambda: len(app.messages.blocks) >= 4, what="the messages")
    await wait_for_workers(pilot)


async def test_export_writes_the_conversation_as_markdown(
    server: ServerThread, make_app: AppFactory, tmp_path: Path
) -> None:
    _, conversation_id = await _chat(server.url)
    app = make_app(server.url, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _opened(pilot, conversation_id)
        app.action_do("export.export")
        path = tmp_path / "chinwag-sourdough-notes.md"
        # It asks where, proposing a file in the export directory.
        await wait_until(pilot, lambda: isinstance(app.screen, TextDialog), what="the question")
        await wait_until(pilot, lambda: app.screen.ready, what="its field")  # type: ignore[attr-defined]
        assert app.screen.query_one("#text", Input).value == str(path)
        await pilot.press("enter")
        await wait_until(pilot, path.exists, what="the export file")
        await wait_for_workers(pilot)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Sourdough notes")
    assert "How warm should the proof be?" in text
    assert "And **how long**?" in text
    assert text.index("How warm") < text.index("how long")
    assert "You said" in text  # the replies are there too


async def test_copy_a_message_and_the_last_reply(
    server: ServerThread, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, conversation_id = await _chat(server.url)
    app = make_app(server.url)
    copied: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=SIZE) as pilot:
        await _opened(pilot, conversation_id)
        first_user = next(b for b in app.query(ChatBlock) if b.entry.kind == "user")
        first_user.focus()
        await pilot.press("c")
        assert copied == ["How warm should the proof be?"]
        app.action_do("export.copy_last")
        replies = [b.entry.text for b in app.query(ChatBlock) if b.entry.kind == "assistant"]
        assert copied[-1] == replies[-1] and "how long" in copied[-1]


async def test_agent_details_save_memory_blocks_on_the_server(
    server: ServerThread, make_app: AppFactory
) -> None:
    agent_id, _ = await _chat(server.url)
    app = make_app(server.url)
    async with app.run_test(size=(130, 44)) as pilot:
        await idle_in(pilot, "agents")
        # Open the view, go from the model to the persona block, type, save: all in one burst,
        # before the agent has been read. Nothing typed is lost or lands behind the view.
        type_burst(pilot, "e", "tab", *"Warm. ", "ctrl+s")
        await wait_until(
            pilot, lambda: listed_block(app, "persona").startswith("Warm. "), what="saved"
        )
        assert len(app.screen_stack) == 1

        await pilot.press("e")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, AgentDetailScreen) and app.screen.ready,
            what="the detail view",
        )
        human = app.screen.block_areas["human"]
        assert human.text == "Sam"
        human.text = "Sam, who bakes on Sundays."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: listed_block(app, "human") != "Sam", what="saved")
        assert len(app.screen_stack) == 1
        assert any("Saved agent baker" in n.message for n in app._notifications)
    api = ChinwagClient(server.url)
    agent = await api.get_agent(agent_id)
    await api.aclose()
    blocks = {b.label: b.value for b in (agent.memory.blocks or agent.blocks)}
    assert blocks["persona"].startswith("Warm. ")
    assert blocks["human"] == "Sam, who bakes on Sundays."


def listed_block(app: ChinwagApp, label: str) -> str:
    """A memory block of the first agent as the agents pane has it (re-listed after a save)."""
    agent = app.agents.agents[0]
    return next(b.value for b in (agent.memory.blocks or agent.blocks) if b.label == label)


async def test_retry_key_connects_once_the_server_is_up(
    make_app: AppFactory, tmp_path: Path
) -> None:
    late = ServerThread(make_settings(tmp_path / "late.db"))  # bound, not yet listening
    try:
        app = make_app(late.url)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                pilot, lambda: isinstance(app.screen, ConnectionErrorScreen), what="the error"
            )
            await wait_until(pilot, lambda: late.url in screen_text(pilot), what="its address")
            assert app.status.state == "disconnected"
            late.start()
            await pilot.press("r")
            await wait_until(pilot, lambda: app.status.state == "connected", what="connected")
            await wait_until(pilot, lambda: "No agents yet" in screen_text(pilot), what="hint")
            assert not isinstance(app.screen, ConnectionErrorScreen)
    finally:
        late.stop()


async def test_pane_resizing_keys_change_widths(server: ServerThread, make_app: AppFactory) -> None:
    await _chat(server.url)
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.conversation is not None, what="a conversation")
        await wait_for_workers(pilot)
        agents_pane = app.screen.query_one("#agents-pane")
        conversations_pane = app.screen.query_one("#conversations-pane")
        start_agents, start_conversations = (
            agents_pane.outer_size.width,
            conversations_pane.outer_size.width,
        )
        app.action_focus("agents")
        await pilot.press("]", "]")
        await pilot.pause()
        assert agents_pane.outer_size.width == start_agents + 4
        app.action_focus("conversations")
        await pilot.press("[")
        await pilot.pause()
        assert conversations_pane.outer_size.width == start_conversations - 2
        chat = app.screen.query_one("#chat")
        assert chat.outer_size.width == SIZE[0] - sum(
            w.outer_size.width for w in app.screen.query("#panes > *") if w is not chat
        )
        assert not app.query(LiveBlock)  # nothing streamed by resizing


async def test_export_writes_where_it_is_told(
    server: ServerThread, make_app: AppFactory, tmp_path: Path
) -> None:
    _, conversation_id = await _chat(server.url)
    app = make_app(server.url, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _opened(pilot, conversation_id)
        app.action_do("export.export")
        await wait_until(pilot, lambda: isinstance(app.screen, TextDialog), what="the question")
        await wait_until(pilot, lambda: app.screen.ready, what="its field")  # type: ignore[attr-defined]
        app.screen.query_one("#text", Input).value = "notes/bread.md"
        await pilot.press("enter")
        path = tmp_path / "notes" / "bread.md"
        await wait_until(pilot, path.exists, what="the export file")
        await wait_for_workers(pilot)
    assert not (tmp_path / "chinwag-sourdough-notes.md").exists()
    assert path.read_text(encoding="utf-8").startswith("# Sourdough notes")
