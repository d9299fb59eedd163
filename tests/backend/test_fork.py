"""Fork (API.md 9): the fork lists its source's in-context messages under the same ids after its
own system message, and then each side goes its own way."""

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import letta_client
import pytest
from letta_client import Letta

from backend.agent.context import SUMMARY_PREFIX
from backend.store import NewMessage, Store
from tests.backend.letta_sdk import say
from tests.fakes.fake_openai import FakeOpenAI
from tests.seed import append_messages, new_agent, turn_messages
from tests.servers import ServerThread


def listed(sdk: Letta, conversation_id: str) -> list[tuple[str, str]]:
    return [
        (m.id, m.message_type)
        for m in sdk.conversations.messages.list(conversation_id, order="asc", limit=1000)
    ]


def test_fork_shares_ids_then_each_side_goes_its_own_way(sdk: Letta, fake_llm: FakeOpenAI) -> None:
    agent = sdk.agents.create(memory_blocks=[{"label": "human", "value": "Name: Ada"}])
    source = sdk.conversations.create(agent_id=agent.id)
    say(sdk, source.id, "first")
    say(sdk, source.id, "second")
    sdk.agents.blocks.update("human", agent_id=agent.id, value="Name: Ada Lovelace")
    fork = sdk.conversations.fork(source.id)
    assert fork.id != source.id and fork.agent_id == agent.id
    before = sdk.conversations.retrieve(source.id).in_context_message_ids
    assert fork.in_context_message_ids[1:] == before[1:]
    assert fork.in_context_message_ids[0] != before[0]
    system = sdk.conversations.messages.list(fork.id, order="asc", limit=1).items[0]
    assert "Ada Lovelace" in system.content  # compiled from memory as it is now
    assert listed(sdk, fork.id)[1:] == listed(sdk, source.id)[1:]

    say(sdk, fork.id, "only in the fork")
    say(sdk, source.id, "only in the source")
    fork_texts = [m.content for m in sdk.conversations.messages.list(fork.id, order="asc")]
    source_texts = [m.content for m in sdk.conversations.messages.list(source.id, order="asc")]
    assert "only in the fork" in fork_texts and "only in the fork" not in source_texts
    assert "only in the source" in source_texts and "only in the source" not in fork_texts
    # The model saw the shared history in the fork.
    sent = [m["content"] for m in fake_llm.requests[-2]["messages"]]
    assert sent[1:] == [
        "first",
        "Fake reply to: first",
        "second",
        "Fake reply to: second",
        "only in the fork",
    ]

    # Deleting the source leaves the fork whole; its shared messages are still found by id.
    shared_id = fork.in_context_message_ids[1]
    sdk.conversations.delete(source.id)
    assert listed(sdk, fork.id)[1][0] == shared_id
    assert [m.id for m in sdk.messages.retrieve(shared_id)] == [shared_id]


def test_fork_at_a_message_and_of_the_default_conversation(sdk: Letta) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    for text in ("one", "two", "three"):
        sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": text}])
    default_ids = sdk.agents.retrieve(agent.id).message_ids
    whole = sdk.conversations.fork("default", agent_id=agent.id)
    assert whole.in_context_message_ids[1:] == default_ids[1:]
    by_agent_id = sdk.conversations.fork(agent.id, message_id=default_ids[2])
    assert by_agent_id.in_context_message_ids[1:] == default_ids[1:3]
    at_system = sdk.conversations.fork(whole.id, message_id=whole.in_context_message_ids[0])
    assert len(at_system.in_context_message_ids) == 1
    # A fork of a fork keeps sharing the same ids.
    again = sdk.conversations.fork(by_agent_id.id)
    assert again.in_context_message_ids[1:] == default_ids[1:3]
    assert {c.id for c in sdk.conversations.list(agent_id=agent.id)} == {
        whole.id,
        by_agent_id.id,
        at_system.id,
        again.id,
    }


def test_fork_of_an_empty_conversation_is_empty(sdk: Letta) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    empty = sdk.conversations.create(agent_id=agent.id)
    fork = sdk.conversations.fork(empty.id)
    assert fork.in_context_message_ids == []
    say(sdk, fork.id, "hello")
    assert [t for _, t in listed(sdk, fork.id)] == [
        "system_message",
        "user_message",
        "assistant_message",
    ]


