"""Pilot flows of the app as an agent client, against the bundled server over real HTTP: tool
calls, live memory, approvals, the default conversation, fork, opening a message deep in a
long history, and the context view. The builtin model calls ``memory_insert`` when told
"remember that …", so these need no provider."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.seed import seed_history
from tests.servers import ServerThread
from tests.tui.conftest import AppFactory
from tests.tui.helpers import idle_in, screen_text, send_and_wait, wait_for_workers, wait_until
from tui.app import ChinwagApp
from tui.client import ChinwagClient
from tui.errors import NotFound
from tui.panes.memory import BlockCard
from tui.screens.context import ContextScreen
from tui.screens.memory import BlockDialog, BlockHistoryScreen
from tui.screens.search import SearchScreen
from tui.widgets.messages import ChatBlock, MessageBlock
from tui.widgets.tools import ApprovalBlock, ToolCallBlock

SIZE = (140, 44)


async def _agent(url: str, *, conversation: str | None = None) -> tuple[str, str | None]:
    api = ChinwagClient(url)
    agent = await api.create_agent("baker", human="Sam")
    conv = await api.create_conversation(agent.id, conversation) if conversation else None
    await api.aclose()
    return agent.id, conv.id if conv else None


def _memory_calls(app: ChinwagApp) -> list[ToolCallBlock]:
    return [b for b in app.query(ToolCallBlock) if b.tool_name == "memory_insert"]


def _card(app: ChinwagApp, label: str) -> BlockCard:
    return next(c for c in app.query(BlockCard) if c.block.label == label)


async def test_memory_edit_shows_as_a_tool_call_and_live_in_the_memory_panel(
    server: ServerThread, make_app: AppFactory
) -> None:
    agent_id, conversation_id = await _agent(server.url, conversation="Tea")
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.query(BlockCard), what="the memory blocks")
        assert _card(app, "human").block.value == "Sam"
        assert _card(app, "human").before is None

        await send_and_wait(pilot, "remember that I like tea")
        call = _memory_calls(app)[-1]
        assert call.status == "success" and call.collapsed
        assert call.title() == "⚙ memory_insert → human: + I like tea ✓"
        await wait_until(pilot, lambda: _card(app, "human").before == "Sam", what="live edit")
        card = _card(app, "human")
        assert "I like tea" in card.block.value and card.has_class("changed")
        assert "changed" in screen_text(pilot)

        call.action_toggle()  # open: pretty JSON arguments and the return
        await pilot.pause()
        opened = call.body().plain
        assert '"label": "human"' in opened and "returned" in opened

        # Listed again (reopened), the call and its return are one block.
        app.chat.open_conversation(app.conversation)
        await wait_until(pilot, lambda: _memory_calls(app) and _memory_calls(app)[-1] is not call)
        await wait_for_workers(pilot)
        listed = _memory_calls(app)
        assert len(listed) == 1 and listed[0].status == "success"
        assert listed[0].result is not None
    assert conversation_id and agent_id


async def test_memory_panel_edits_a_block_whose_label_has_spaces_a_slash_and_a_dot(
    server: ServerThread, make_app: AppFactory
) -> None:
    with server.client() as http:
        body = {
            "name": "noter",
            "memory_blocks": [{"label": "notes/2026 v2.1", "value": "Levain at 10am."}],
        }
        agent = http.post("/v1/agents/", json=body).json()
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer")
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.query(BlockCard), what="the memory blocks")
        _card(app, "notes/2026 v2.1").focus()
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, BlockDialog), what="the editor")
        await pilot.press("end", *" Bake Saturday.", "ctrl+s")
        await wait_until(
            pilot,
            lambda: _card(app, "notes/2026 v2.1").block.value.endswith("Bake Saturday."),
            what="the saved block",
        )
    with server.client() as http:
        blocks = http.get(f"/v1/agents/{agent['id']}").json()["memory"]["blocks"]
    assert [b["value"] for b in blocks] == ["Levain at 10am. Bake Saturday."]


async def test_approval_approve_and_deny_continue_the_same_turn(
    server: ServerThread, make_app: AppFactory, tmp_path: Path
) -> None:
    agent_id, conversation_id = await _agent(server.url, conversation="Approvals")
    with server.client() as http:
        path = f"/v1/agents/{agent_id}/tools/approval/memory_insert"
        assert http.patch(path, json={"requires_approval": True}).status_code == 200
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await send_and_wait(pilot, "remember that I like tea")
        prompt = app.query(ApprovalBlock).last()
        assert prompt.pending and app.focused is prompt
        assert "waiting for your approval" in app.status.waiting
        assert conversation_id in app.conversations.waiting
        assert "approve" in screen_text(pilot) and "deny with a reason" in screen_text(pilot)

        # Sending while it waits is refused; the draft is kept and the prompt gets the focus.
        await send_and_wait_refused(pilot, app)
        assert app.focused is prompt and prompt.pending

        await pilot.press("a")
        await wait_until(pilot, lambda: not app.streaming and prompt.result is not None)
        await wait_for_workers(pilot)
        assert prompt.status == "success" and prompt.answer == "approved"
        assert app.status.waiting == "" and conversation_id not in app.conversations.waiting
        assert any("I like tea" in b.entry.text for b in app.query(ChatBlock))

        await send_and_wait(pilot, "remember that I like coffee")
        second = app.query(ApprovalBlock).last()
        assert second is not prompt and second.pending
        await pilot.press("d")
        await wait_until(pilot, lambda: len(app.screen_stack) > 1, what="the reason dialog")
        await pilot.press(*"not coffee", "enter")
        await wait_until(pilot, lambda: not app.streaming and second.result is not None)
        await wait_for_workers(pilot)
        assert second.status == "error" and second.answer == "denied: not coffee"

        # "Always": approved now, and the tool runs without asking from then on.
        await send_and_wait(pilot, "remember that I like scones")
        third = app.query(ApprovalBlock).last()
        assert third.pending
        await pilot.press("A")
        await wait_until(pilot, lambda: not app.streaming and third.result is not None)
        await wait_for_workers(pilot)
        assert third.status == "success" and "always" in (third.answer or "")
        await send_and_wait(pilot, "remember that I like jam")
        assert app.query(ApprovalBlock).last() is third
        assert _memory_calls(app)[-1].status == "success"
    api = ChinwagClient(server.url)
    agent = await api.get_agent(agent_id)
    await api.aclose()
    human = next(b.value for b in agent.memory.blocks or agent.blocks if b.label == "human")
    assert "I like tea" in human and "coffee" not in human and "I like jam" in human


async def send_and_wait_refused(pilot, app: ChinwagApp) -> None:  # type: ignore[no-untyped-def]
    app.action_focus("composer")
    await pilot.press(*"hello?", "enter")
    await wait_until(pilot, lambda: app.composer.text == "hello?", what="the draft back")
    await wait_for_workers(pilot)
    app.composer.clear()


async def test_default_conversation_is_first_and_shows_other_clients_messages(
    server: ServerThread, make_app: AppFactory
) -> None:
    agent_id, conversation_id = await _agent(server.url, conversation="Mine")
    with httpx.Client(base_url=server.url, timeout=30) as other:
        body = {"messages": [{"role": "user", "content": "sent by another client"}]}
        assert other.post(f"/v1/agents/{agent_id}/messages", json=body).status_code == 200
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "conversations", ready=lambda: app.conversation is not None)
        listed = app.conversations.conversations
        assert [c.id for c in listed] == [agent_id, conversation_id]
        assert app.conversation.id == conversation_id  # its own newest opens first
        await pilot.press("up")
        await wait_until(pilot, lambda: app.conversation.id == agent_id, what="the default")
        await wait_until(
            pilot,
            lambda: any(b.entry.text == "sent by another client" for b in app.query(ChatBlock)),
            what="the other client's message",
        )
        await send_and_wait(pilot, "and one from chinwag")
    with httpx.Client(base_url=server.url, timeout=30) as other:
        texts = [m.get("content") for m in other.get(f"/v1/agents/{agent_id}/messages").json()]
    assert "sent by another client" in texts and "and one from chinwag" in texts


async def test_fork_the_conversation_and_at_a_focused_message(
    server: ServerThread, make_app: AppFactory
) -> None:
    _, conversation_id = await _agent(server.url, conversation="Bread")
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await send_and_wait(pilot, "first question")
        await send_and_wait(pilot, "second question")

        await pilot.press("f4")
        await wait_until(pilot, lambda: app.conversation.id != conversation_id, what="the fork")
        await wait_for_workers(pilot)
        whole = app.conversation
        assert whole.summary == "Fork of Bread"
        assert whole.id in [c.id for c in app.conversations.conversations]
        users = [b.entry.text for b in app.query(ChatBlock) if b.entry.kind == "user"]
        assert users == ["first question", "second question"]

        first = next(b for b in app.query(ChatBlock) if b.entry.text == "first question")
        first.focus()
        await pilot.press("f4")
        await wait_until(pilot, lambda: app.conversation.id != whole.id, what="the second fork")
        await wait_for_workers(pilot)
        users = [b.entry.text for b in app.query(ChatBlock) if b.entry.kind == "user"]
        assert users == ["first question"]
        await send_and_wait(pilot, "another path")
    api = ChinwagClient(server.url)
    source = await api.newest_page(conversation_id, 50)
    await api.aclose()
    texts = [getattr(m, "content", "") for m in source.messages]
    assert "another path" not in texts and "second question" in texts


async def test_open_a_message_deep_in_a_long_history(
    server: ServerThread, make_app: AppFactory
) -> None:
    agent_id, conversation_id = await _agent(server.url, conversation="Long")
    assert conversation_id is not None
    ids = await asyncio.to_thread(seed_history, server.settings.db_path, conversation_id, 3000)
    app = make_app(server.url, page_size=20)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        app.chat.open_at(app.conversation, ids[1200])
        await wait_until(
            pilot, lambda: any(b.has_class("marked") for b in app.query(MessageBlock)), what="hit"
        )
        await wait_for_workers(pilot)
        view = app.messages
        marked = next(b for b in view.blocks if b.has_class("marked"))
        assert marked.entry.text == "message 1200" and app.focused is marked
        assert view.has_older and view.has_newer
        assert marked.region.y > 0 and marked.region.y < view.region.bottom  # on screen
        texts = [b.entry.text for b in view.blocks]
        assert texts[0] == "message 1190" and texts[-1] == "message 1210"
        view.scroll_end(animate=False, immediate=True)
        await wait_until(
            pilot, lambda: "message 1211" in [b.entry.text for b in view.blocks], what="newer"
        )
    assert agent_id


async def test_context_view_shows_the_servers_overview_by_part(
    server: ServerThread, make_app: AppFactory
) -> None:
    agent_id, _ = await _agent(server.url)
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer")
        await send_and_wait(pilot, "hello there")  # a new conversation of its own
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, ContextScreen), what="the view")
        overview = app.screen.overview
        assert overview.window > 0 and overview.system > 0 and overview.tools > 0
        assert overview.core_memory > 0 and overview.messages > 0
        assert overview.note == ""  # the server's own figures
        conversation_id = app.conversation.id
        text = screen_text(pilot)
        assert "Context window" in text and "Memory blocks" in text and "Tool definitions" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ContextScreen), what="closed")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        path = f"/v1/agents/{agent_id}/context"
        served = http.get(path, params={"conversation_id": conversation_id}).json()
    assert served["num_tokens_messages"] == overview.messages > 0
    assert served["num_tokens_system"] == overview.system


async def test_context_view_estimates_on_a_server_without_an_overview(
    server: ServerThread, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def older_server(self: ChinwagClient, agent_id: str, _: object = None) -> None:
        raise NotFound(404, "NOT_FOUND", "Not Found", self.url(f"/v1/agents/{agent_id}/context"))

    monkeypatch.setattr(ChinwagClient, "context_overview", older_server)
    await _agent(server.url, conversation="Ctx")
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await send_and_wait(pilot, "hello there")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, ContextScreen), what="the view")
        overview = app.screen.overview
        assert overview.note.startswith("Estimated by the app")
        assert overview.window == 8192 or overview.window > 0
        assert overview.system > 0 and overview.core_memory > 0 and overview.messages > 0


async def test_search_opens_a_hit_in_its_conversation_at_that_message(
    server: ServerThread, make_app: AppFactory
) -> None:
    agent_id, conversation_id = await _agent(server.url, conversation="Long")
    assert conversation_id is not None
    await asyncio.to_thread(seed_history, server.settings.db_path, conversation_id, 400)
    _, other = await _agent(server.url, conversation="Other")
    app = make_app(server.url, page_size=20, agent_id=agent_id)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen), what="search")
        await pilot.press(*"message 123", "enter")
        await wait_until(pilot, lambda: app.screen.found, what="results")
        found = app.screen.found
        assert found[0].conversation == "Long" and "message 123" in found[0].hit.message.content
        assert "message 123" in screen_text(pilot) and "Long" in screen_text(pilot)
        await pilot.press("down", "enter")
        await wait_until(
            pilot, lambda: any(b.has_class("marked") for b in app.query(MessageBlock)), what="hit"
        )
        await wait_for_workers(pilot)
        marked = next(b for b in app.messages.blocks if b.has_class("marked"))
        assert marked.entry.id == found[0].hit.message.id
        assert app.conversation.id == conversation_id
        assert app.conversations.current.id == conversation_id
    assert other


async def test_memory_panel_history_restore_add_and_detach(
    server: ServerThread, make_app: AppFactory
) -> None:
    agent_id, _ = await _agent(server.url, conversation="Memory")
    app = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await send_and_wait(pilot, "remember that I like tea")
        await pilot.press("f2")
        await wait_until(pilot, lambda: "I like tea" in _card(app, "human").block.value)

        # History: the agent's edit first, with its diff; restore the value before it.
        _card(app, "human").focus()
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, BlockHistoryScreen), what="history")
        history = app.screen
        newest = history.changes[0]
        assert newest.actor == "agent" and newest.tool_name == "memory_insert"
        shown = screen_text(pilot)
        assert "agent via memory_insert" in shown and "I like tea" in shown
        older = next(i for i, c in enumerate(history.changes) if c.after == "Sam")
        for _ in range(older):
            await pilot.press("down")
        await pilot.press("r")
        await wait_until(pilot, lambda: _card(app, "human").block.value == "Sam", what="restored")

        # Add a block whose label has a space, a slash and a dot, then detach it.
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, BlockDialog), what="the form")
        await pilot.press(*"notes/2026 v2.1", "tab", "tab", *"Levain at 10", "ctrl+s")
        await wait_until(
            pilot,
            lambda: any(c.block.label == "notes/2026 v2.1" for c in app.query(BlockCard)),
            what="the new block",
        )
        _card(app, "notes/2026 v2.1").focus()
        await pilot.press("x")
        await wait_until(pilot, lambda: len(app.screen_stack) > 1, what="the confirmation")
        await pilot.press("y")
        await wait_until(
            pilot,
            lambda: all(c.block.label != "notes/2026 v2.1" for c in app.query(BlockCard)),
            what="detached",
        )
        await wait_for_workers(pilot)
    api = ChinwagClient(server.url)
    agent = await api.get_agent(agent_id)
    await api.aclose()
    blocks = {b.label: b.value for b in agent.memory.blocks or agent.blocks}
    assert blocks["human"] == "Sam" and "notes/2026 v2.1" not in blocks
