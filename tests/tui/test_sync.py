"""Other clients' changes show up without ctrl+r (issue 11, item 8)."""

from __future__ import annotations

from tests.servers import ServerThread
from tests.tui.conftest import AppFactory
from tests.tui.helpers import idle_in, wait_until
from tui.client import ChinwagClient
from tui.widgets.messages import MessageBlock


async def test_agents_conversations_and_messages_from_another_client_show_up(
    server: ServerThread, make_app: AppFactory
) -> None:
    api = ChinwagClient(server.url)
    agent = await api.create_agent("shared")
    conversation = await api.create_conversation(agent.id, "first")
    app = make_app(server.url, sync_interval=0.3, health_interval=0.3)
    async with app.run_test(size=(140, 40)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)

        await api.create_agent("newcomer")
        await wait_until(
            pilot, lambda: "newcomer" in [a.name for a in app.agents.agents], what="the agent"
        )
        await api.create_conversation(agent.id, "second")
        await wait_until(
            pilot,
            lambda: "second" in [c.summary for c in app.conversations.conversations],
            what="the conversation",
        )
        listed = app.conversations.conversations
        assert listed[0].id == agent.id  # the agent's default conversation stays first
        async for _ in api.send(conversation.id, "from another client"):
            pass
        await wait_until(
            pilot,
            lambda: any(
                b.entry.kind == "assistant" and "from another client" in b.entry.text
                for b in app.query(MessageBlock)
            ),
            what="the other client's exchange",
        )
        texts = [b.entry.text for b in app.query(MessageBlock)]
        assert texts.count("from another client") == 1
        assert app.agent is not None and app.agent.id == agent.id  # selection kept
        assert app.conversation is not None and app.conversation.id == conversation.id
    await api.aclose()


async def test_refresh_keeps_the_agent_and_conversation_that_are_open(
    server: ServerThread, make_app: AppFactory
) -> None:
    api = ChinwagClient(server.url)
    first = await api.create_agent("first")
    await api.create_conversation(first.id, "of the first")
    second = await api.create_agent("second")  # newest: listed on top
    await api.create_conversation(second.id, "older")
    await api.create_conversation(second.id, "newer")
    await api.aclose()
    app = make_app(server.url)
    async with app.run_test(size=(140, 40)) as pilot:
        await idle_in(pilot, "agents", ready=lambda: app.conversation is not None)
        await pilot.press("down")  # the first agent
        await wait_until(pilot, lambda: app.agent is not None and app.agent.id == first.id)
        await idle_in(pilot, "conversations", ready=lambda: app.conversation is not None)
        opened = app.conversation
        await pilot.press("ctrl+r")
        await pilot.pause()
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        assert app.agent is not None and app.agent.id == first.id
        assert app.conversation is not None and app.conversation.id == opened.id


async def test_lists_go_past_a_hundred(server: ServerThread, make_app: AppFactory) -> None:
    api = ChinwagClient(server.url)
    for i in range(104):
        agent = await api.create_agent(f"agent-{i:03d}")
    for i in range(103):
        await api.create_conversation(agent.id, f"conversation {i:03d}")
    await api.aclose()
    app = make_app(server.url)
    async with app.run_test(size=(140, 40)) as pilot:
        await idle_in(pilot, "agents", ready=lambda: app.conversation is not None)
        assert len(app.agents.agents) == 104
        assert app.agents.agents[0].name == "agent-103"  # newest first
        summaries = [c.summary for c in app.conversations.conversations]
        assert len([s for s in summaries if s and s.startswith("conversation")]) == 103


async def test_an_unknown_agent_id_is_warned_about(
    server: ServerThread, make_app: AppFactory
) -> None:
    api = ChinwagClient(server.url)
    await api.create_agent("only")
    await api.aclose()
    app = make_app(server.url, agent_id="agent-does-not-exist")
    async with app.run_test(size=(140, 40)) as pilot:
        await idle_in(pilot, "agents")
        said = [n.message for n in app._notifications]
        assert any("agent-does-not-exist" in m for m in said), said


async def test_a_conversation_another_client_left_waiting_for_approval_is_marked(
    server: ServerThread, make_app: AppFactory
) -> None:
    api = ChinwagClient(server.url)
    agent = await api.create_agent("asker")
    await api.set_tool_approval(agent.id, "memory_insert", True)
    waiting = await api.create_conversation(agent.id, "left waiting")
    async for _ in api.send(waiting.id, "remember that I like tea"):
        pass
    await api.create_conversation(agent.id, "open one")  # the newest: opened at start
    app = make_app(server.url, sync_interval=0.3, health_interval=0.3)
    async with app.run_test(size=(140, 40)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await wait_until(
            pilot, lambda: waiting.id in app.conversations.waiting, what="the mark at start"
        )
        assert app.conversation is not None and app.conversation.id != waiting.id

        async for _ in api.send(agent.id, "remember that I like coffee"):  # the default one
            pass
        await wait_until(
            pilot, lambda: agent.id in app.conversations.waiting, what="the mark from a tick"
        )
        assert "⏸" in str(app.conversations.get_option_at_index(0).prompt)
    await api.aclose()
