"""The default conversation (API.md 8) through the official SDK: every address Letta accepts
reaches the same ordinary conversation row, with locking, re-attach, cancel and compaction."""

import httpx
import letta_client
import pytest
from letta_client import Letta
from letta_client.types.agents import AssistantMessage

from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerThread
from tests.sse import frames, text_of
from tests.waiting import wait_for


def ids(page: object) -> list[str]:
    return [m.id for m in page]  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_every_address_reaches_one_default_conversation(sdk: Letta) -> None:
    agent = sdk.agents.create(memory_blocks=[{"label": "human", "value": "Name: Ada"}])
    assert sdk.agents.retrieve(agent.id).message_ids == []
    reply = sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "one"}])
    assert [m.content for m in reply.messages if isinstance(m, AssistantMessage)] == [
        "Fake reply to: one"
    ]
    streamed = list(
        sdk.conversations.messages.create(
            "default", agent_id=agent.id, messages=[{"role": "user", "content": "two"}]
        )
    )
    assert any(isinstance(c, AssistantMessage) for c in streamed)
    chunks = list(
        sdk.agents.messages.stream(agent.id, messages=[{"role": "user", "content": "three"}])
    )
    assert any(isinstance(c, AssistantMessage) for c in chunks)

    by_default = ids(sdk.conversations.messages.list("default", agent_id=agent.id, order="asc"))
    by_agent_id = ids(sdk.conversations.messages.list(agent.id, order="asc"))
    by_agent_route = ids(sdk.agents.messages.list(agent.id, order="asc"))
    assert by_default == by_agent_id == by_agent_route
    assert len(by_default) == 7  # system + three turns
    assert sdk.agents.retrieve(agent.id).message_ids == by_default
    assert [a.message_ids for a in sdk.agents.list() if a.id == agent.id] == [by_default]
    # It is Letta's agent-direct history, not one of the listed conversations.
    assert list(sdk.conversations.list(agent_id=agent.id)) == []
    default = sdk.conversations.retrieve(agent.id)
    assert default.in_context_message_ids == by_default
    listed_types = [
        m.message_type
        for m in sdk.agents.messages.list(
            agent.id, order="asc", extra_query={"include_return_message_types": "user_message"}
        )
    ]
    assert listed_types == ["user_message"] * 3


def test_default_without_an_agent_is_a_clear_400(llm_server: ServerThread) -> None:
    with llm_server.client() as http:
        for method, path in (
            ("GET", "/v1/conversations/default/messages"),
            ("POST", "/v1/conversations/default/cancel"),
            ("POST", "/v1/conversations/default/fork"),
        ):
            response = http.request(method, path)
            assert response.status_code == 400, path
            assert response.json()["code"] == "INVALID_ARGUMENT"
            assert "agent_id" in response.json()["detail"]
        sent = http.post("/v1/conversations/default/messages", json={"input": "hello"})
        assert sent.status_code == 400 and "agent_id" in sent.json()["detail"]
        unknown = http.get(
            "/v1/conversations/default/messages",
            params={"agent_id": "agent-00000000-0000-4000-8000-000000000000"},
        )
        assert unknown.status_code == 404


def test_locking_reattach_and_cancel_on_the_default_conversation(
    sdk: Letta, llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    fake_llm.reply = "first second third fourth"
    fake_llm.deltas = 4
    fake_llm.hold(after_deltas=2)
    with llm_server.client() as http:
        first = frames(
            http,
            "POST",
            f"/v1/agents/{agent.id}/messages/stream",
            json={"input": "talk slowly", "stream_tokens": True},
        )
        run_id = next(first).data["run_id"]
        fake_llm.wait_for_held(1)
        with llm_server.client() as other:
            busy = other.post(
                "/v1/conversations/default/messages",
                json={"agent_id": agent.id, "input": "me too"},
            )
            assert busy.status_code == 409
            assert busy.json()["run_id"] == run_id
            attached = frames(
                other,
                "POST",
                "/v1/conversations/default/stream",
                json={"agent_id": agent.id, "starting_after": 1},
            )
            assert next(attached).data["message_type"] == "assistant_message"
            assert sdk.agents.messages.cancel(agent.id) == {run_id: "cancelled"}
            rest = list(attached)
        assert [f.data["stop_reason"] for f in rest if f.type == "stop_reason"] == ["cancelled"]
        list(first)
        fake_llm.release()
        fake_llm.reply = None
        run = sdk.runs.retrieve(run_id)
        assert run.status == "cancelled"
        assert run.conversation_id == sdk.conversations.retrieve(agent.id).id


def test_compact_recount_and_reset_on_the_default_conversation(
    sdk: Letta, fake_llm: FakeOpenAI
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    for text in ("a", "b", "c", "d"):
        sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": text}])
    before = sdk.agents.retrieve(agent.id).message_ids
    fake_llm.reply = "They said a, b, c and d."
    result = sdk.conversations.messages.compact(
        "default", agent_id=agent.id, compaction_settings={"mode": "all"}
    )
    assert result.num_messages_before == len(before) == 9
    assert result.num_messages_after == 2
    after = sdk.agents.retrieve(agent.id).message_ids
    assert after[0] == before[0] and len(after) == 2
    fake_llm.reply = None
    sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "e"}])
    again = sdk.agents.messages.compact(agent.id, compaction_settings={"mode": "all"})
    assert again.num_messages_after == 2
    reset = sdk.agents.messages.reset(agent.id)
    assert reset is not None and reset.message_ids == []
    assert ids(sdk.agents.messages.list(agent.id)) == []
    sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "fresh"}])
    kinds = [m.message_type for m in sdk.agents.messages.list(agent.id, order="asc")]
    assert kinds == ["system_message", "user_message", "assistant_message"]


