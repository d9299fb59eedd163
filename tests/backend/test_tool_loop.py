"""The agent's tool loop (API.md 7): memory tools, bad calls, steps, the system message rule."""

import json
from pathlib import Path

import httpx
from letta_client import Letta
from letta_client.types import ToolReturnMessage
from letta_client.types.agents import AssistantMessage, ToolCallMessage

from tests.fakes.fake_openai import FakeOpenAI, Reply, call
from tests.servers import ServerProcess, ServerThread
from tests.sse import frames, send, text_of


def new_conversation(http: httpx.Client, **agent: object) -> tuple[dict, dict]:
    agent.setdefault("memory_blocks", [{"label": "human", "value": "Name: Ada"}])
    made = http.post("/v1/agents/", json=agent)
    assert made.status_code == 200, made.text
    conversation = http.post("/v1/conversations/", params={"agent_id": made.json()["id"]}).json()
    return made.json(), conversation


def history(http: httpx.Client, conversation_id: str) -> list[dict]:
    return http.get(f"/v1/conversations/{conversation_id}/messages", params={"limit": 1000}).json()


def assert_calls_answered(messages: list[dict]) -> None:
    """What OpenAI demands: each tool message answers a call of the assistant message before."""
    open_calls: list[str] = []
    for m in messages:
        if m["role"] == "tool":
            assert m["tool_call_id"] in open_calls, m
            open_calls.remove(m["tool_call_id"])
            continue
        assert not open_calls, f"calls {open_calls} left unanswered before {m}"
        open_calls = [c["id"] for c in m.get("tool_calls") or []]
    assert not open_calls