def test_fork_errors_say_what_is_wrong(
    sdk: Letta, llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    source = sdk.conversations.create(agent_id=agent.id)
    other = sdk.conversations.create(agent_id=agent.id)
    say(sdk, source.id, "a")
    say(sdk, other.id, "b")
    with pytest.raises(letta_client.NotFoundError):
        sdk.conversations.fork("conv-00000000-0000-4000-8000-000000000000")
    foreign = sdk.conversations.retrieve(other.id).in_context_message_ids[1]
    with llm_server.client() as http:
        response = http.post(f"/v1/conversations/{source.id}/fork", params={"message_id": foreign})
        assert response.status_code == 400
        assert response.json()["detail"] == (
            f"Cannot fork at {foreign}: it is not a message of conversation {source.id}."
        )
        for text in ("c", "d", "e"):
            say(sdk, source.id, text)
        old = sdk.conversations.retrieve(source.id).in_context_message_ids[1]
        fake_llm.reply = "summary"
        sdk.conversations.messages.compact(source.id, compaction_settings={"mode": "all"})
        compacted = http.post(f"/v1/conversations/{source.id}/fork", params={"message_id": old})
        assert compacted.status_code == 400
        assert "not in the context of" in compacted.json()["detail"]


def flags(http: httpx.Client, conversation_id: str) -> list[tuple[str, bool]]:
    response = http.get(
        f"/v1/conversations/{conversation_id}/messages",
        params={"order": "asc", "limit": 1000, "include_compacted": "true"},
    )
    return [(m["id"], m["in_context"]) for m in response.json()]


def test_compacting_a_fork_or_its_source_leaves_the_other_alone(
    sdk: Letta, llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    source = sdk.conversations.create(agent_id=agent.id)
    for text in ("one", "two", "three"):
        say(sdk, source.id, text)
    fork = sdk.conversations.fork(source.id)
    shared = fork.in_context_message_ids[1:]
    with llm_server.client() as http:
        source_flags = flags(http, source.id)
        fake_llm.reply = "the fork's summary"
        sdk.conversations.messages.compact(fork.id, compaction_settings={"mode": "all"})
        assert len(sdk.conversations.retrieve(fork.id).in_context_message_ids) == 2
        # The shared messages are out of the fork's context and still in the source's.
        assert [f for i, f in flags(http, fork.id) if i in shared] == [False] * len(shared)
        assert flags(http, source.id) == source_flags
        assert all(f for _, f in source_flags)
        assert http.get(f"/v1/messages/{shared[0]}").json()[0]["in_context"] is True

        fake_llm.reply = "the source's summary"
        sdk.conversations.messages.compact(source.id, compaction_settings={"mode": "all"})
        source_ids = sdk.conversations.retrieve(source.id).in_context_message_ids
        fork_ids = sdk.conversations.retrieve(fork.id).in_context_message_ids
        assert len(source_ids) == len(fork_ids) == 2 and source_ids[1] != fork_ids[1]
        say(sdk, fork.id, "after both compactions")
        sent = [m["content"] for m in fake_llm.requests[-1]["messages"]]
        assert sent[1:] == [SUMMARY_PREFIX + "the fork's summary", "after both compactions"]


def test_deleting_the_source_leaves_the_forks_pages_search_and_messages(
    sdk: Letta, llm_server: ServerThread
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    source = sdk.conversations.create(agent_id=agent.id)
    say(sdk, source.id, "a capybara crossed")
    say(sdk, source.id, "a tapir followed")
    fork = sdk.conversations.fork(source.id)
    before = listed(sdk, fork.id)
    sdk.conversations.delete(source.id)
    assert listed(sdk, fork.id) == before
    assert sdk.conversations.retrieve(fork.id).in_context_message_ids == [i for i, _ in before]
    with llm_server.client() as http:
        hits = http.post("/v1/messages/search", json={"query": "capybara"}).json()
        assert {(h["content"], h["conversation_id"]) for h in hits} == {
            ("a capybara crossed", fork.id),
            ("Fake reply to: a capybara crossed", fork.id),
        }
        for message_id, kind in before[1:]:
            got = http.get(f"/v1/messages/{message_id}").json()
            assert [(m["id"], m["message_type"], m["in_context"]) for m in got] == [
                (message_id, kind, True)
            ]
        middle = before[2][0]
        page = http.get(
            f"/v1/conversations/{fork.id}/messages", params={"after": middle, "order": "asc"}
        ).json()
        assert [m["id"] for m in page] == [i for i, _ in before[3:]]


def stored(llm_server: ServerThread, sql: str) -> int:
    """A count read from the server's database file."""
    with sqlite3.connect(llm_server.settings.db_path) as db:
        return db.execute(sql).fetchone()[0]


UNLISTED = (
    "SELECT count(*) FROM messages m WHERE NOT EXISTS"
    " (SELECT 1 FROM conversation_messages cm WHERE cm.message_pos = m.pos)"
)


def test_a_fork_of_a_fork_outlives_both_its_ancestors(sdk: Letta, llm_server: ServerThread) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    root = sdk.conversations.create(agent_id=agent.id)
    say(sdk, root.id, "a wombat dug")
    middle = sdk.conversations.fork(root.id)
    say(sdk, middle.id, "an echidna came")
    say(sdk, root.id, "a numbat only in the root")
    last = sdk.conversations.fork(middle.id)
    before = listed(sdk, last.id)
    assert len(before) == 5  # its system message, then two turns: the root's and the middle's

    sdk.conversations.delete(root.id)
    sdk.conversations.delete(middle.id)
    assert listed(sdk, last.id) == before
    assert sdk.conversations.retrieve(last.id).in_context_message_ids == [i for i, _ in before]
    with llm_server.client() as http:
        for word, text in (("wombat", "a wombat dug"), ("echidna", "an echidna came")):
            hits = http.post("/v1/messages/search", json={"query": word}).json()
            assert {(h["content"], h["conversation_id"]) for h in hits} == {
                (text, last.id),
                (f"Fake reply to: {text}", last.id),
            }
        assert http.post("/v1/messages/search", json={"query": "numbat"}).json() == []
        for message_id, kind in before[1:]:
            got = http.get(f"/v1/messages/{message_id}").json()
            assert [(m["id"], m["message_type"]) for m in got] == [(message_id, kind)]
        page = http.get(
            f"/v1/conversations/{last.id}/messages",
            params={"after": before[1][0], "before": before[4][0], "order": "asc"},
        ).json()
        assert [m["id"] for m in page] == [before[2][0], before[3][0]]
    # What only the deleted conversations listed is gone; nothing is left unlisted.
    assert stored(llm_server, "SELECT count(*) FROM messages") == len(before)
    assert stored(llm_server, UNLISTED) == 0

    sdk.agents.delete(agent.id)
    assert stored(llm_server, "SELECT count(*) FROM messages") == 0
    assert stored(llm_server, "SELECT count(*) FROM conversation_messages") == 0


# Every listing row lists its message at the message's origin_ord, in a conversation of its
# lineage: how the conversations listing a message are found (store.schema, migration 12).
MISPLACED = (
    "SELECT count(*) FROM conversation_messages cm JOIN messages m ON m.pos = cm.message_pos"
    " JOIN conversations c ON c.pos = cm.conversation_pos"
    " WHERE cm.ord IS NOT m.origin_ord OR c.lineage IS NOT m.lineage"
)


def test_every_way_of_listing_a_message_keeps_it_findable(
    sdk: Letta, llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    for text in ("one", "two", "three"):
        sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": text}])
    default_ids = sdk.agents.retrieve(agent.id).message_ids
    whole = sdk.conversations.fork("default", agent_id=agent.id)
    at = sdk.conversations.fork(whole.id, message_id=default_ids[3])
    fake_llm.reply = "a summary"
    sdk.conversations.messages.compact(whole.id, compaction_settings={"mode": "all"})
    say(sdk, whole.id, "after the compaction")
    again = sdk.conversations.fork(whole.id)
    say(sdk, at.id, "in the fork at a message")
    with llm_server.client() as http:
        reset = http.patch(f"/v1/agents/{agent.id}/reset-messages")
        assert reset.status_code < 300, reset.text
    sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "anew"}])
    assert stored(llm_server, MISPLACED) == 0
    assert stored(llm_server, UNLISTED) == 0
    listers = (
        "SELECT count(DISTINCT m.pos) FROM messages m JOIN conversations c"
        " ON c.lineage = m.lineage JOIN conversation_messages cm ON cm.conversation_pos = c.pos"
        " AND cm.ord = m.origin_ord AND cm.message_pos = m.pos"
    )
    assert stored(llm_server, listers) == stored(llm_server, "SELECT count(*) FROM messages")
    # The shared history is still whole in each fork after the default conversation's reset.
    assert (
        sdk.conversations.retrieve(again.id).in_context_message_ids[1:]
        == (sdk.conversations.retrieve(whole.id).in_context_message_ids[1:])
    )
    for message_id in default_ids[1:4]:
        assert http_message_ids(llm_server, message_id) == [message_id]


def http_message_ids(llm_server: ServerThread, message_id: str) -> list[str]:
    with llm_server.client() as http:
        response = http.get(f"/v1/messages/{message_id}")
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()]