def test_health_says_the_letta_version_clients_check(llm_server: ServerThread) -> None:
    body = httpx.get(f"{llm_server.url}/v1/health/").json()
    assert body["version"] == "0.16.8" and body["server"] == "chinwag"


def test_retrieve_a_message_by_id(sdk: Letta) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "find me"}])
    user = next(
        m
        for m in sdk.agents.messages.list(agent.id, order="asc")
        if m.message_type == "user_message"
    )
    got = sdk.messages.retrieve(user.id)
    assert [m.id for m in got] == [user.id]
    assert got[0].content == "find me"  # type: ignore[union-attr]
    with pytest.raises(letta_client.NotFoundError):
        sdk.messages.retrieve("message-00000000-0000-4000-8000-000000000000")


def test_runs_list_filters_and_resume_by_run(
    sdk: Letta, llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    other = sdk.agents.create(memory_blocks=[])
    conversation = sdk.conversations.create(agent_id=agent.id)
    sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "x"}])
    list(
        sdk.conversations.messages.create(
            conversation.id, messages=[{"role": "user", "content": "y"}]
        )
    )
    sdk.agents.messages.create(other.id, messages=[{"role": "user", "content": "z"}])
    runs = list(sdk.runs.list(agent_id=agent.id))
    assert len(runs) == 2 and {r.status for r in runs} == {"completed"}
    assert runs[0].conversation_id == conversation.id  # newest first
    oldest_first = list(sdk.runs.list(agent_id=agent.id, order="asc"))
    assert [r.id for r in oldest_first] == [r.id for r in reversed(runs)]
    in_conversation = list(sdk.runs.list(conversation_id=conversation.id))
    assert [r.id for r in in_conversation] == [runs[0].id]
    assert list(sdk.runs.list(agent_id=agent.id, statuses=["running"])) == []
    assert len(list(sdk.runs.list(agent_id=agent.id, statuses=["completed", "failed"]))) == 2
    with llm_server.client() as http:
        bad = http.get("/v1/runs/", params={"statuses": "finished"})
        assert bad.status_code == 400 and "finished" in bad.json()["detail"]

    # A stream dropped mid-reply resumes by run id from the last seq_id seen.
    fake_llm.reply = "one two three four"
    fake_llm.deltas = 4
    fake_llm.hold(after_deltas=2)
    with llm_server.client() as http:
        first = frames(
            http,
            "POST",
            f"/v1/agents/{agent.id}/messages/stream",
            json={"input": "go", "stream_tokens": True},
        )
        seen = [next(first), next(first)]
        first.close()
        run_id = seen[0].data["run_id"]
        fake_llm.wait_for_held(1)
        active = list(sdk.runs.list(agent_id=agent.id, active=True))
        assert [r.id for r in active] == [run_id]
        fake_llm.release()
        resumed = list(
            frames(
                http,
                "POST",
                f"/v1/runs/{run_id}/stream",
                json={"starting_after": seen[-1].data["seq_id"]},
            )
        )
        assert text_of(seen + resumed) == "one two three four"
        wait_for(lambda: sdk.runs.retrieve(run_id).status == "completed")
    sdk_resumed = list(sdk.runs.messages.stream(run_id, starting_after=0))
    assert (
        "".join(c.content for c in sdk_resumed if isinstance(c, AssistantMessage))
        == "one two three four"
    )


def test_agent_message_list_takes_letta_codes_conversation_id(
    sdk: Letta, llm_server: ServerThread
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    conversation = sdk.conversations.create(agent_id=agent.id)
    sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "direct"}])
    list(
        sdk.conversations.messages.create(
            conversation.id, messages=[{"role": "user", "content": "in conv"}]
        )
    )
    with llm_server.client() as http:
        path = f"/v1/agents/{agent.id}/messages"
        texts = {
            named: [
                m["content"]
                for m in http.get(path, params={"conversation_id": named, "order": "asc"}).json()
                if m["message_type"] == "user_message"
            ]
            for named in ("default", conversation.id)
        }
        assert texts == {"default": ["direct"], conversation.id: ["in conv"]}
        stranger = sdk.agents.create(memory_blocks=[])
        wrong = http.get(
            f"/v1/agents/{stranger.id}/messages", params={"conversation_id": conversation.id}
        )
        assert wrong.status_code == 400


def test_async_send_run_messages_and_usage(sdk: Letta, fake_llm: FakeOpenAI) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    fake_llm.hold()
    run = sdk.agents.messages.create_async(
        agent.id, messages=[{"role": "user", "content": "in the background"}]
    )
    assert run.status == "running" and run.agent_id == agent.id
    fake_llm.release()
    wait_for(lambda: sdk.runs.retrieve(run.id).status == "completed")
    listed = list(sdk.runs.messages.list(run.id))
    assert [m.message_type for m in listed] == ["user_message", "assistant_message"]
    newest = sdk.runs.messages.list(run.id, order="desc", limit=1).items
    assert [m.id for m in newest] == [listed[-1].id]
    walked = list(sdk.runs.messages.list(run.id, order="desc", limit=1))
    assert [m.id for m in walked] == [m.id for m in reversed(listed)]
    usage = sdk.runs.usage.retrieve(run.id)
    assert usage.step_count == 1 and usage.total_tokens > 0
