"""A client with fixed, in-memory answers: the same screen every run, for snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from shared_schema import Agent, CompactResponse, Conversation, ModelInfo, parse_message
from tui.client import ChinwagClient, MessagePage, ServerInfo
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
            tool_call={"name": "lookup_temperature", "arguments": '{"dough": "sourdough"}'},
        ),
        _msg(6, "tool_return_message", tool_return='{"celsius": [24, 27]}', status="success"),
        _msg(
            7,
            "assistant_message",
            content="Aim for **24–27 °C**. In a cool kitchen:\n\n```text\noven off, light on\n```",
        ),
        _msg(8, "user_message", content="And if it over-proofs?", is_err=True),
        _msg(9, "user_message", content="Thanks, that helps."),
        _msg(10, "assistant_message", content="Happy baking! Ask me anytime."),
    ]


class CannedClient(ChinwagClient):
    """Answers from memory. ``stream_gate`` holds a streamed reply open (mid-stream shots)."""

    def __init__(self, *, empty: bool = False, busy: bool = False, down: bool = False) -> None:
        super().__init__("http://127.0.0.1:8283")
        self.down = down
        self.busy = busy
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
                    in_context_message_ids=[f"message-{i:04d}" for i in range(1, 11)],
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
        self.sent: list[str] = []

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

    async def get_agent(self, agent_id: str) -> Agent:
        return next(a for a in self.agents if a.id == agent_id)

    async def list_conversations(self, agent_id: str, limit: int = 100) -> list[Conversation]:
        return [c for c in self.conversations if c.agent_id == agent_id]

    async def get_conversation(self, conversation_id: str) -> Conversation:
        return next(c for c in self.conversations if c.id == conversation_id)

    async def newest_page(self, conversation_id: str, limit: int = 50, **_: Any) -> MessagePage:
        items = self.messages.get(conversation_id, [])
        return MessagePage(items[-limit:], len(items) > limit)

    async def send(self, conversation_id: str, text: str, **_: Any) -> AsyncIterator[Any]:
        if self.busy:
            raise ConversationBusy(409, "CONVERSATION_BUSY", "busy", self.url("/x"), BUSY_RUN)
        self.sent.append(text)
        yield parse_message({"message_type": "ping", "id": "ping-1", "run_id": "run-1"})
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
