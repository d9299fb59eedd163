"""The official Letta SDK against the bundled server: agents, conversations, history."""

import letta_client
import pytest
from letta_client import Letta

from tests.seed import seed_history
from tests.servers import ServerThread


@pytest.fixture
def sdk(server: ServerThread) -> Letta:
    return Letta(base_url=server.url, api_key="unused", timeout=30)


def test_create_agent_with_memory_blocks(sdk: Letta) -> None:
    agent = sdk.agents.create(
        name="sam",
        memory_blocks=[
            {"label": "persona", "value": "I am Sam."},
            {"label": "human", "value": "Name: Ada"},
        ],
    )
    assert agent.id.startswith("agent-")
    assert agent.name == "sam"
    assert {b.label: b.value for b in agent.memory.blocks} == {
        "persona": "I am Sam.",
        "human": "Name: Ada",
    }
    assert sdk.agents.retrieve(agent.id).id == agent.id
    assert agent.id in [a.id for a in sdk.agents.list()]


def test_conversations_create_list_retrieve(sdk: Letta) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    made = [sdk.conversations.create(agent_id=agent.id) for _ in range(3)]
    listed = sdk.conversations.list(agent_id=agent.id)
    assert {c.id for c in listed} == {c.id for c in made}
    got = sdk.conversations.retrieve(made[0].id)
    assert got.agent_id == agent.id
    assert got.in_context_message_ids == []


def test_not_found_is_a_typed_error(sdk: Letta) -> None:
    with pytest.raises(letta_client.NotFoundError):
        sdk.conversations.retrieve("conv-00000000-0000-4000-8000-000000000000")


def test_list_messages_order_limit_and_cursors(sdk: Letta, server: ServerThread) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    conv = sdk.conversations.create(agent_id=agent.id)
    ids = seed_history(server.settings.db_path, conv.id, 10)
    page = sdk.conversations.messages.list(conv.id, order="asc", limit=3)
    assert [m.id for m in page.items] == ids[:3]
    assert page.items[0].message_type == "user_message"
    assert page.items[0].content == "message 0"
    desc = sdk.conversations.messages.list(conv.id, order="desc", limit=3)
    assert [m.id for m in desc.items] == ids[:-4:-1]
    after = sdk.conversations.messages.list(conv.id, order="asc", limit=3, after=ids[2])
    assert [m.id for m in after.items] == ids[3:6]
    before = sdk.conversations.messages.list(conv.id, order="asc", limit=3, before=ids[5])
    assert [m.id for m in before.items] == ids[2:5]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sdk_iterator_walks_1000_messages_exactly_once(
    sdk: Letta, server: ServerThread, order: str
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    conv = sdk.conversations.create(agent_id=agent.id)
    ids = seed_history(server.settings.db_path, conv.id, 1000)
    walked = [m.id for m in sdk.conversations.messages.list(conv.id, order=order, limit=97)]
    assert walked == (ids if order == "asc" else ids[::-1])
