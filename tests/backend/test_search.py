"""Full-text search (API.md 9): ranked, filtered by agent or conversation, each hit with its
conversation, and right through sends, compaction, fork, resets and deletes."""

import sqlite3
from pathlib import Path
from typing import Any

import letta_client
import pytest
from letta_client import Letta

from backend.store import search
from backend.store.schema import MIGRATIONS
from tests.backend.letta_sdk import say
from tests.conftest import ServerFactory
from tests.fakes.fake_openai import FakeOpenAI


def found(sdk: Letta, query: str, **filters: Any) -> list[tuple[str, str | None]]:
    return [(h.content, h.conversation_id) for h in sdk.messages.search(query=query, **filters)]


def test_hits_are_ranked_filtered_and_name_their_conversation(sdk: Letta) -> None:
    ada = sdk.agents.create(memory_blocks=[])
    bob = sdk.agents.create(memory_blocks=[])
    first = sdk.conversations.create(agent_id=ada.id)
    second = sdk.conversations.create(agent_id=ada.id)
    say(sdk, first.id, "lighthouse keeper lighthouse lit")
    say(sdk, second.id, "a lighthouse far away")
    sdk.agents.messages.create(
        bob.id, messages=[{"role": "user", "content": "one lighthouse for bob"}]
    )
    default_of_bob = sdk.conversations.retrieve(bob.id).id

    hits = sdk.messages.search(query="lighthouse", search_mode="fts")
    # Two mentions in as few words rank first; a short one-mention message above a long one.
    contents = [h.content for h in hits]
    assert contents[0] == "lighthouse keeper lighthouse lit" and len(contents) == 6
    assert contents.index("a lighthouse far away") < contents.index(
        "Fake reply to: a lighthouse far away"
    )
    assert hits[0].message_type == "user_message"
    assert hits[0].agent_id == ada.id and hits[0].conversation_id == first.id
    assert {h.conversation_id for h in hits} == {first.id, second.id, default_of_bob}
    assert {c for _, c in found(sdk, "lighthouse", agent_id=bob.id)} == {default_of_bob}
    assert found(sdk, "far away lighthouse", conversation_id=second.id) == [
        ("a lighthouse far away", second.id),
        ("Fake reply to: a lighthouse far away", second.id),
    ]
    # Every word first; when no message has them all, any of them.
    assert found(sdk, "keeper nonexistentword")[0][0] == "lighthouse keeper lighthouse lit"
    assert found(sdk, "lighthouse", agent_id=bob.id, conversation_id="default") == [
        ("one lighthouse for bob", default_of_bob),
        ("Fake reply to: one lighthouse for bob", default_of_bob),
    ]
    # FTS5 syntax in a query is just text.
    assert found(sdk, 'lighthouse" OR NOT "x*', conversation_id=second.id)
    # Vector and hybrid modes fall back to text; limit holds.
    assert len(sdk.messages.search(query="lighthouse", search_mode="vector", limit=2)) == 2


def test_empty_queries_are_a_400(sdk: Letta) -> None:
    for query in ("", "   ", "?!"):
        with pytest.raises(letta_client.BadRequestError) as caught:
            sdk.messages.search(query=query)
        assert caught.value.body["code"] == "INVALID_ARGUMENT"  # type: ignore[index]
        assert "query" in caught.value.body["detail"]  # type: ignore[index]


