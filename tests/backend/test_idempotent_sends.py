"""Exactly-once sends (API.md 9): a message's otid identifies it, so a retry never stores it twice
and follows, or returns, the run that stored it."""

import sqlite3
import uuid

import letta_client
import pytest
from letta_client import Letta
from letta_client.types.agents import AssistantMessage

from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerThread
from tests.sse import frames, text_of


def user_texts(sdk: Letta, conversation_id: str) -> list[str]:
    return [
        m.content
        for m in sdk.conversations.messages.list(conversation_id, order="asc", limit=1000)
        if m.message_type == "user_message"
    ]


def test_a_retried_send_is_stored_once_and_returns_the_first_outcome(
    sdk: Letta, fake_llm: FakeOpenAI
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    otid = str(uuid.uuid4())
    message = {"role": "user", "content": "only once please", "otid": otid}
    first = sdk.agents.messages.create(agent.id, messages=[message])
    again = sdk.agents.messages.create(agent.id, messages=[message])
    replies = [
        [m.content for m in r.messages if isinstance(m, AssistantMessage)] for r in (first, again)
    ]
    assert replies == [["Fake reply to: only once please"]] * 2
    assert len(fake_llm.requests) == 1
    assert user_texts(sdk, agent.id) == ["only once please"]
    stored = [m for m in sdk.agents.messages.list(agent.id) if m.message_type == "user_message"]
    assert stored[0].otid == otid
    assert len(list(sdk.runs.list(agent_id=agent.id))) == 1


def test_a_retry_while_the_run_lives_follows_it_instead_of_409(
    sdk: Letta, llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    conversation = sdk.conversations.create(agent_id=agent.id)
    path = f"/v1/conversations/{conversation.id}"
    body = {"messages": [{"role": "user", "content": "slow one", "otid": "otid-1"}]}
    fake_llm.hold()
    with llm_server.client() as http, llm_server.client() as other:
        first = frames(http, "POST", f"{path}/messages", json=body)
        run_id = next(first).data["run_id"]
        fake_llm.wait_for_held(1)
        retry = frames(other, "POST", f"{path}/messages", json=body)
        assert next(retry).data["run_id"] == run_id
        by_otid = frames(other, "POST", f"{path}/stream", json={"otid": "otid-1"})
        assert next(by_otid).data["run_id"] == run_id
        fake_llm.release()
        texts = [text_of(list(s)) for s in (first, retry, by_otid)]
    assert texts == ["Fake reply to: slow one"] * 3
    assert user_texts(sdk, conversation.id) == ["slow one"]
    # After the end, the otid still finds its run.
    replay = list(
        sdk.conversations.messages.stream(conversation.id, otid="otid-1", include_pings=False)
    )
    assert [c.content for c in replay if isinstance(c, AssistantMessage)] == [
        "Fake reply to: slow one"
    ]


def test_an_otid_reused_for_other_content_is_a_409_that_says_so(
    sdk: Letta, llm_server: ServerThread
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    sdk.agents.messages.create(
        agent.id, messages=[{"role": "user", "content": "first", "otid": "same"}]
    )
    with pytest.raises(letta_client.ConflictError) as caught:
        sdk.agents.messages.create(
            agent.id, messages=[{"role": "user", "content": "different", "otid": "same"}]
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "OTID_CONFLICT"
    assert (
        "The otid same was already used in this conversation for a different message"
        in (body["detail"])
    )
    assert caught.value.response.headers["x-should-retry"] == "false"
    with llm_server.client() as http:
        half = http.post(
            f"/v1/agents/{agent.id}/messages",
            json={
                "messages": [
                    {"role": "user", "content": "first", "otid": "same"},
                    {"role": "user", "content": "new", "otid": "fresh"},
                ]
            },
        )
        assert half.status_code == 409 and "some were not" in half.json()["detail"]
        unknown = http.post(
            "/v1/conversations/default/stream", json={"agent_id": agent.id, "otid": "nope"}
        )
        assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    assert user_texts(sdk, agent.id) == ["first"]


def test_a_retry_after_the_chunk_log_was_pruned_is_told_from_the_stored_reply(
    sdk: Letta, llm_server: ServerThread
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    message = {"role": "user", "content": "long ago", "otid": "old"}
    sdk.agents.messages.create(agent.id, messages=[message])
    with sqlite3.connect(llm_server.settings.db_path) as db:  # what housekeeping forgets
        db.execute("DELETE FROM run_chunks")
        db.execute("UPDATE runs SET answer = NULL")
    again = sdk.agents.messages.create(agent.id, messages=[message])
    assert [m.content for m in again.messages if isinstance(m, AssistantMessage)] == [
        "Fake reply to: long ago"
    ]
    assert again.stop_reason.stop_reason == "end_turn"


def test_a_retry_of_an_ended_run_answers_as_the_first_send_was_answered(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    """Byte for byte, without its chunk log: the answer is kept with the run. A streaming
    retry still replays the run's chunks."""
    with llm_server.client() as http:
        agent = http.post("/v1/agents/", json={"memory_blocks": []}).json()
        path = f"/v1/agents/{agent['id']}/messages"
        body = {"messages": [{"role": "user", "content": "keep it", "otid": "kept"}]}
        first = http.post(path, json=body)
        with sqlite3.connect(llm_server.settings.db_path) as db:
            chunks = db.execute("SELECT count(*) FROM run_chunks").fetchone()[0]
            db.execute("DELETE FROM run_chunks")
        again = http.post(path, json=body)
        assert (first.status_code, again.status_code) == (200, 200)
        assert chunks > 0 and again.content == first.content
        assert "Fake reply to: keep it" in again.text
        streamed = list(frames(http, "POST", f"{path}/stream", json=body))
    assert "Fake reply to: keep it" in text_of(streamed)
    assert len(fake_llm.requests) == 1


def test_a_forks_copies_do_not_make_its_own_sends_retries(sdk: Letta) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    message = {"role": "user", "content": "shared", "otid": "o-1"}
    sdk.agents.messages.create(agent.id, messages=[message])
    fork = sdk.conversations.fork("default", agent_id=agent.id)
    list(sdk.conversations.messages.create(fork.id, messages=[message]))
    assert user_texts(sdk, fork.id) == ["shared", "shared"]
