"""Sending and streaming (API.md 4 and 5.2) against the fake model over real HTTP."""

import httpx
import pytest
from letta_client import Letta
from letta_client.types.agents import AssistantMessage
from letta_client.types.agents.letta_streaming_response import (
    LettaStopReason,
    LettaUsageStatistics,
)

from tests.conftest import fake_provider_config
from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerThread
from tests.sse import send, text_of


def new_conversation(http: httpx.Client, **agent: object) -> tuple[dict, dict]:
    agent.setdefault("memory_blocks", [{"label": "human", "value": "Name: Ada"}])
    made = http.post("/v1/agents/", json=agent).json()
    conversation = http.post("/v1/conversations/", params={"agent_id": made["id"]}).json()
    return made, conversation


def history(http: httpx.Client, conversation_id: str, **params: object) -> list[dict]:
    return http.get(
        f"/v1/conversations/{conversation_id}/messages", params={"limit": 1000, **params}
    ).json()


def test_sdk_streams_typed_messages_and_history(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    sdk = Letta(base_url=llm_server.url, api_key="unused", timeout=30)
    agent = sdk.agents.create(memory_blocks=[{"label": "human", "value": "Name: Ada"}])
    assert agent.model == "fake/fake-model"
    conversation = sdk.conversations.create(agent_id=agent.id)
    fake_llm.reply = "Hello Ada, nice to meet you."
    chunks = list(
        sdk.conversations.messages.create(
            conversation.id, messages=[{"role": "user", "content": "hi, I am Ada"}]
        )
    )
    kinds = [type(c) for c in chunks]
    assert AssistantMessage in kinds and LettaStopReason in kinds
    assert LettaUsageStatistics in kinds
    assistant = next(c for c in chunks if isinstance(c, AssistantMessage))
    assert assistant.content == "Hello Ada, nice to meet you."
    stop = next(c for c in chunks if isinstance(c, LettaStopReason))
    assert stop.stop_reason == "end_turn"
    listed = sdk.conversations.messages.list(conversation.id, order="asc")
    assert [m.message_type for m in listed.items] == [
        "system_message",
        "user_message",
        "assistant_message",
    ]
    sent = fake_llm.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "Name: Ada" in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "hi, I am Ada"}


