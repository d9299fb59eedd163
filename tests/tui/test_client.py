"""The API client against the real bundled server over HTTP, and against Letta's conventions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from shared_schema import AssistantMessage, ErrorMessage, PingMessage, StopReason
from tests.seed import seed_history
from tests.servers import ServerThread
from tests.tui.letta_double import LettaDouble, sse
from tui.client import ChinwagClient, Reattached
from tui.errors import (
    ConnectionFailed,
    ConversationBusy,
    NotFound,
    StreamDropped,
    Unauthorized,
)
from tui.launcher import free_port


@pytest.fixture
async def client(server: ServerThread) -> AsyncIterator[ChinwagClient]:
    api = ChinwagClient(server.url)
    yield api
    await api.aclose()


async def test_health_reports_version_and_latency(client: ChinwagClient) -> None:
    info = await client.health()
    assert info.version
    assert 0 < info.latency_ms < 5000


async def test_agent_and_conversation_crud(client: ChinwagClient) -> None:
    models = await client.list_models()
    assert "builtin/echo" in [m.handle for m in models]
    agent = await client.create_agent("ada", "builtin/echo", persona="terse", human="Bob")
    assert agent.model == "builtin/echo"
    assert {b.label: b.value for b in agent.memory.blocks} == {"persona": "terse", "human": "Bob"}
    assert [a.id for a in await client.list_agents()] == [agent.id]

    block = await client.update_block(agent.id, "human", "Bob, a baker")
    assert block.value == "Bob, a baker"
    renamed = await client.update_agent(agent.id, name="ada2", system="Be brief.")
    assert (renamed.name, renamed.system) == ("ada2", "Be brief.")

    first = await client.create_conversation(agent.id)
    second = await client.create_conversation(agent.id, "about bread")
    listed = await client.list_conversations(agent.id)
    assert {c.id for c in listed} == {first.id, second.id}
    assert (await client.rename_conversation(first.id, "hello")).summary == "hello"
    assert (await client.get_conversation(first.id)).summary == "hello"
    await client.delete_conversation(second.id)
    assert [c.id for c in await client.list_conversations(agent.id)] == [first.id]
    await client.delete_agent(agent.id)
    assert await client.list_agents() == []


async def test_not_found_is_typed_with_code_and_url(client: ChinwagClient) -> None:
    missing = "conv-00000000-0000-4000-8000-000000000000"
    with pytest.raises(NotFound) as caught:
        await client.get_conversation(missing)
    assert caught.value.status == 404
    assert caught.value.code == "NOT_FOUND"
    assert caught.value.url == f"{client.base_url}/v1/conversations/{missing}"
    assert caught.value.detail


async def test_refused_connection_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    api = ChinwagClient(url)
    with pytest.raises(ConnectionFailed) as caught:
        await api.health()
    await api.aclose()
    assert caught.value.url == f"{url}/v1/health/"
    assert "connection refused" in caught.value.message
    assert url in caught.value.message


async def test_wrong_token_is_unauthorized(server_factory) -> None:
    server = server_factory(token="s3cret")
    wrong = ChinwagClient(server.url, token="nope")
    right = ChinwagClient(server.url, token="s3cret")
    try:
        await wrong.health()  # health stays open
        with pytest.raises(Unauthorized) as caught:
            await wrong.list_agents()
        assert caught.value.status == 401
        assert caught.value.code == "UNAUTHORIZED"
        assert await right.list_agents() == []
    finally:
        await wrong.aclose()
        await right.aclose()


async def test_paging_walks_a_history_backwards_exactly_once(
    server: ServerThread, client: ChinwagClient
) -> None:
    agent = await client.create_agent("pager")
    conversation = await client.create_conversation(agent.id)
    ids = await asyncio.to_thread(seed_history, server.settings.db_path, conversation.id, 257)
    page = await client.newest_page(conversation.id, 50)
    assert await client.cursor_convention(conversation.id) == "relative"
    seen = [m.id for m in page.messages]
    assert seen == ids[-50:]
    while page.more:
        page = await client.older_page(conversation.id, seen[0], 50)
        seen = [m.id for m in page.messages] + seen
    assert seen == ids
    newer = await client.newer_page(conversation.id, ids[100], 10)
    assert [m.id for m in newer.messages] == ids[101:111]
    assert newer.more


async def test_paging_detects_absolute_cursors_of_self_hosted_letta() -> None:
    letta = LettaDouble(23)
    api = ChinwagClient("http://letta.test", transport=httpx.MockTransport(letta.handler))
    page = await api.newest_page("conv-1", 5)
    assert api._convention == "absolute"
    seen = [m.id for m in page.messages]
    while page.more:
        page = await api.older_page("conv-1", seen[0], 5)
        seen = [m.id for m in page.messages] + seen
    await api.aclose()
    assert seen == [m["id"] for m in letta.messages]
    assert page.messages[0].role == "user"  # derived: Letta sends no role
    assert page.messages[0].content == "message 0"  # flattened from a list of parts
    assert all("order" in r.url.params for r in letta.requests)


@pytest.mark.parametrize("conversation_id", ["conv-1", "agent-1"])
async def test_paging_a_letta_default_conversation_whose_desc_pages_are_chronological(
    conversation_id: str,
) -> None:
    letta = LettaDouble(23)
    api = ChinwagClient("http://letta.test", transport=httpx.MockTransport(letta.handler))
    page = await api.newest_page(conversation_id, 5)
    ids = [m["id"] for m in letta.messages]
    assert [m.id for m in page.messages] == ids[-5:]
    seen = [m.id for m in page.messages]
    while page.more:
        page = await api.older_page(conversation_id, seen[0], 5)
        seen = [m.id for m in page.messages] + seen
    await api.aclose()
    assert seen == ids


async def test_busy_from_letta_detail_carries_the_run_id() -> None:
    run_id = "run-01cebed3-e0b2-4e44-b299-8ff579eea465"
    detail = (
        f"CONFLICT: Cannot send a new message: Another request (run_id={run_id}) is currently "
        "being processed for this conversation. Please wait for it to complete."
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"detail": detail})

    api = ChinwagClient("http://letta.test", transport=httpx.MockTransport(handler))
    with pytest.raises(ConversationBusy) as caught:
        async for _ in api.send("conv-1", "hi"):
            pass
    await api.aclose()
    assert caught.value.run_id == run_id
    assert caught.value.code == "CONVERSATION_BUSY"


async def test_stream_parses_chunks_and_error_events() -> None:
    frames = [
        {"message_type": "ping", "id": "ping-1", "run_id": "run-1", "seq_id": 1},
        {"message_type": "assistant_message", "id": "message-1", "content": "Hel", "seq_id": 2},
        {"message_type": "assistant_message", "id": "message-1", "content": "lo", "seq_id": 3},
        {"message_type": "stop_reason", "stop_reason": "llm_api_error", "seq_id": 4},
    ]
    error = {"message_type": "error_message", "run_id": "run-1", "message": "boom", "seq_id": 5}

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["stream_tokens"] is True
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, content=b"".join(sse(frames, error)))

    api = ChinwagClient("http://x.test", transport=httpx.MockTransport(handler))
    chunks = [c async for c in api.send("conv-1", "hi")]
    await api.aclose()
    assert [type(c) for c in chunks] == [
        PingMessage,
        AssistantMessage,
        AssistantMessage,
        StopReason,
        ErrorMessage,
    ]
    assert chunks[-1].message == "boom"


async def test_letta_streams_an_approval_request_in_fragments() -> None:
    """Letta sends each fragment of the call as ``tool_calls: {…}``, an object, not a list."""

    def fragment(seq: int, name: str | None, arguments: str | None) -> dict:
        call = {"name": name, "arguments": arguments, "tool_call_id": "call_1"}
        return {
            "message_type": "approval_request_message",
            "id": "message-1",
            "seq_id": seq,
            "tool_call": call,
            "tool_calls": call,
        }

    frames = [
        fragment(1, "memory_insert", None),
        fragment(2, None, '{"label": "human"}'),
        {"message_type": "stop_reason", "stop_reason": "requires_approval"},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, content=b"".join(sse(frames)))

    api = ChinwagClient("http://x.test", transport=httpx.MockTransport(handler))
    chunks = [c async for c in api.send("conv-1", "hi")]
    await api.aclose()
    assert [c.tool_calls[0].arguments for c in chunks[:2]] == [None, '{"label": "human"}']
    assert chunks[0].tool_calls[0].name == "memory_insert"


class DroppingTransport(httpx.AsyncBaseTransport):
    """Cuts the first stream after ``cut`` frames; later requests go to ``handler``."""

    def __init__(self, frames: list[dict], cut: int, run_status: str = "running") -> None:
        self.frames, self.cut, self.run_status = frames, cut, run_status
        self.bodies: list[tuple[str, dict]] = []
        self.run_checks = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/v1/runs/"):
            self.run_checks += 1
            run = {"id": request.url.path.rsplit("/", 1)[-1], "status": self.run_status}
            return httpx.Response(200, json=run)
        body = json.loads(request.content or b"{}")
        self.bodies.append((request.url.path, body))
        headers = {"content-type": "text/event-stream"}
        if len(self.bodies) == 1:
            return httpx.Response(200, headers=headers, stream=_Cut(self.frames[: self.cut]))
        after = body["starting_after"]
        rest = [f for f in self.frames if f["seq_id"] > after]
        return httpx.Response(200, headers=headers, content=b"".join(sse(rest)))


class _Cut(httpx.AsyncByteStream):
    def __init__(self, frames: list[dict]) -> None:
        self.frames = frames

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in sse(self.frames):
            if chunk.startswith(b"data: [DONE]"):
                break
            yield chunk
        raise httpx.ReadError("connection reset by peer")


async def test_dropped_stream_reattaches_after_the_last_seq_without_duplicates() -> None:
    frames = [{"message_type": "ping", "id": "ping-1", "run_id": "run-7", "seq_id": 1}]
    words = ["one ", "two ", "three ", "four ", "five"]
    frames += [
        {"message_type": "assistant_message", "id": "message-1", "content": w, "seq_id": i + 2}
        for i, w in enumerate(words)
    ]
    frames.append({"message_type": "stop_reason", "stop_reason": "end_turn", "seq_id": 7})
    transport = DroppingTransport(frames, cut=3)
    api = ChinwagClient("http://x.test", transport=transport)
    chunks = [c async for c in api.send("conv-1", "count")]
    await api.aclose()
    text = "".join(c.content for c in chunks if isinstance(c, AssistantMessage))
    assert text == "one two three four five"
    markers = [c for c in chunks if isinstance(c, Reattached)]
    assert markers == [Reattached("run-7", 3, replayed=False)]
    path, body = transport.bodies[1]
    assert path == "/v1/conversations/conv-1/stream"
    assert body["run_id"] == "run-7"
    assert body["starting_after"] == 3
    assert transport.bodies[0][1]["background"] is True  # Letta numbers chunks only then
    assert transport.run_checks == 1


async def test_a_dropped_stream_of_a_finished_run_is_not_reattached() -> None:
    frames = [{"message_type": "ping", "id": "ping-1", "run_id": "run-7", "seq_id": 1}]
    frames += [{"message_type": "assistant_message", "id": "m-1", "content": "a", "seq_id": 2}]
    transport = DroppingTransport(frames, cut=2, run_status="completed")
    api = ChinwagClient("http://x.test", transport=transport)
    with pytest.raises(StreamDropped, match="cannot be resumed"):
        [c async for c in api.send("conv-1", "hi")]
    await api.aclose()
    assert len(transport.bodies) == 1  # no re-attach


async def test_a_dropped_stream_without_seq_ids_is_not_reattached() -> None:
    frames = [{"message_type": "ping", "id": "ping-1", "run_id": "run-7", "seq_id": None}]
    frames += [{"message_type": "assistant_message", "id": "m-1", "content": "a", "seq_id": None}]
    transport = DroppingTransport(frames, cut=2)
    api = ChinwagClient("http://x.test", transport=transport)
    with pytest.raises(StreamDropped, match="cannot be resumed"):
        [c async for c in api.send("conv-1", "hi")]
    await api.aclose()
    assert len(transport.bodies) == 1 and transport.run_checks == 0


async def test_stop_reason_then_end_of_stream_is_the_end_of_the_run() -> None:
    frames = [
        {"message_type": "ping", "id": "ping-1", "run_id": "run-7", "seq_id": None},
        {"message_type": "stop_reason", "stop_reason": "cancelled"},
    ]
    transport = DroppingTransport(frames, cut=2)
    api = ChinwagClient("http://x.test", transport=transport)
    chunks = [c async for c in api.send("conv-1", "cancel me")]
    await api.aclose()
    assert [c.stop_reason for c in chunks if isinstance(c, StopReason)] == ["cancelled"]
    assert not any(isinstance(c, Reattached) for c in chunks)
    assert len(transport.bodies) == 1
