"""Opt-in: the client and the app against a real Letta server (``CHINWAG_LETTA_URL``).

Start one with ``../shared/letta-reference/run.sh start`` and run
``CHINWAG_LETTA_URL=http://127.0.0.1:8283 pytest -m letta tests/tui``.
"""

from __future__ import annotations

import os

import pytest

from shared_schema import AssistantMessage
from tests.tui.conftest import AppFactory
from tests.tui.helpers import wait_for_workers, wait_until
from tui.client import ChinwagClient
from tui.widgets.messages import MessageBlock

LETTA_URL = os.environ.get("CHINWAG_LETTA_URL")
MODEL = os.environ.get("CHINWAG_LETTA_MODEL", "openai-proxy/gpt-4o-mini")

pytestmark = [
    pytest.mark.letta,
    pytest.mark.skipif(not LETTA_URL, reason="set CHINWAG_LETTA_URL to run against Letta"),
]


async def test_browse_send_page_and_compact_on_letta(make_app: AppFactory) -> None:
    assert LETTA_URL
    api = ChinwagClient(LETTA_URL)
    agent = await api.create_agent("chinwag-letta-check", MODEL, persona="terse", human="tester")
    try:
        conversation = await api.create_conversation(agent.id)
        for i in range(4):
            chunks = [c async for c in api.send(conversation.id, f"message {i}")]
            text = "".join(c.content for c in chunks if isinstance(c, AssistantMessage))
            assert f"message {i}" in text  # the stub model echoes the input
        page = await api.newest_page(conversation.id, 3)
        assert await api.cursor_convention(conversation.id) == "absolute"
        seen = [m.id for m in page.messages]
        while page.more:
            page = await api.older_page(conversation.id, seen[0], 3)
            seen = [m.id for m in page.messages] + seen
        assert len(seen) == len(set(seen)) >= 9  # system + 4 turns
        result = await api.compact(conversation.id, "all")
        assert result.num_messages_after < result.num_messages_before

        app = make_app(LETTA_URL, agent_id=agent.id, conversation_id=conversation.id)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: len(app.query(MessageBlock)) >= 2, timeout=30)
            await wait_for_workers(pilot, timeout=30)
            kinds = [b.entry.kind for b in app.query(MessageBlock)]
            assert "summary" in kinds  # Letta's system_alert user message shown as a summary
    finally:
        await api.delete_agent(agent.id)
        await api.aclose()
