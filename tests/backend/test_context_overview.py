"""``GET /v1/agents/{id}/context`` (API.md 9): Letta's context window overview."""

from typing import Any

from letta_client import Letta

from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerThread

PARTS = (
    "num_tokens_system",
    "num_tokens_core_memory",
    "num_tokens_summary_memory",
    "num_tokens_messages",
    "num_tokens_functions_definitions",
    "num_tokens_external_memory_summary",
)


def overview(sdk: Letta, agent_id: str, **query: str) -> dict[str, Any]:
    got = sdk.get(f"/v1/agents/{agent_id}/context", cast_to=object, options={"params": query})
    assert isinstance(got, dict)
    return got


def test_overview_splits_the_context_as_letta_does(sdk: Letta, fake_llm: FakeOpenAI) -> None:
    agent = sdk.agents.create(
        system="You are Sam.", memory_blocks=[{"label": "human", "value": "Name: Ada"}]
    )
    empty = overview(sdk, agent.id)
    assert empty["num_messages"] == 0 and empty["summary_memory"] is None
    assert empty["system_prompt"] == "You are Sam."
    assert "Name: Ada" in empty["core_memory"]
    assert empty["context_window_size_max"] == agent.llm_config.context_window > 0
    for text in ("one", "two", "three"):
        sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": text}])
    now = overview(sdk, agent.id)
    assert now["num_messages"] == len(sdk.agents.retrieve(agent.id).message_ids) == 7
    assert [m["id"] for m in now["messages"]] == sdk.agents.retrieve(agent.id).message_ids
    assert now["num_tokens_messages"] > 0
    assert now["context_window_size_current"] == sum(now[p] for p in PARTS)
    names = {t["function"]["name"] for t in now["functions_definitions"]}
    assert names == {t.name for t in sdk.agents.retrieve(agent.id).tools}
    assert (now["num_tokens_functions_definitions"] > 0) == bool(names)

    fake_llm.reply = "They counted to three."
    sdk.agents.messages.compact(agent.id, compaction_settings={"mode": "all"})
    compacted = overview(sdk, agent.id)
    assert compacted["summary_memory"] == "They counted to three."
    assert compacted["num_messages"] == 2 and compacted["num_recall_memory"] == 8
    assert compacted["num_tokens_messages"] == 0
    assert "6 previous messages" in compacted["external_memory_summary"]


def test_overview_of_another_conversation(sdk: Letta, llm_server: ServerThread) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    conversation = sdk.conversations.create(agent_id=agent.id)
    list(
        sdk.conversations.messages.create(
            conversation.id, messages=[{"role": "user", "content": "hi"}]
        )
    )
    got = overview(sdk, agent.id, conversation_id=conversation.id)
    assert got["num_messages"] == 3 and got["conversation_id"] == conversation.id
    assert overview(sdk, agent.id)["num_messages"] == 0  # the default one is untouched
    stranger = sdk.agents.create(memory_blocks=[])
    with llm_server.client() as http:
        wrong = http.get(
            f"/v1/agents/{stranger.id}/context", params={"conversation_id": conversation.id}
        )
        assert wrong.status_code == 400 and "another agent" in wrong.json()["detail"]
        missing = http.get("/v1/agents/agent-00000000-0000-4000-8000-000000000000/context")
        assert missing.status_code == 404


def test_each_turn_reports_its_context_size(sdk: Letta, fake_llm: FakeOpenAI) -> None:
    """Letta Code's /context reads usage_statistics.context_tokens of the latest turn."""
    agent = sdk.agents.create(memory_blocks=[{"label": "human", "value": "Name: Ada"}])
    conversation = sdk.conversations.create(agent_id=agent.id)
    sizes = []
    for text in ("short", "a much longer message " * 40):
        chunks = list(
            sdk.conversations.messages.create(
                conversation.id, messages=[{"role": "user", "content": text}]
            )
        )
        usage = next(c for c in chunks if c.message_type == "usage_statistics")
        sizes.append(usage.context_tokens)
    assert 0 < sizes[0] < sizes[1]