# What is measured once the lineage is seeded: given the store, the agent and the forks' ids.
Drop = Callable[[Store, str, list[str]], Awaitable[object]]


def work_after_forks(db_path: Path, forks: int, drop: Drop) -> int:
    """How much SQLite does (thousands of its instructions) for ``drop``, on an agent whose
    conversation has ``forks`` forks, each with messages of its own."""

    async def run() -> int:
        store = Store(db_path)
        await store.open()
        try:
            agent = await new_agent(store)
            source = (await store.conversations.create(agent["id"], None))["id"]
            await append_messages(
                store, source, [NewMessage("system_message", "s"), *turn_messages(10)]
            )
            ids = []
            for i in range(forks):
                ids.append(json.loads(await store.conversations.fork(source, "s"))["id"])
                await append_messages(store, ids[-1], turn_messages(20, start=20 * i))
            steps = 0

            def count() -> int:
                nonlocal steps
                steps += 1
                return 0

            writer = store.db._writer  # the connection bulk transactions run on
            assert writer is not None
            await writer.set_progress_handler(count, 1000)
            await drop(store, agent["id"], ids)
            await writer.set_progress_handler(None, 1000)
            return steps
        finally:
            await store.close()

    return asyncio.run(run())


async def delete_agent(store: Store, agent_id: str, forks: list[str]) -> None:
    await store.agents.delete(agent_id)


