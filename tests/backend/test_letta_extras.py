"""Smaller Letta behaviours (API.md 1, 9): compaction settings as Letta Code sends them, an
agent's default compaction settings, start-up probes, unsupported fields, description and
conversation ordering."""

import letta_client
import pytest
from letta_client import Letta

from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerThread


@pytest.fixture
def sdk(llm_server: ServerThread) -> Letta:
    return Letta(base_url=llm_server.url, api_key="unused", timeout=30, max_retries=0)


def chat(sdk: Letta, conversation_id: str, *texts: str) -> None:
    for text in texts:
        list(
            sdk.conversations.messages.create(
                conversation_id, messages=[{"role": "user", "content": text}]
            )
        )


def test_letta_auto_and_self_compact_modes(sdk: Letta, fake_llm: FakeOpenAI) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    conversation = sdk.conversations.create(agent_id=agent.id)
    chat(sdk, conversation.id, "a", "b", "c")
    fake_llm.reply = "short summary"
    result = sdk.conversations.messages.compact(
        conversation.id,
        compaction_settings={"mode": "self_compact_all", "model": "letta/auto"},
    )
    assert (result.num_messages_after, result.summary) == (2, "short summary")
    # The summary was asked of the conversation's own model.
    assert fake_llm.requests[-1]["model"] == "fake-model"
    chat(sdk, conversation.id, "d", "e", "f", "g")
    again = sdk.conversations.messages.compact(
        conversation.id, compaction_settings={"mode": "self_compact_sliding_window"}
    )
    assert 2 < again.num_messages_after < again.num_messages_before


def test_an_agents_compaction_settings_become_its_default(
    sdk: Letta, llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    agent = sdk.agents.create(memory_blocks=[], compaction_settings={"mode": "all"})
    assert agent.compaction_settings is not None and agent.compaction_settings.mode == "all"
    conversation = sdk.conversations.create(agent_id=agent.id)
    chat(sdk, conversation.id, "a", "b", "c", "d")
    fake_llm.reply = "summary"
    with llm_server.client() as http:  # Letta Code's /compact sends an empty body
        compacted = http.post(f"/v1/conversations/{conversation.id}/compact", json={})
    assert compacted.json()["num_messages_after"] == 2
    updated = sdk.agents.update(
        agent.id, compaction_settings={"mode": "sliding_window", "sliding_window_percentage": 0.5}
    )
    assert updated.compaction_settings.mode == "sliding_window"  # type: ignore[union-attr]
    fake_llm.reply = None
    chat(sdk, conversation.id, "e", "f", "g", "h")
    fake_llm.reply = "summary two"
    windowed = sdk.conversations.messages.compact(conversation.id)
    assert windowed.num_messages_after > 2
    # A request's own settings win over the agent's.
    chat(sdk, conversation.id, "i")
    forced = sdk.conversations.messages.compact(
        conversation.id, compaction_settings={"mode": "all"}
    )
    assert forced.num_messages_after == 2


def test_start_up_probes_answer_truthfully(sdk: Letta, llm_server: ServerThread) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    with llm_server.client() as http:
        for what in ("secrets", "mcp-servers", "repositories"):
            response = http.get(f"/v1/agents/{agent.id}/{what}")
            assert (response.status_code, response.json()) == (200, []), what
            unknown = http.get(f"/v1/agents/agent-00000000-0000-4000-8000-000000000000/{what}")
            assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tool_rules", [{"type": "exit_loop", "tool_name": "send_message"}]),
        ("initial_message_sequence", [{"role": "user", "content": "hi"}]),
        ("message_buffer_autoclear", True),
        ("folder_ids", ["source-1"]),
    ],
)
def test_agent_fields_that_cannot_be_honoured_are_a_400(
    sdk: Letta, field: str, value: object
) -> None:
    before = len(list(sdk.agents.list()))
    with pytest.raises(letta_client.BadRequestError) as caught:
        sdk.agents.create(memory_blocks=[], extra_body={field: value})
    assert caught.value.body["detail"].startswith(f"{field} is not supported")  # type: ignore[index]
    assert len(list(sdk.agents.list())) == before
    sdk.agents.create(
        memory_blocks=[], extra_body={field: [] if isinstance(value, list) else False}
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("override_model", "fake/other"),
        ("override_system", "You are someone else."),
        ("use_assistant_message", False),
        ("callback_url", "http://127.0.0.1:1/hook"),
    ],
)
def test_send_fields_that_cannot_be_honoured_are_a_400(
    sdk: Letta, fake_llm: FakeOpenAI, field: str, value: object
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    with pytest.raises(letta_client.BadRequestError) as caught:
        sdk.agents.messages.create(
            agent.id, messages=[{"role": "user", "content": "x"}], extra_body={field: value}
        )
    assert caught.value.body["detail"].startswith(f"{field} is not supported")  # type: ignore[index]
    assert sdk.agents.retrieve(agent.id).message_ids == [] and fake_llm.requests == []
    # What Letta Code sends with every message is accepted.
    sdk.agents.messages.create(
        agent.id,
        messages=[{"role": "user", "content": "y"}],
        extra_body={
            "background": True,
            "include_compaction_messages": True,
            "client_skills": [],
            "use_assistant_message": True,
        },
    )


def test_description_and_conversation_order(sdk: Letta) -> None:
    agent = sdk.agents.create(memory_blocks=[], description="Answers about tea.")
    assert sdk.agents.retrieve(agent.id).description == "Answers about tea."
    assert sdk.agents.update(agent.id, description="Coffee too.").description == "Coffee too."
    older, newer, idle = (sdk.conversations.create(agent_id=agent.id) for _ in range(3))
    chat(sdk, newer.id, "first")
    chat(sdk, older.id, "latest")
    by_activity = [
        c.id
        for c in sdk.conversations.list(agent_id=agent.id, order_by="last_message_at", order="desc")
    ]
    assert by_activity == [older.id, newer.id, idle.id]
    by_run = sdk.conversations.list(agent_id=agent.id, order_by="last_run_completion", order="asc")
    assert [c.id for c in by_run] == [idle.id, newer.id, older.id]
    page = sdk.conversations.list(
        agent_id=agent.id, order_by="last_message_at", order="desc", after=older.id, limit=1
    )
    assert [c.id for c in page] == [newer.id]
    by_creation = sdk.conversations.list(agent_id=agent.id, order="asc")
    assert [c.id for c in by_creation] == [older.id, newer.id, idle.id]
