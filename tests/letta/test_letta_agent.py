"""The app as an agent client against a real Letta server: opt-in, see ``conftest.py``.

The same flows as ``tests/tui/test_agent_flows.py``: the kit's stub model calls
``memory_insert`` on the human block when a message contains ``[mem]``, which gives a tool call,
a live memory edit and, with ``requires_approval`` set on the tool, an approval.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.letta.conftest import LETTA, LETTA_TOKEN, LETTA_URL
from tests.tui import helpers
from tests.tui.helpers import wait_for_workers, wait_until
from tui.app import ChinwagApp
from tui.config import load_config
from tui.panes.memory import BlockCard
from tui.screens.context import ContextScreen
from tui.settings import AppSettings
from tui.widgets.messages import ChatBlock
from tui.widgets.tools import ApprovalBlock, ToolCallBlock

pytestmark = LETTA

SIZE = (140, 44)
send_and_wait = functools.partial(helpers.send_and_wait, timeout=30)
MakeAgent = Callable[..., Awaitable[Any]]


@pytest.fixture
def make_app(isolated_config: Path, tmp_path: Path) -> Callable[..., ChinwagApp]:
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


async def _ready(pilot: Any, app: ChinwagApp, conversation_id: str) -> None:
    await wait_until(
        pilot,
        lambda: app.conversation is not None and app.conversation.id == conversation_id,
        timeout=20,
        what="the conversation",
    )
    await wait_for_workers(pilot, timeout=20)
    app.action_focus("composer")


async def test_memory_tool_call_live_memory_and_approval_on_letta(
    make_agent: MakeAgent, make_app: Callable[..., ChinwagApp], api: Any
) -> None:
    agent = await make_agent("chinwag-tools", human="Sam")
    conversation = await api.create_conversation(agent.id, "tools")
    app = make_app(agent_id=agent.id, conversation_id=conversation.id)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app, conversation.id)
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.query(BlockCard), timeout=20, what="blocks")
        await send_and_wait(pilot, "[mem] note this")
        calls = [b for b in app.query(ToolCallBlock) if b.tool_name == "memory_insert"]
        assert calls and calls[-1].status == "success"
        assert calls[-1].title().startswith("⚙ memory_insert → human: + ")
        human = next(c for c in app.query(BlockCard) if c.block.label == "human")
        await wait_until(pilot, lambda: human.before is not None, timeout=20, what="live edit")

        await api.set_tool_approval(agent.id, "memory_insert", True)
        await send_and_wait(pilot, "[mem] and this")
        prompt = app.query(ApprovalBlock).last()
        assert prompt.pending and "waiting" in app.status.waiting
        prompt.focus()
        await pilot.press("a")
        await wait_until(pilot, lambda: not app.streaming and prompt.result is not None, timeout=30)
        await wait_for_workers(pilot, timeout=20)
        assert prompt.status == "success" and app.status.waiting == ""
        assert any("Stub reply" in text for text in helpers.replies(app))


async def test_default_conversation_fork_and_context_on_letta(
    make_agent: MakeAgent, make_app: Callable[..., ChinwagApp], api: Any
) -> None:
    agent = await make_agent("chinwag-fork")
    conversation = await api.create_conversation(agent.id, "forked")
    async for _ in api.send(conversation.id, "before the fork"):
        pass
    app = make_app(agent_id=agent.id, conversation_id=conversation.id)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app, conversation.id)
        assert app.conversations.conversations[0].id == agent.id  # the default one, first
        await pilot.press("f4")
        await wait_until(
            pilot, lambda: app.conversation.id != conversation.id, timeout=20, what="the fork"
        )
        await wait_for_workers(pilot, timeout=20)
        assert app.conversation.summary == "Fork of forked"
        texts = [b.entry.text for b in app.query(ChatBlock)]
        assert "before the fork" in texts

        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, ContextScreen), timeout=20)
        overview = app.screen.overview
        assert overview.window > 0 and overview.system > 0 and overview.note == ""
