"""The agent's ``conversation_search`` tool reads the full-text index: its own messages only,
each once however many forks list it, best matches first, the newest without a query."""

import json
from typing import Any

from letta_client import Letta
from letta_client.types import ToolReturnMessage

from tests.backend.letta_sdk import say
from tests.fakes.fake_openai import FakeOpenAI, Reply, call


def search(
    sdk: Letta, fake_llm: FakeOpenAI, conversation_id: str, **arguments: Any
) -> tuple[str, dict]:
    """The tool's status and answer when the model calls it with ``arguments``."""
    fake_llm.script(Reply(tool_calls=[call("conversation_search", arguments)]), "done")
    chunks = list(
        sdk.conversations.messages.create(
            conversation_id, messages=[{"role": "user", "content": "look it up"}]
        )
    )
    returned = next(c for c in chunks if isinstance(c, ToolReturnMessage))
    if returned.status != "success":
        return returned.status, {"error": returned.tool_return}
    return returned.status, json.loads(returned.tool_return)


def contents(answer: dict) -> list[str]:
    return [r["content"] for r in answer["results"]]


def test_the_agent_finds_its_own_messages_once_through_the_index(
    sdk: Letta, fake_llm: FakeOpenAI
) -> None:
    agent = sdk.agents.create(memory_blocks=[])
    first = sdk.conversations.create(agent_id=agent.id)
    say(sdk, first.id, "the heron waded in the reeds")
    say(sdk, first.id, "a heron and a heron again, heron heron")
    fork = sdk.conversations.fork(first.id)
    say(sdk, fork.id, "an ibis, not a heron? no, an ibis")
    other = sdk.agents.create(memory_blocks=[])
    say(sdk, sdk.conversations.create(agent_id=other.id).id, "someone else's heron")

    status, answer = search(sdk, fake_llm, fork.id, query="heron", roles=["user"])
    assert status == "success"
    found = contents(answer)
    assert sorted(found) == sorted(
        [
            "the heron waded in the reeds",
            "a heron and a heron again, heron heron",
            "an ibis, not a heron? no, an ibis",
        ]
    )  # listed by both conversations, found once; the other agent's is not found
    assert found[0] == "a heron and a heron again, heron heron"  # the best match first
    assert answer["results"][0]["role"] == "user"

    _, answer = search(sdk, fake_llm, first.id, query="ibis reeds")  # no message has both
    assert set(contents(answer)) == {
        "the heron waded in the reeds",
        "Fake reply to: the heron waded in the reeds",
        "an ibis, not a heron? no, an ibis",
        "Fake reply to: an ibis, not a heron? no, an ibis",
    }

    _, answer = search(sdk, fake_llm, first.id, roles=["assistant"], limit=3)
    newest = ["done", "done", "Fake reply to: an ibis, not a heron? no, an ibis"]
    assert contents(answer) == newest  # after each search, its "done"

    _, answer = search(sdk, fake_llm, first.id, query="platypus")
    assert answer == {"message": "No results found.", "results": []}

    status, answer = search(sdk, fake_llm, first.id, query="?!")
    assert status == "error"
    assert "no words" in json.dumps(answer)