def test_conversations_of_one_agent_never_see_each_other(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        agent, first = new_conversation(http)
        second = http.post("/v1/conversations/", params={"agent_id": agent["id"]}).json()
        send(http, first["id"], "alpha secret")
        send(http, second["id"], "beta question")
        to_second = fake_llm.requests[-1]["messages"]
        assert "alpha" not in str(to_second)
        assert [m["role"] for m in to_second] == ["system", "user"]
        send(http, first["id"], "alpha again")
        to_first = fake_llm.requests[-1]["messages"]
        assert "beta" not in str(to_first)
        assert [m["content"] for m in to_first if m["role"] == "user"] == [
            "alpha secret",
            "alpha again",
        ]
        systems = [history(http, c["id"])[0] for c in (first, second)]
        assert all(m["message_type"] == "system_message" for m in systems)
        assert systems[0]["id"] != systems[1]["id"]


def test_stream_order_seq_ids_and_done(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        got = send(http, conversation["id"], "hello")
    types = [f.type for f in got]
    assert types[0] == "ping" and got[0].data["run_id"].startswith("run-")
    assert types[-4:-1] == ["assistant_message", "stop_reason", "usage_statistics"]
    assert got[-1].data == "[DONE]"
    seq = [f.data["seq_id"] for f in got[:-1]]
    assert seq == list(range(1, len(seq) + 1))
    assert text_of(got) == "Fake reply to: hello"


def test_stream_tokens_share_one_id_and_list_whole_text(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.reply = "one two three four five six"
    fake_llm.deltas = 6
    fake_llm.reasoning = "thinking it over"
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        got = send(http, conversation["id"], "count", stream_tokens=True, include_pings=False)
        assert got[0].type == "reasoning_message"
        pieces = [f.data for f in got if f.type == "assistant_message"]
        assert len(pieces) == 6 and len({p["id"] for p in pieces}) == 1
        assert "".join(p["content"] for p in pieces) == fake_llm.reply
        listed = history(http, conversation["id"])
        assert listed[-1]["id"] == pieces[0]["id"]
        assert listed[-1]["content"] == fake_llm.reply
        assert listed[-2]["message_type"] == "reasoning_message"
        assert listed[-2]["reasoning"] == "thinking it over"


def test_input_string_and_non_streaming_response(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        response = http.post(
            f"/v1/conversations/{conversation['id']}/messages",
            json={"input": "plain input", "streaming": False},
        )
        body = response.json()
        assert response.status_code == 200
        assert [m["message_type"] for m in body["messages"]] == ["assistant_message"]
        assert body["messages"][0]["content"] == "Fake reply to: plain input"
        assert body["stop_reason"]["stop_reason"] == "end_turn"
        assert body["usage"]["total_tokens"] > 0


def test_tool_call_gets_an_error_result_and_the_turn_goes_on(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.tool_call = {"id": "call_1", "name": "web_search", "arguments": '{"q": "x"}'}
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        got = send(http, conversation["id"], "search", max_steps=2)
        calls = [f.data for f in got if f.type == "tool_call_message"]
        assert calls[0]["tool_call"]["name"] == "web_search"
        stop = next(f.data for f in got if f.type == "stop_reason")
        assert stop["stop_reason"] == "max_steps"
        kinds = [m["message_type"] for m in history(http, conversation["id"])]
        assert kinds.count("tool_call_message") == 2 and kinds.count("tool_return_message") == 2


def test_send_errors_store_nothing(llm_server: ServerThread) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        path = f"/v1/conversations/{conversation['id']}/messages"
        missing = http.post(
            "/v1/conversations/conv-00000000-0000-4000-8000-000000000000/messages",
            json={"input": "x"},
        )
        assert missing.status_code == 404
        for body in (
            {"messages": []},
            {},
            {"messages": [{"role": "robot", "content": "x"}]},
            {"messages": "hello"},
        ):
            response = http.post(path, json=body)
            assert response.status_code == 422, body
            assert response.json()["code"] == "VALIDATION_ERROR"
        assert history(http, conversation["id"]) == []


def test_provider_without_key_is_400_naming_the_variable(server: ServerThread) -> None:
    with server.client() as http:
        _, conversation = new_conversation(http, model="openai/gpt-4o-mini")
        response = http.post(
            f"/v1/conversations/{conversation['id']}/messages", json={"input": "hi"}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "LLM_NOT_CONFIGURED"
        assert "OPENAI_API_KEY" in response.json()["detail"]
        assert history(http, conversation["id"]) == []


def test_input_too_large_for_the_window_is_refused(server_factory) -> None:
    server = server_factory(config={"providers": {"builtin": {"context_window": 500}}})
    with server.client() as http:
        _, conversation = new_conversation(http)
        response = http.post(
            f"/v1/conversations/{conversation['id']}/messages", json={"input": "word " * 3000}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "CONTEXT_WINDOW_EXCEEDED"
        assert history(http, conversation["id"]) == []


def test_a_600_kb_message_is_accepted(server_factory, fake_llm: FakeOpenAI) -> None:
    config = fake_provider_config(fake_llm, context_windows={"fake-model": 1_000_000})
    server = server_factory(config=config)
    text = "All work and no play. " * 28_000
    assert len(text.encode()) > 600_000
    with server.client() as http:
        _, conversation = new_conversation(http)
        got = send(http, conversation["id"], text)
        assert got[-1].data == "[DONE]"
        assert history(http, conversation["id"])[1]["content"] == text


@pytest.mark.parametrize("model", ["builtin/echo"])
def test_builtin_model_reflects_earlier_messages(server: ServerThread, model: str) -> None:
    with server.client() as http:
        _, conversation = new_conversation(http, model=model)
        send(http, conversation["id"], "my cat is called Miso")
        reply = text_of(send(http, conversation["id"], "what should I cook?"))
        assert "what should I cook?" in reply and "Miso" in reply