def test_sdk_agent_remembers_through_memory_insert(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    sdk = Letta(base_url=llm_server.url, api_key="unused", timeout=30)
    agent = sdk.agents.create(memory_blocks=[{"label": "human", "value": "Name: Ada"}])
    assert {t.name for t in agent.tools} == {
        "memory_insert",
        "memory_replace",
        "conversation_search",
    }
    first = sdk.conversations.create(agent_id=agent.id)
    fake_llm.script(
        Reply(tool_calls=[call("memory_insert", {"label": "human", "new_string": "Likes tea."})]),
        "I'll remember that you like tea.",
    )
    chunks = list(
        sdk.conversations.messages.create(
            first.id, messages=[{"role": "user", "content": "I like tea"}]
        )
    )
    tool_call = next(c for c in chunks if isinstance(c, ToolCallMessage))
    assert tool_call.tool_call.name == "memory_insert"
    returned = next(c for c in chunks if isinstance(c, ToolReturnMessage))
    assert returned.status == "success"
    assert returned.tool_return == "Name: Ada\nLikes tea."
    assert next(c for c in chunks if isinstance(c, AssistantMessage)).content.startswith("I'll")

    # The model saw the call and its return in OpenAI's form; its system message is unchanged.
    second_step = fake_llm.requests[1]
    assert second_step["tools"] and {t["function"]["name"] for t in second_step["tools"]} == {
        "memory_insert",
        "memory_replace",
        "conversation_search",
    }
    messages = second_step["messages"]
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "memory_insert"
    assert json.loads(messages[-1]["content"]) == {
        "status": "OK",
        "message": "Name: Ada\nLikes tea.",
    }
    assert "Likes tea" not in messages[0]["content"]
    assert_calls_answered(messages)

    # Every step is in the history, in order.
    listed = sdk.conversations.messages.list(first.id, order="asc").items
    assert [m.message_type for m in listed] == [
        "system_message",
        "user_message",
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
    ]
    assert sdk.agents.retrieve(agent.id).memory.blocks[0].value == "Name: Ada\nLikes tea."

    # The next conversation starts with current memory in its system message.
    later = sdk.conversations.create(agent_id=agent.id)
    fake_llm.reset()
    list(sdk.conversations.messages.create(later.id, messages=[{"role": "user", "content": "hi"}]))
    assert "Likes tea." in fake_llm.requests[-1]["messages"][0]["content"]


def test_bad_calls_are_error_returns_and_the_loop_goes_on(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(
        Reply(
            tool_calls=[
                call("memory_insert", '{"label": "human", "new_string": '),
                call("launch_rockets", {}),
                call("memory_replace", {"label": "human", "old_string": "Name"}),
                call("memory_replace", {"label": "nope", "old_string": "a", "new_string": "b"}),
                call("memory_replace", {"label": "human", "old_string": "Bob", "new_string": "x"}),
            ]
        ),
        "Sorry about that.",
    )
    with llm_server.client() as http:
        agent, conversation = new_conversation(http)
        got = send(http, conversation["id"], "go")
        returns = [f.data for f in got if f.type == "tool_return_message"]
        assert [r["status"] for r in returns] == ["error"] * 5
        texts = [r["tool_return"] for r in returns]
        assert "not valid JSON" in texts[0]
        assert "no tool named 'launch_rockets'" in texts[1]
        assert "missing required argument: 'new_string'" in texts[2]
        assert "Block field nope does not exist (available sections = human)" in texts[3]
        assert texts[4] == (
            "No replacement was performed, old_string `Bob` did not appear verbatim in memory "
            "block with label `human`."
        )
        assert next(f.data for f in got if f.type == "stop_reason")["stop_reason"] == "end_turn"
        assert text_of(got) == "Sorry about that."
        assert http.get(f"/v1/agents/{agent['id']}").json()["blocks"][0]["value"] == "Name: Ada"
    messages = fake_llm.requests[1]["messages"]
    assert len(messages[-6]["tool_calls"]) == 5
    assert_calls_answered(messages)


def test_block_limit_holds_for_the_agent(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    fake_llm.script(
        Reply(tool_calls=[call("memory_insert", {"label": "human", "new_string": "x" * 30})]),
        "ok",
    )
    with llm_server.client() as http:
        agent, conversation = new_conversation(
            http, memory_blocks=[{"label": "human", "value": "Name: Ada", "limit": 20}]
        )
        got = send(http, conversation["id"], "go")
        returned = next(f.data for f in got if f.type == "tool_return_message")
        assert returned["status"] == "error"
        assert returned["tool_return"] == "Edit failed: Exceeds 20 character limit (requested 40)."
        assert http.get(f"/v1/agents/{agent['id']}").json()["blocks"][0]["value"] == "Name: Ada"


def test_max_steps_stops_a_loop_with_every_step_stored(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(
        *[
            Reply(tool_calls=[call("memory_insert", {"label": "human", "new_string": f"fact {i}"})])
            for i in range(3)
        ]
    )
    with llm_server.client() as http:
        agent, conversation = new_conversation(http)
        got = send(http, conversation["id"], "go", max_steps=3)
        assert next(f.data for f in got if f.type == "stop_reason")["stop_reason"] == "max_steps"
        usage = next(f.data for f in got if f.type == "usage_statistics")
        assert usage["step_count"] == 3
        kinds = [m["message_type"] for m in history(http, conversation["id"])]
        assert (
            kinds
            == ["system_message", "user_message"]
            + [
                "tool_call_message",
                "tool_return_message",
            ]
            * 3
        )
        value = http.get(f"/v1/agents/{agent['id']}").json()["blocks"][0]["value"]
        assert value == "Name: Ada\nfact 0\nfact 1\nfact 2"


def test_stream_tokens_sends_the_arguments_piece_by_piece(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    arguments = {"label": "human", "new_string": "Likes tea."}
    fake_llm.script(Reply(tool_calls=[call("memory_insert", arguments)]), "done")
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        got = send(http, conversation["id"], "go", stream_tokens=True)
        pieces = [f.data for f in got if f.type == "tool_call_message"]
        assert len(pieces) >= 2 and len({p["id"] for p in pieces}) == 1
        assert pieces[0]["tool_call"]["name"] == "memory_insert"
        assert json.loads("".join(p["tool_call"]["arguments"] for p in pieces)) == arguments
        listed = next(m for m in history(http, conversation["id"]) if m["id"] == pieces[0]["id"])
        assert json.loads(listed["tool_call"]["arguments"]) == arguments


def test_agent_edit_keeps_the_system_message_person_edit_renews_it(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(
        Reply(tool_calls=[call("memory_insert", {"label": "human", "new_string": "Likes tea."})]),
        "ok",
    )
    with llm_server.client() as http:
        agent, conversation = new_conversation(http)
        send(http, conversation["id"], "I like tea")
        send(http, conversation["id"], "and?")
        assert "Likes tea" not in fake_llm.requests[-1]["messages"][0]["content"]
        patched = http.patch(
            f"/v1/agents/{agent['id']}/core-memory/blocks/human", json={"value": "Name: Bo"}
        )
        assert patched.status_code == 200
        send(http, conversation["id"], "and now?")
        system = fake_llm.requests[-1]["messages"][0]["content"]
        assert "Name: Bo" in system and "Name: Ada" not in system
        listed = history(http, conversation["id"])
        assert listed[0]["message_type"] == "system_message"
        assert "Name: Bo" in listed[0]["content"]


def test_compaction_keeps_calls_with_their_returns(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        for i in range(4):
            fake_llm.script(
                Reply(
                    tool_calls=[call("memory_insert", {"label": "human", "new_string": f"f{i}"})]
                ),
                f"noted {i}",
            )
            send(http, conversation["id"], f"fact {i}")
        compacted = http.post(f"/v1/conversations/{conversation['id']}/compact")
        assert compacted.status_code == 200, compacted.text
        in_context = history(http, conversation["id"])
        calls = {m["tool_call"]["tool_call_id"] for m in in_context if "tool_call" in m}
        returns = {
            m["tool_call_id"] for m in in_context if m["message_type"] == "tool_return_message"
        }
        assert calls == returns and calls
        # Compaction renews the system message from current memory.
        assert "f3" in in_context[0]["content"]
        send(http, conversation["id"], "next")
    assert_calls_answered(fake_llm.requests[-1]["messages"])


def test_cancel_in_the_middle_of_a_loop_leaves_a_usable_conversation(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(
        Reply(tool_calls=[call("memory_insert", {"label": "human", "new_string": "A."})])
    )
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        path = f"/v1/conversations/{conversation['id']}"
        fake_llm.hold(from_request=2)
        stream = frames(http, "POST", f"{path}/messages", json={"input": "go"})
        assert next(stream).type == "ping"
        fake_llm.wait_for_held(1)  # the second step waits inside the model
        assert http.post(f"{path}/cancel").status_code == 200
        rest = list(stream)
        fake_llm.release()
        assert next(f.data for f in rest if f.type == "stop_reason")["stop_reason"] == "cancelled"
        kinds = [m["message_type"] for m in history(http, conversation["id"])]
        assert kinds[-2:] == ["tool_call_message", "tool_return_message"]
        fake_llm.reply = "still here"
        assert text_of(send(http, conversation["id"], "again")) == "still here"
    assert_calls_answered(fake_llm.requests[-1]["messages"])


def test_builtin_model_remembers_across_conversations(server: ServerThread) -> None:
    with server.client() as http:
        agent, conversation = new_conversation(
            http, model="builtin/echo", memory_blocks=[{"label": "human", "value": "Name: Ada"}]
        )
        got = send(http, conversation["id"], "Remember that I like tea.")
        assert (
            next(f.data for f in got if f.type == "tool_call_message")["tool_call"]["name"]
            == "memory_insert"
        )
        assert (
            "I like tea"
            in next(f.data for f in got if f.type == "tool_return_message")["tool_return"]
        )
        assert "I like tea" in text_of(got)
        later = http.post("/v1/conversations/", params={"agent_id": agent["id"]}).json()
        recalled = text_of(send(http, later["id"], "What do you remember about me?"))
        assert "I like tea" in recalled
        forgot = send(http, later["id"], "Forget that I like tea")
        assert next(f.data for f in forgot if f.type == "tool_return_message")["status"] == (
            "success"
        )
        assert (
            "I like tea" not in http.get(f"/v1/agents/{agent['id']}").json()["blocks"][0]["value"]
        )


def test_kill_9_in_the_middle_of_a_tool_loop_leaves_a_usable_conversation(
    tmp_path: Path, config_file: Path, fake_llm: FakeOpenAI
) -> None:
    db = tmp_path / "crash.db"
    first = ServerProcess(db, config_file)
    try:
        with httpx.Client(base_url=first.url, timeout=30) as http:
            agent, conversation = new_conversation(http)
            fake_llm.script(
                Reply(tool_calls=[call("memory_insert", {"label": "human", "new_string": "A."})]),
                Reply(tool_calls=[call("memory_insert", {"label": "human", "new_string": "B."})]),
            )
            fake_llm.hold(from_request=3)
            stream = frames(
                http,
                "POST",
                f"/v1/conversations/{conversation['id']}/messages",
                json={"input": "go"},
            )
            run_id = next(stream).data["run_id"]
            fake_llm.wait_for_held(1)  # two steps done, the third waits inside the model
            first.kill()
    finally:
        first.stop()
    fake_llm.release()
    second = ServerProcess(db, config_file)
    try:
        with httpx.Client(base_url=second.url, timeout=30) as http:
            assert http.get(f"/v1/runs/{run_id}").json()["status"] == "failed"
            kinds = [m["message_type"] for m in history(http, conversation["id"])]
            assert (
                kinds
                == ["system_message", "user_message"]
                + [
                    "tool_call_message",
                    "tool_return_message",
                ]
                * 2
            )
            value = http.get(f"/v1/agents/{agent['id']}").json()["blocks"][0]["value"]
            assert value == "Name: Ada\nA.\nB."
            fake_llm.reply = "Still here."
            assert text_of(send(http, conversation["id"], "hello?")) == "Still here."
    finally:
        second.stop()
    assert_calls_answered(fake_llm.requests[-1]["messages"])


def test_reattach_in_the_middle_of_a_loop_replays_the_steps_then_follows(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(
        Reply(tool_calls=[call("memory_insert", {"label": "human", "new_string": "A."})]),
        "Done.",
    )
    fake_llm.hold(from_request=2)
    with llm_server.client() as http, llm_server.client() as other:
        _, conversation = new_conversation(http)
        path = f"/v1/conversations/{conversation['id']}"
        stream = frames(http, "POST", f"{path}/messages", json={"input": "go"})
        assert next(stream).type == "ping"
        fake_llm.wait_for_held(1)  # the first step is done; the model thinks about the second
        attached = frames(other, "POST", f"{path}/stream", json={"starting_after": 1})
        first = next(attached)
        assert first.type == "tool_call_message" and first.data["seq_id"] == 2
        fake_llm.release()
        rest = [f for f in [first, *attached] if f.type]
        original = [f for f in stream if f.type]
    assert [f.type for f in rest] == [f.type for f in original]
    assert [f.type for f in rest if f.type.endswith("_message")] == [
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
    ]
    assert [f.data["seq_id"] for f in rest] == [f.data["seq_id"] for f in original]


def test_a_json_answer_joins_a_streamed_call_and_leaves_the_stream_intact(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    arguments = {"label": "human", "new_string": "Likes tea."}
    fake_llm.script(Reply(tool_calls=[call("memory_insert", arguments)]), "done")
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        path = f"/v1/conversations/{conversation['id']}/messages"
        body = {"input": "go", "streaming": False, "stream_tokens": True}
        answer = http.post(path, json=body).json()
        called = next(m for m in answer["messages"] if m["message_type"] == "tool_call_message")
        assert json.loads(called["tool_call"]["arguments"]) == arguments
        assert called["tool_calls"] == [called["tool_call"]]
        replay = list(
            frames(
                http,
                "POST",
                f"/v1/conversations/{conversation['id']}/stream",
                json={"run_id": answer["messages"][0]["run_id"]},
            )
        )
        pieces = [f.data["tool_call"]["arguments"] for f in replay if f.type == "tool_call_message"]
        assert len(pieces) >= 2 and json.loads("".join(pieces)) == arguments
