"""A conversation's prompt kept between turns (``backend.agent.prompt_cache``): the messages
sent to the model on every turn are those a rebuild from the database gives, after appends,
compaction, a failed turn, memory changes and reset, and with two servers on one file."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from backend.agent.context import chat_messages
from backend.agent.prompt_cache import FEW_ROWS, PromptCache
from backend.store import NewMessage, Store
from tests.backend.test_sending import new_conversation
from tests.conftest import ServerFactory, fake_provider_config
from tests.fakes.fake_openai import FakeOpenAI, Fault, Reply, call
from tests.seed import new_agent
from tests.servers import ServerProcess, ServerThread
from tests.sse import send


def rebuilt(server: ServerThread, conversation_id: str) -> list[dict[str, Any]]:
    """The context built at once from what the database holds now."""

    async def read(app: Starlette) -> list[dict[str, Any]]:
        store = app.state.services.store
        return chat_messages(await store.messages.in_context(conversation_id))

    return server.call(read)


def builds(server: ServerThread) -> int:
    async def count(app: Starlette) -> int:
        return app.state.services.runs.prompts.builds

    return server.call(count)


def turn(
    http: httpx.Client,
    server: ServerThread,
    fake: FakeOpenAI,
    conversation_id: str,
    text: str,
) -> list[dict[str, Any]]:
    """Send ``text`` through ``http`` (to any server on ``server``'s database); check that the
    model got the context a rebuild gives; return it."""
    fake.reply = f"Reply to {text}"
    got = send(http, conversation_id, text)
    assert got[-1].data == "[DONE]"
    sent = fake.requests[-1]["messages"]
    context = rebuilt(server, conversation_id)
    assert context[-1] == {"role": "assistant", "content": f"Reply to {text}"}
    assert sent == context[:-1]
    return sent


@pytest.fixture
def servers(
    tmp_path: Path, config_file: Path, server_factory: ServerFactory, fake_llm: FakeOpenAI
) -> Iterator[tuple[ServerThread, ServerProcess]]:
    """Two server processes on one database file: this one, and a child."""
    db = tmp_path / "shared.db"
    other = ServerProcess(db, config_file)
    try:
        yield server_factory(db_path=db, config=fake_provider_config(fake_llm)), other
    finally:
        other.stop()


def test_appends_extend_the_kept_prompt(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        for i in range(4):
            sent = turn(http, llm_server, fake_llm, conversation["id"], f"message {i}")
        assert [m["role"] for m in sent] == ["system"] + ["user", "assistant"] * 3 + ["user"]
        # A tool step in the middle of a turn extends it as well.
        fake_llm.script(Reply(tool_calls=[call("conversation_search", {"query": "x"})]), "done")
        assert send(http, conversation["id"], "search")[-1].data == "[DONE]"
        after_step = fake_llm.requests[-1]["messages"]
        assert after_step == rebuilt(llm_server, conversation["id"])[:-1]
        assert after_step[-1]["role"] == "tool"
        turn(http, llm_server, fake_llm, conversation["id"], "and now?")
    assert builds(llm_server) == 1


def test_compaction_is_seen_by_the_next_turn(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        for i in range(4):
            turn(http, llm_server, fake_llm, conversation["id"], f"message {i}")
        fake_llm.reply = "A summary."
        path = f"/v1/conversations/{conversation['id']}/compact"
        assert http.post(path, json={"compaction_settings": {"mode": "all"}}).status_code == 200
        sent = turn(http, llm_server, fake_llm, conversation["id"], "after")
        assert [m["role"] for m in sent] == ["system", "user", "user"]
        assert sent[1]["content"].endswith("A summary.")


def test_a_failed_input_leaves_the_kept_prompt(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        turn(http, llm_server, fake_llm, conversation["id"], "first")
        fake_llm.fail_always(Fault.CONTEXT_LENGTH)  # compaction's summary call too
        failed = send(http, conversation["id"], "doomed")
        assert next(f.data for f in failed if f.type == "stop_reason")["stop_reason"] == (
            "llm_api_error"
        )
        fake_llm.fail_always(None)
        sent = turn(http, llm_server, fake_llm, conversation["id"], "next")
        assert "doomed" not in [m["content"] for m in sent]


def test_memory_changes_reach_the_system_message(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        agent, conversation = new_conversation(http)
        turn(http, llm_server, fake_llm, conversation["id"], "hello")
        # The agent's own edit reaches the model through the tool return.
        insert = call("memory_insert", {"label": "human", "new_string": "Likes tea."})
        fake_llm.script(Reply(tool_calls=[insert]), "noted")
        assert send(http, conversation["id"], "I like tea")[-1].data == "[DONE]"
        sent = turn(http, llm_server, fake_llm, conversation["id"], "more")
        assert "Likes tea" not in sent[0]["content"]
        # A person's edit renews the system message at the next turn.
        block = http.patch(
            f"/v1/agents/{agent['id']}/core-memory/blocks/human", json={"value": "Name: Bo"}
        )
        assert block.status_code == 200
        sent = turn(http, llm_server, fake_llm, conversation["id"], "who am I?")
        assert "Name: Bo" in sent[0]["content"]
        # So does a recompile on request.
        http.patch(f"/v1/agents/{agent['id']}/core-memory/blocks/human", json={"value": "Cy"})
        assert http.post(f"/v1/conversations/{conversation['id']}/recompile").status_code == 200
        sent = turn(http, llm_server, fake_llm, conversation["id"], "and now?")
        assert "<value>\nCy\n</value>" in sent[0]["content"]


def test_reset_starts_the_prompt_again(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    with llm_server.client() as http:
        agent, _ = new_conversation(http)
        conversation_id = http.get(f"/v1/conversations/{agent['id']}").json()["id"]
        for i in range(3):
            turn(http, llm_server, fake_llm, conversation_id, f"message {i}")
        assert http.patch(f"/v1/agents/{agent['id']}/reset-messages").status_code == 200
        sent = turn(http, llm_server, fake_llm, conversation_id, "fresh")
        assert [m["role"] for m in sent] == ["system", "user"]


def test_two_server_processes_on_one_database(
    servers: tuple[ServerThread, ServerProcess], fake_llm: FakeOpenAI
) -> None:
    one, other = servers
    with one.client() as a, httpx.Client(base_url=other.url, timeout=30) as b:
        agent, conversation = new_conversation(a)
        cid = conversation["id"]
        for i in range(3):
            turn(a, one, fake_llm, cid, f"at one {i}")
        for i in range(2):
            turn(b, one, fake_llm, cid, f"at the other {i}")  # appends made elsewhere
        turn(a, one, fake_llm, cid, "back at one")
        fake_llm.reply = "Summary."
        assert b.post(f"/v1/conversations/{cid}/compact", json={}).status_code == 200
        sent = turn(a, one, fake_llm, cid, "after the compaction elsewhere")
        assert any(m["content"].endswith("Summary.") for m in sent if m["role"] == "user")
        # And the other way round: a system message recompiled here, seen there.
        turn(b, one, fake_llm, cid, "the other is up to date")
        blocks = f"/v1/agents/{agent['id']}/core-memory/blocks/human"
        assert a.patch(blocks, json={"value": "Name: Dee"}).status_code == 200
        assert a.post(f"/v1/conversations/{cid}/recompile").status_code == 200
        sent = turn(b, one, fake_llm, cid, "at the other again")
        assert "Name: Dee" in sent[0]["content"]
    assert builds(one) == 2  # the first turn, and the turn after the compaction


async def _talk(store: Store, conversation_id: str, start: int, count: int) -> None:
    messages = [
        NewMessage("user_message" if i % 2 == 0 else "assistant_message", f"message {i}")
        for i in range(start, start + count)
    ]
    async with store.db.transaction() as tx:
        await store.messages.append(tx, conversation_id, messages)


async def test_many_messages_appended_elsewhere_and_the_bounds(tmp_path: Path) -> None:
    store = Store(tmp_path / "chinwag.db")
    await store.open()
    try:
        agent = await new_agent(store)
        ids = [(await store.conversations.create(agent["id"], None))["id"] for _ in range(3)]
        cache = PromptCache(store.messages, max_kept=2)

        async def check(conversation_id: str) -> None:
            expected = chat_messages(await store.messages.in_context(conversation_id))
            assert (await cache.load(conversation_id)).messages == expected

        await _talk(store, ids[0], 0, 100)
        await check(ids[0])  # built on a thread: more than a few rows
        await _talk(store, ids[0], 100, 3)
        await check(ids[0])  # extended
        assert cache.builds == 1
        await _talk(store, ids[0], 103, FEW_ROWS)  # as if another process had run many turns
        await check(ids[0])
        assert cache.builds == 2
        for conversation_id in ids:
            await _talk(store, conversation_id, 200, 2)
            await check(conversation_id)
        assert cache.builds == 4
        await check(ids[0])  # the least recently used one was let go: two are kept
        assert cache.builds == 5
        small = PromptCache(store.messages, max_bytes=1)  # nothing fits: built every time
        expected = chat_messages(await store.messages.in_context(ids[1]))
        for _ in range(2):
            assert (await small.load(ids[1])).messages == expected
        assert small.builds == 2
    finally:
        await store.close()
