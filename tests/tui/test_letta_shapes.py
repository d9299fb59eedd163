"""What a real Letta server does differently: its hosted models, the placeholder of a model
list still loading, parts of one step sharing an id (issue 11, item 9)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from shared_schema import Agent, ModelInfo, parse_message
from tests.tui.canned import CannedClient, canned_app
from tests.tui.helpers import idle_in, wait_until
from tui.client import MessagePage
from tui.panes.memory import BlockCard
from tui.screens.agent_detail import AgentDetailScreen
from tui.screens.dialogs import NewAgentDialog
from tui.widgets.messages import FoldedBlock, LiveBlock

LETTA_MODELS = [
    ModelInfo(handle="letta/letta-free", model="letta-free", provider="letta", context_window=8192),
    ModelInfo(
        handle="openai/gpt-4o-mini", model="gpt-4o-mini", provider="openai", context_window=1
    ),
]


class SlowModels(CannedClient):
    """Letta's model list, given only when ``gate`` is set; records the agents made."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.made: list[str | None] = []

    async def list_models(self) -> list[ModelInfo]:
        await self.gate.wait()
        return LETTA_MODELS

    async def create_agent(self, name, model=None, **fields):  # type: ignore[no-untyped-def, override]
        self.made.append(model)
        return await super().create_agent(name, model, **fields)


async def test_the_loading_placeholder_is_never_submitted_and_hosted_models_are_not_preselected(
    isolated_config: Path,
) -> None:
    client = SlowModels()
    app = canned_app(client, isolated_config)
    async with app.run_test(size=(130, 40)) as pilot:
        await idle_in(pilot, "agents", ready=lambda: app.conversation is not None)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewAgentDialog), what="dialog")
        await wait_until(pilot, lambda: app.screen.ready, what="its fields")  # type: ignore[attr-defined]
        await pilot.press(*"quick", "ctrl+s")  # before the models are known
        await pilot.pause()
        assert isinstance(app.screen, NewAgentDialog) and client.made == []
        client.gate.set()
        await wait_until(pilot, lambda: client.made, what="the agent made")
        assert client.made == ["openai/gpt-4o-mini"]


async def test_parts_of_one_step_with_one_id_stay_apart(isolated_config: Path) -> None:
    client = CannedClient()
    app = canned_app(client, isolated_config)
    async with app.run_test(size=(130, 40)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        turn = await app.messages.begin_turn("think")
        step = {"id": "message-1", "date": "2026-11-24T11:00:00+00:00"}
        await turn.feed(
            parse_message({**step, "message_type": "reasoning_message", "reasoning": "hm"})
        )
        await turn.feed(
            parse_message({**step, "message_type": "assistant_message", "content": "yes"})
        )
        await pilot.pause()
        assert app.query(LiveBlock).last().entry.text == "yes"
        assert [b.entry.text for b in app.query(FoldedBlock) if b.entry.kind == "reasoning"][
            -1:
        ] == ["hm"]


def _letta(i: int, kind: str, content: str) -> object:
    return parse_message(
        {
            "id": f"message-{i}",
            "date": f"2026-11-24T11:{i:02d}:00+00:00",
            "message_type": kind,
            "content": [{"type": "text", "text": content}],
        }
    )


SUMMARY = (
    '{"type": "system_alert", "message": "Note: prior messages have been hidden. '
    'The following is a summary of the previous messages: we talked about bread."}'
)


class LettaAfterCompaction(CannedClient):
    """Lists like Letta after a compaction: no ``in_context`` flags, the summary dated last."""

    async def newest_page(self, conversation_id: str, limit: int = 50, **_: object):  # type: ignore[no-untyped-def, override]
        from tui.client import MessagePage

        return MessagePage(
            [
                _letta(1, "user_message", "kept question"),
                _letta(2, "assistant_message", "kept answer"),
                _letta(3, "user_message", SUMMARY),
            ],
            False,
        )

    async def get_conversation(self, conversation_id: str):  # type: ignore[no-untyped-def, override]
        fresh = await super().get_conversation(conversation_id)
        ids = ["message-3", "message-1", "message-2"]
        return fresh.model_copy(update={"in_context_message_ids": ids})


async def test_letta_summary_stands_before_the_kept_messages(isolated_config: Path) -> None:
    client = LettaAfterCompaction()
    app = canned_app(client, isolated_config)
    async with app.run_test(size=(130, 40)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: len(app.messages.blocks) == 3)
        kinds = [b.entry.kind for b in app.messages.blocks]
        assert kinds == ["summary", "user", "assistant"]


async def test_memory_blocks_keep_one_order_whatever_order_the_server_lists_them(
    isolated_config: Path,
) -> None:
    client = CannedClient()
    persona, human, notes = client.blocks
    extra = notes.model_copy(update={"id": "block-z", "label": "zeta", "value": "z"})
    client.blocks = [extra, human, notes, persona]  # as Letta may list them
    agent = client.agents[0].model_dump()
    shuffled = list(reversed(agent["memory"]["blocks"]))  # human first
    client.agents[0] = Agent.model_validate(
        {**agent, "blocks": shuffled, "memory": {"blocks": shuffled}}
    )
    app = canned_app(client, isolated_config)
    async with app.run_test(size=(150, 40)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await pilot.press("f2")
        order = ["persona", "human", "project notes/2026", "zeta"]
        await wait_until(
            pilot,
            lambda: [c.block.label for c in app.query(BlockCard)] == order,
            what="the blocks in order",
        )
        app.action_focus("agents")
        await pilot.press("e")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, AgentDetailScreen) and app.screen.block_areas,
            what="the agent's details",
        )
        assert list(app.screen.block_areas) == ["persona", "human"]  # type: ignore[attr-defined]


class CompactedOnLetta(CannedClient):
    """Letta after a compaction: messages carry no ``in_context`` flag, and a cursor after the
    newest in-context message also finds compacted ones (their positions were not renumbered)."""

    def __init__(self) -> None:
        super().__init__()
        self.later: list[Any] = []

    async def newest_page(self, conversation_id: str, limit: int = 50, **_: Any) -> MessagePage:
        page = await super().newest_page(conversation_id, limit)
        return MessagePage([_unflagged(m) for m in page.messages], page.more)

    async def newer_page(self, conversation_id: str, after_id: str, *_: Any, **__: Any) -> Any:
        return MessagePage(list(self.later), False)


def _unflagged(message: Any) -> Any:
    return message.model_copy(update={"in_context": None})


async def test_catching_up_on_letta_adds_new_messages_but_not_compacted_ones(
    isolated_config: Path,
) -> None:
    client = CompactedOnLetta()
    app = canned_app(client, isolated_config)
    async with app.run_test(size=(130, 40)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        shown = [b.entry.id for b in app.messages.blocks]
        compacted = parse_message(
            {"id": "message-0090", "message_type": "user_message", "content": "old"}
        )
        fresh = parse_message(
            {"id": "message-0013", "message_type": "user_message", "content": "from elsewhere"}
        )
        client.later = [compacted, fresh]
        conversation = client.conversations[0]
        client.conversations[0] = conversation.model_copy(
            update={"in_context_message_ids": [*conversation.in_context_message_ids, fresh.id]}
        )
        await app.chat.catch_up()
        assert [b.entry.id for b in app.messages.blocks] == [*shown, "message-0013"]