def test_deleting_an_agent_takes_work_in_proportion_to_its_messages(tmp_path: Path) -> None:
    """An agent's messages are listed only by its own conversations: they go at once, not each
    looked for in every fork of its lineage as its listing rows go (400 forks of 200 messages
    each took over a minute, holding every write of the server back)."""
    few = work_after_forks(tmp_path / "few.db", 20, delete_agent)
    many = work_after_forks(tmp_path / "many.db", 80, delete_agent)
    assert many < 6 * few, (few, many)
    with sqlite3.connect(tmp_path / "many.db") as db:
        for table in ("messages", "message_json", "conversation_messages", "conversations"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")


async def delete_first_fork(store: Store, agent_id: str, forks: list[str]) -> None:
    await store.conversations.delete(forks[0])


async def reset_first_fork(store: Store, agent_id: str, forks: list[str]) -> None:
    """What a reset does to the listing (``RunManager.reset``, without its lock)."""
    async with store.db.transaction(bulk=True) as tx:
        await tx.execute(
            "DELETE FROM conversation_messages"
            " WHERE conversation_pos = (SELECT pos FROM conversations WHERE id = ?)",
            (forks[0],),
        )


@pytest.mark.parametrize("drop", [delete_first_fork, reset_first_fork])
def test_dropping_a_fork_takes_work_in_proportion_to_its_messages(
    tmp_path: Path, drop: Drop
) -> None:
    """Its own messages, which no fork copied, go at once, and those its source still lists stay
    after one lookup: neither is looked for in every other fork (one fork of 200 messages in a
    lineage of 400 took half a second, holding every write of the server back)."""
    few = work_after_forks(tmp_path / "few.db", 20, drop)
    many = work_after_forks(tmp_path / "many.db", 80, drop)
    assert many < 2 * few, (few, many)
    with sqlite3.connect(tmp_path / "many.db") as db:
        assert db.execute(UNLISTED).fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 11 + 79 * 21
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