def test_index_follows_compaction_fork_reset_and_deletes(sdk: Letta, fake_llm: FakeOpenAI) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    source = sdk.conversations.create(agent_id=agent.id)
    for text in ("walrus one", "walrus two", "walrus three"):
        say(sdk, source.id, text)
    fake_llm.reply = "They talked about a walrus, thrice."
    sdk.conversations.messages.compact(source.id, compaction_settings={"mode": "all"})
    fake_llm.reply = None
    # Compacted messages are still found; the summary is not a message kind search returns.
    assert sorted(t for t, _ in found(sdk, "walrus", conversation_id=source.id)) == sorted(
        [f"walrus {n}" for n in ("one", "two", "three")]
        + [f"Fake reply to: walrus {n}" for n in ("one", "two", "three")]
    )
    say(sdk, source.id, "narwhal in the source")
    fork = sdk.conversations.fork(source.id)
    assert found(sdk, "narwhal", conversation_id=fork.id) == [
        ("narwhal in the source", fork.id),
        ("Fake reply to: narwhal in the source", fork.id),
    ]
    assert {c for _, c in found(sdk, "narwhal")} == {source.id, fork.id}
    say(sdk, fork.id, "narwhal only in the fork")
    assert {c for _, c in found(sdk, "only fork narwhal")} == {fork.id}
    sdk.conversations.delete(source.id)
    assert {c for _, c in found(sdk, "narwhal")} == {fork.id}
    assert found(sdk, "walrus") == []  # they were not in the fork's context
    sdk.conversations.delete(fork.id)
    assert found(sdk, "narwhal") == []

    sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "dugong"}])
    assert len(found(sdk, "dugong")) == 2
    sdk.agents.messages.reset(agent.id)
    assert found(sdk, "dugong") == []
    sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "manatee"}])
    sdk.agents.delete(agent.id)
    assert found(sdk, "manatee") == []


def test_a_database_from_before_search_is_indexed_when_opened(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    db_path = tmp_path / "old.db"
    with sqlite3.connect(db_path) as db:
        for version, script in enumerate(MIGRATIONS[:3], start=1):
            db.executescript(f"{script}\nPRAGMA user_version = {version};")
        now = "2026-11-24T10:00:00.000000+00:00"
        db.execute(
            "INSERT INTO agents (id, name, model, system, agent_type, created_at, updated_at)"
            " VALUES ('agent-1', 'a', 'builtin/echo', 's', 'letta_v1_agent', ?, ?)",
            (now, now),
        )
        db.execute(
            "INSERT INTO conversations (id, agent_id, created_at, updated_at)"
            " VALUES ('conv-1', 'agent-1', ?, ?)",
            (now, now),
        )
        db.executemany(
            "INSERT INTO messages (id, conversation_id, ord, message_type, role, content,"
            " created_at) VALUES (?, 'conv-1', ?, ?, ?, ?, ?)",
            [
                ("message-s", 65536, "system_message", "system", "the platypus prompt", now),
                ("message-u", 131072, "user_message", "user", "a platypus appears", now),
            ],
        )
    server = server_factory(db_path)
    sdk = Letta(base_url=server.url, api_key="unused", max_retries=0)
    hits = sdk.messages.search(query="platypus")
    assert [(h.message_id, h.conversation_id) for h in hits] == [("message-u", "conv-1")]


def test_forks_of_forks_keep_their_messages_found_as_sources_go(sdk: Letta) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    source = sdk.conversations.create(agent_id=agent.id)
    say(sdk, source.id, "quokka smiles")
    first = sdk.conversations.fork(source.id)
    second = sdk.conversations.fork(first.id)
    third = sdk.conversations.fork(second.id)
    shared = third.in_context_message_ids[1]
    assert {c for _, c in found(sdk, "quokka")} == {source.id, first.id, second.id, third.id}
    for gone in (source, second):
        sdk.conversations.delete(gone.id)
    assert {c for _, c in found(sdk, "quokka")} == {first.id, third.id}
    assert found(sdk, "quokka smiles", conversation_id=third.id)[0] == ("quokka smiles", third.id)
    assert [m.id for m in sdk.messages.retrieve(shared)] == [shared]
    sdk.conversations.delete(first.id)
    assert {c for _, c in found(sdk, "quokka")} == {third.id}
    assert [m.id for m in sdk.messages.retrieve(shared)] == [shared]


def test_a_word_in_very_many_messages_lists_the_newest(
    sdk: Letta, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranking costs time per match; past RANKED_AT_MOST matches the newest come first."""
    monkeypatch.setattr(search, "RANKED_AT_MOST", 3)
    agent = sdk.agents.create(memory_blocks=[])
    conversation = sdk.conversations.create(agent_id=agent.id)
    for text in ("otter one", "otter otter two", "otter three"):
        say(sdk, conversation.id, text)
    assert [t for t, _ in found(sdk, "otter", limit=3)] == [
        "Fake reply to: otter three",
        "otter three",
        "Fake reply to: otter otter two",
    ]
    assert [t for t, _ in found(sdk, "otter", conversation_id=conversation.id)][-1] == "otter one"
