"""A client with fixed, in-memory answers: the same screen every run, for snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared_schema import Agent, Block, CompactResponse, Conversation, ModelInfo, parse_message
from tests.tui.conftest import pinned_settings
from tui.app import ChinwagApp
from tui.client import (
    BlockChange,
    ChinwagClient,
    ContextOverview,
    MessagePage,
    SearchHit,
    ServerInfo,
    default_conversation,
    is_default,
)
from tui.config import load_config
from tui.errors import ConnectionFailed, ConversationBusy

DATE = "2026-11-24T11:{:02d}:00+00:00"
BUSY_RUN = "run-6f1c2a9e-0b7d-4c1e-9a53-2d8e4f7b1c90"


def _agent(i: int, name: str, model: str) -> Agent:
    blocks = [
        {"id": f"block-{i}-p", "label": "persona", "value": "I am a patient baker."},
        {"id": f"block-{i}-h", "label": "human", "value": "Sam, learning sourdough."},
    ]
    return Agent.model_validate(
        {
            "id": f"agent-{i}",
            "name": name,
            "model": model,
            "system": "You are a helpful assistant with a persistent memory.",
            "blocks": blocks,
            "memory": {"blocks": blocks},
            "llm_config": {"handle": model, "model": model.split("/")[1], "context_window": 8192},
        }
    )


def _msg(i: int, kind: str, **fields: Any) -> BaseModel:
    # Flagged like the bundled server's listing (the app then shows it as listed).
    data = {"id": f"message-{i:04d}", "date": DATE.format(30 + i), "message_type": kind}
    return parse_message({**data, "in_context": True, **fields})


def transcript() -> list[BaseModel]:
    """A short conversation that shows every kind of block."""
    return [
        _msg(1, "system_message", content="You are a helpful assistant with a persistent memory."),
        _msg(2, "summary_message", summary="Sam asked how to feed a starter; we agreed on 1:1:1."),
        _msg(3, "user_message", content="How warm should the proof be?"),
        _msg(4, "reasoning_message", reasoning="Sam keeps a cool kitchen; suggest a range."),
        _msg(
            5,
            "tool_call_message",
            tool_call={
                "name": "lookup_temperature",
                "arguments": '{"dough": "sourdough"}',
                "tool_call_id": "call-1",
            },
        ),
        _msg(
            6,
            "tool_return_message",
            tool_return='{"celsius": [24, 27]}',
            status="success",
            tool_call_id="call-1",
        ),
        _msg(
            7,
            "assistant_message",
            content="Aim for **24–27 °C**. In a cool kitchen:\n\n```text\noven off, light on\n```",
        ),
        _msg(8, "user_message", content="And if it over-proofs?", is_err=True),
        _msg(9, "user_message", content="Thanks, that helps. I like tea with it."),
        _msg(10, "tool_call_message", tool_call=MEMORY_CALL),
        _msg(
            11,
            "tool_return_message",
            tool_return="The core memory block with label `human` has been edited.",
            status="success",
            tool_call_id="call-2",
        ),
        _msg(12, "assistant_message", content="Happy baking! Ask me anytime."),
    ]


MEMORY_CALL = {
    "name": "memory_insert",
    "arguments": '{"label": "human", "new_string": "Likes tea.", "insert_line": -1}',
    "tool_call_id": "call-2",
}
APPROVAL_CALL = {
    "name": "memory_replace",
    "arguments": '{"label": "human", "old_string": "Likes tea.", "new_string": "Likes green tea."}',
    "tool_call_id": "call-3",
}


def approval_request() -> BaseModel:
    return _msg(13, "approval_request_message", tool_call=APPROVAL_CALL, tool_calls=[APPROVAL_CALL])


def _block(i: int, label: str, value: str, limit: int = 5000) -> Block:
    return Block(id=f"block-{i}", label=label, value=value, limit=limit)


HISTORY = [
    BlockChange(
        version=2,
        actor="agent",
        tool_name="memory_insert",
        run_id="run-1",
        before="Sam, learning sourdough.",
        after="Sam, learning sourdough.\nLikes tea.",
        created_at="2026-11-24T11:41:00+00:00",
    ),
    BlockChange(
        version=1,
        actor="person",
        tool_name=None,
        run_id=None,
        before="",
        after="Sam, learning sourdough.",
        created_at="2026-11-22T09:00:00+00:00",
    ),
]


class CannedClient(ChinwagClient):
    """Answers from memory. ``stream_gate`` holds a streamed reply open (mid-stream shots)."""

    def __init__(
        self,
        *,
        empty: bool = False,
        busy: bool = False,
        down: bool = False,
        approval: bool = False,
        memory_turn: bool = False,
    ) -> None:
        super().__init__("http://127.0.0.1:8283")
        self.down = down
        self.busy = busy
        self.memory_turn = memory_turn  # the reply edits memory (a live edit)
        self.blocks = [
            _block(1, "persona", "I am a patient baker."),
            _block(2, "human", "Sam, learning sourdough.", limit=200),
            _block(3, "project notes/2026", "Levain at 10am; bake Saturday."),
        ]
        self.stream_gate = asyncio.Event()
        self.agents = (
            []
            if empty
            else [
                _agent(1, "baker", "builtin/echo"),
                _agent(2, "researcher", "openai/gpt-4o-mini"),
            ]
        )
        self.conversations = (
            []
            if empty
            else [
                Conversation(
                    id="conv-1",
                    agent_id="agent-1",
                    summary="Proofing sourdough",
                    last_message_at="2026-11-24T11:59:00+00:00",
                    in_context_message_ids=[f"message-{i:04d}" for i in range(1, 13)],
                ),
                Conversation(
                    id="conv-2",
                    agent_id="agent-1",
                    summary=None,
                    created_at="2026-11-22T09:00:00+00:00",
                ),
            ]
        )
        self.messages: dict[str, list[BaseModel]] = {"conv-1": transcript(), "conv-2": []}
        if approval:
            self.messages["conv-1"].append(approval_request())
        self.sent: list[str] = []

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Nothing canned goes to the network: a shot must not depend on what listens there."""
        raise AssertionError(f"the canned client has no answer for {method} {path}")

    async def health(self) -> ServerInfo:
        if self.down:
            raise ConnectionFailed(self.url("/v1/health/"), "connection refused")
        return ServerInfo(version="0.1.0", latency_ms=3.0)

    async def list_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(handle="builtin/echo", model="echo", provider="builtin", context_window=8192),
            ModelInfo(
                handle="openai/gpt-4o-mini",
                model="gpt-4o-mini",
                provider="openai",
                context_window=128000,
            ),
        ]

    async def list_agents(self, limit: int = 100) -> list[Agent]:
        return list(self.agents)

    async def create_agent(self, name: str, model: str | None = None, **_: Any) -> Agent:
        agent = _agent(len(self.agents) + 1, name, model or "builtin/echo")
        self.agents.insert(0, agent)
        return agent

    async def get_agent(self, agent_id: str) -> Agent:
        return next(a for a in self.agents if a.id == agent_id)

    async def list_conversations(self, agent_id: str, limit: int = 100) -> list[Conversation]:
        return [c for c in self.conversations if c.agent_id == agent_id]

    async def conversations_waiting(self, agent_id: str, conversation_ids: list[str]) -> set[str]:
        return {
            c
            for c in conversation_ids
            if any(m.message_type == "approval_request_message" for m in self.messages.get(c, []))  # type: ignore[attr-defined]
        }

    async def get_conversation(self, conversation_id: str) -> Conversation:
        if is_default(conversation_id):
            return default_conversation(await self.get_agent(conversation_id))
        return next(c for c in self.conversations if c.id == conversation_id)

    async def newest_page(self, conversation_id: str, limit: int = 50, **_: Any) -> MessagePage:
        items = self.messages.get(conversation_id, [])
        return MessagePage(items[-limit:], len(items) > limit)

    async def send(self, conversation_id: str, text: str, **_: Any) -> AsyncIterator[Any]:
        if self.busy:
            raise ConversationBusy(409, "CONVERSATION_BUSY", "busy", self.url("/x"), BUSY_RUN)
        self.sent.append(text)
        yield parse_message({"message_type": "ping", "id": "ping-1", "run_id": "run-1"})
        if self.memory_turn:
            async for chunk in self._memory_turn():
                yield chunk
            return
        yield _msg(20, "reasoning_message", reasoning="Sam wants a schedule.")
        for fragment in ("Here is a ", "schedule:\n\n", "1. Mix at 9\n", "2. Shape at "):
            yield _msg(21, "assistant_message", content=fragment)
        await self.stream_gate.wait()
        yield _msg(21, "assistant_message", content="15\n")
        yield parse_message({"message_type": "stop_reason", "stop_reason": "end_turn"})

    async def compact(self, conversation_id: str, mode: str = "sliding_window") -> CompactResponse:
        summary = _msg(30, "summary_message", summary="Proofing at 24–27 °C; over-proofing fixes.")
        self.messages[conversation_id] = [transcript()[0], summary, *transcript()[-2:]]
        return CompactResponse(summary="x", num_messages_before=10, num_messages_after=4)

    async def _memory_turn(self) -> AsyncIterator[Any]:
        """The agent writes to its memory, then answers: arguments stream in pieces."""
        call = {
            **MEMORY_CALL,
            "arguments": '{"label": "human", "new_string": "Bakes on Saturdays."}',
        }
        head, tail = call["arguments"][:20], call["arguments"][20:]
        yield _msg(40, "tool_call_message", tool_call={**call, "arguments": head})
        yield _msg(40, "tool_call_message", tool_call={"arguments": tail})
        human = self.blocks[1]
        self.blocks[1] = human.model_copy(update={"value": human.value + "\nBakes on Saturdays."})
        yield _msg(
            41, "tool_return_message", tool_return="ok", status="success", tool_call_id="call-2"
        )
        yield _msg(42, "assistant_message", content="Noted: you bake on Saturdays.")
        yield parse_message({"message_type": "stop_reason", "stop_reason": "end_turn"})

    async def list_blocks(self, agent_id: str) -> list[Block]:
        return list(self.blocks)

    async def block_history(self, block_id: str, limit: int = 50, before: Any = None) -> list:
        return list(HISTORY)

    async def search(self, query: str, *, agent_id: str | None = None, limit: int = 50) -> list:
        hits = [
            m
            for m in transcript()
            if query.lower() in (getattr(m, "content", "") or "").lower()
            and m.message_type in ("user_message", "assistant_message")  # type: ignore[attr-defined]
        ]
        return [SearchHit(m, "conv-1", "agent-1") for m in hits]

    async def context_overview(self, agent_id: str, conversation_id: Any = None) -> ContextOverview:
        return ContextOverview(
            window=8192,
            current=7400,
            system=1200,
            core_memory=310,
            summary=240,
            messages=4150,
            tools=1500,
            num_messages=12,
        )


def canned_app(client: CannedClient, config: Path, **overrides: Any) -> ChinwagApp:
    """The app on ``client``, with the test settings and the config file at ``config``."""
    settings = pinned_settings(
        client.base_url, load_config(config), client_factory=lambda url, token: client, **overrides
    )
    return ChinwagApp(settings)
