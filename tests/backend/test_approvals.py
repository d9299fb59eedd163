"""Approvals and client tools (API.md 7): the run stops, the answer resumes the same loop."""

import json
from pathlib import Path

import httpx
import pytest
from letta_client import Letta
from letta_client.types.agents import ApprovalRequestMessage

from tests.conftest import ServerFactory, fake_provider_config
from tests.fakes.fake_openai import FakeOpenAI, Reply, call
from tests.servers import ServerThread
from tests.sse import Frame, frames, send, text_of

BASH = {
    "name": "Bash",
    "description": "Run a shell command on the user's machine.",
    "parameters": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}


def new_conversation(http: httpx.Client) -> tuple[dict, dict]:
    made = http.post(
        "/v1/agents/", json={"memory_blocks": [{"label": "human", "value": "Name: Ada"}]}
    ).json()
    conversation = http.post("/v1/conversations/", params={"agent_id": made["id"]}).json()
    return made, conversation


def require_approval(http: httpx.Client, agent_id: str, tool: str) -> None:
    answer = http.patch(
        f"/v1/agents/{agent_id}/tools/approval/{tool}", json={"requires_approval": True}
    )
    assert answer.status_code == 200, answer.text
    assert {"tool_name": tool, "type": "requires_approval"} in answer.json()["tool_rules"]


def answer(http: httpx.Client, conversation_id: str, *approvals: dict, **options) -> list[Frame]:
    body = {"messages": [{"type": "approval", "approvals": list(approvals)}], **options}
    return list(frames(http, "POST", f"/v1/conversations/{conversation_id}/messages", json=body))


def stop_reason(got: list[Frame]) -> str:
    return next(f.data for f in got if f.type == "stop_reason")["stop_reason"]


def kinds(http: httpx.Client, conversation_id: str) -> list[str]:
    listed = http.get(f"/v1/conversations/{conversation_id}/messages", params={"limit": 1000})
    return [m["message_type"] for m in listed.json()]


INSERT_TEA = call("memory_insert", {"label": "human", "new_string": "Likes tea."}, "call_tea")


@pytest.mark.parametrize("approve", [True, False])
def test_a_tool_that_requires_approval_waits_then_goes_on(
    llm_server: ServerThread, fake_llm: FakeOpenAI, approve: bool
) -> None:
    fake_llm.script(Reply(tool_calls=[INSERT_TEA]), "Done.")
    with llm_server.client() as http:
        agent, conversation = new_conversation(http)
        require_approval(http, agent["id"], "memory_insert")
        got = send(http, conversation["id"], "I like tea")
        assert stop_reason(got) == "requires_approval"
        request = next(f.data for f in got if f.type == "approval_request_message")
        assert request["tool_call"]["name"] == "memory_insert"
        assert request["tool_call"]["tool_call_id"] == "call_tea"
        assert not any(f.type == "tool_return_message" for f in got)
        assert got[-1].data == "[DONE]"

        resumed = answer(
            http,
            conversation["id"],
            {"type": "approval", "tool_call_id": "call_tea", "approve": approve, "reason": "no"},
        )
        returned = next(f.data for f in resumed if f.type == "tool_return_message")
        value = http.get(f"/v1/agents/{agent['id']}").json()["blocks"][0]["value"]
        if approve:
            assert returned["status"] == "success"
            assert returned["tool_return"] == value == "Name: Ada\nLikes tea."
        else:
            assert returned["status"] == "error"
            assert returned["tool_return"] == (
                "Error: request to call tool denied. User reason: no"
            )
            assert value == "Name: Ada"
        assert text_of(resumed) == "Done." and stop_reason(resumed) == "end_turn"
        assert kinds(http, conversation["id"]) == [
            "system_message",
            "user_message",
            "approval_request_message",
            "approval_response_message",
            "tool_return_message",
            "assistant_message",
        ]
    messages = fake_llm.requests[-1]["messages"]
    assert messages[-2]["tool_calls"][0]["id"] == "call_tea"
    assert messages[-1]["role"] == "tool" and messages[-1]["tool_call_id"] == "call_tea"


def test_other_sends_get_409_until_answered(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    fake_llm.script(Reply(tool_calls=[INSERT_TEA]))
    with llm_server.client() as http:
        agent, conversation = new_conversation(http)
        require_approval(http, agent["id"], "memory_insert")
        send(http, conversation["id"], "I like tea")
        before = kinds(http, conversation["id"])
        refused = http.post(
            f"/v1/conversations/{conversation['id']}/messages", json={"input": "hello?"}
        )
        assert refused.status_code == 409
        assert refused.json()["code"] == "APPROVAL_PENDING"
        assert "waiting for approval on a tool call" in refused.json()["detail"]
        assert refused.headers["x-should-retry"] == "false"
        compacting = http.post(f"/v1/conversations/{conversation['id']}/compact")
        assert compacting.status_code == 409
        assert kinds(http, conversation["id"]) == before


def test_client_tools_take_the_approval_path_both_ways(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        path = f"/v1/conversations/{conversation['id']}/messages"
        # The client's result goes back to the model (Letta Code's shape).
        fake_llm.script(
            Reply(tool_calls=[call("Bash", {"command": "ls"}, "call_ls")]), "Two files."
        )
        got = send(http, conversation["id"], "list files", client_tools=[BASH])
        offered = {t["function"]["name"] for t in fake_llm.requests[-1]["tools"]}
        assert "Bash" in offered and "memory_insert" in offered
        assert stop_reason(got) == "requires_approval"
        assert (
            next(f.data for f in got if f.type == "approval_request_message")["tool_call"]["name"]
            == "Bash"
        )
        body = {
            "messages": [
                {
                    "type": "approval",
                    "approvals": [
                        {
                            "type": "tool",
                            "tool_call_id": "call_ls",
                            "tool_return": "a.txt\nb.txt",
                            "status": "success",
                            "stdout": ["a.txt", "b.txt"],
                        }
                    ],
                }
            ],
            "client_tools": [BASH],
        }
        resumed = list(frames(http, "POST", path, json=body))
        returned = next(f.data for f in resumed if f.type == "tool_return_message")
        assert returned["tool_return"] == "a.txt\nb.txt" and returned["status"] == "success"
        assert text_of(resumed) == "Two files."
        sent = fake_llm.requests[-1]["messages"][-1]
        assert json.loads(sent["content"]) == {"status": "OK", "message": "a.txt\nb.txt"}

        # The person refuses: the model learns why (the shorter tool_return form for errors).
        fake_llm.script(Reply(tool_calls=[call("Bash", {"command": "rm -rf /"}, "call_rm")]), "OK.")
        send(http, conversation["id"], "clean up", client_tools=[BASH])
        resumed = answer(
            http,
            conversation["id"],
            {"type": "approval", "tool_call_id": "call_rm", "approve": False, "reason": "never"},
        )
        returned = next(f.data for f in resumed if f.type == "tool_return_message")
        assert returned["status"] == "error" and returned["tool_return"].endswith("never")

        fake_llm.script(Reply(tool_calls=[call("Bash", {"command": "ls"}, "call_ls2")]), "Hm.")
        send(http, conversation["id"], "again", client_tools=[BASH])
        failed = {
            "messages": [
                {
                    "type": "tool_return",
                    "tool_returns": [
                        {"tool_call_id": "call_ls2", "tool_return": "denied", "status": "error"}
                    ],
                }
            ]
        }
        resumed = list(frames(http, "POST", path, json=failed))
        assert next(f.data for f in resumed if f.type == "tool_return_message")["status"] == "error"
    assert all(m["role"] != "tool" or m["tool_call_id"] for m in fake_llm.requests[-1]["messages"])


def test_a_step_runs_what_needs_nobody_and_waits_for_the_rest(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(
        Reply(
            tool_calls=[
                INSERT_TEA,
                call("Bash", {"command": "date"}, "call_date"),
            ]
        ),
        "All done.",
    )
    with llm_server.client() as http:
        agent, conversation = new_conversation(http)
        got = send(http, conversation["id"], "go", client_tools=[BASH])
        assert [f.type for f in got if f.type and f.type.endswith("_message")] == [
            "tool_call_message",
            "approval_request_message",
            "tool_return_message",
        ]
        assert http.get(f"/v1/agents/{agent['id']}").json()["blocks"][0]["value"].endswith("tea.")
        resumed = answer(
            http,
            conversation["id"],
            {
                "type": "tool",
                "tool_call_id": "call_date",
                "tool_return": "Monday",
                "status": "success",
            },
        )
        assert text_of(resumed) == "All done."
    messages = fake_llm.requests[-1]["messages"]
    assert [c["id"] for c in messages[-3]["tool_calls"]] == ["call_tea", "call_date"]
    assert [m["tool_call_id"] for m in messages[-2:]] == ["call_tea", "call_date"]


def test_bad_answers_are_400_and_store_nothing(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        path = f"/v1/conversations/{conversation['id']}/messages"

        def post(*approvals: dict) -> httpx.Response:
            body = {"messages": [{"type": "approval", "approvals": list(approvals)}]}
            return http.post(path, json={**body, "streaming": False})

        nothing = post({"type": "approval", "tool_call_id": "call_x", "approve": True})
        assert nothing.status_code == 400 and "No tool call is waiting" in nothing.json()["detail"]

        fake_llm.script(
            Reply(
                tool_calls=[
                    call("Bash", {"command": "ls"}, "call_a"),
                    call("Bash", {"command": "pwd"}, "call_b"),
                ]
            ),
            "ok",
        )
        send(http, conversation["id"], "go", client_tools=[BASH])
        before = kinds(http, conversation["id"])
        cases = [
            ([{"type": "approval", "tool_call_id": "call_zz", "approve": True}], "call_zz"),
            ([{"type": "approval", "tool_call_id": "call_a", "approve": False}], "call_b"),
            (
                [
                    {"type": "approval", "tool_call_id": "call_a", "approve": True},
                    {"type": "approval", "tool_call_id": "call_b", "approve": False},
                ],
                "only the client can run",
            ),
            (
                [
                    {"type": "approval", "tool_call_id": "call_a", "approve": False},
                    {"type": "approval", "tool_call_id": "call_a", "approve": False},
                ],
                "more than once",
            ),
        ]
        for approvals, named in cases:
            refused = post(*approvals)
            assert refused.status_code == 400, refused.text
            assert refused.json()["code"] == "INVALID_ARGUMENT"
            assert named in refused.json()["detail"]
        malformed = http.post(path, json={"messages": [{"type": "approval"}]})
        assert malformed.status_code == 422
        assert kinds(http, conversation["id"]) == before

        done = post(
            {"type": "tool", "tool_call_id": "call_a", "tool_return": "x", "status": "success"},
            {"type": "approval", "tool_call_id": "call_b", "approve": False},
        )
        assert done.status_code == 200
        again = post({"type": "approval", "tool_call_id": "call_a", "approve": False})
        assert again.status_code == 400 and "already answered" in again.json()["detail"]


def test_a_result_for_a_cancelled_run_is_refused(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(Reply(tool_calls=[call("Bash", {"command": "ls"}, "call_c")]))
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        got = send(http, conversation["id"], "go", client_tools=[BASH])
        run_id = got[0].data["run_id"]
        cancelled = http.post(f"/v1/conversations/{conversation['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json() == {run_id: "cancelled"}
        assert http.get(f"/v1/runs/{run_id}").json()["status"] == "cancelled"
        before = kinds(http, conversation["id"])
        assert before[-1] == "tool_return_message"
        late = http.post(
            f"/v1/conversations/{conversation['id']}/messages",
            json={
                "messages": [
                    {
                        "type": "tool_return",
                        "tool_returns": [
                            {"tool_call_id": "call_c", "tool_return": "x", "status": "success"}
                        ],
                    }
                ]
            },
        )
        assert late.status_code == 400 and "cancelled" in late.json()["detail"]
        assert kinds(http, conversation["id"]) == before
        fake_llm.reply = "fine"
        assert text_of(send(http, conversation["id"], "never mind")) == "fine"


def test_a_waiting_run_survives_a_restart(
    server_factory: ServerFactory, fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    db = tmp_path / "restart.db"
    first = server_factory(db, config=fake_provider_config(fake_llm))
    fake_llm.script(Reply(tool_calls=[INSERT_TEA]), "Remembered.")
    with first.client() as http:
        agent, conversation = new_conversation(http)
        require_approval(http, agent["id"], "memory_insert")
        assert stop_reason(send(http, conversation["id"], "I like tea")) == "requires_approval"
    first.stop()
    second = server_factory(db, config=fake_provider_config(fake_llm))
    with second.client() as http:
        refused = http.post(f"/v1/conversations/{conversation['id']}/messages", json={"input": "x"})
        assert refused.status_code == 409
        resumed = answer(
            http,
            conversation["id"],
            {"type": "approval", "tool_call_id": "call_tea", "approve": True},
        )
        assert text_of(resumed) == "Remembered."
        assert http.get(f"/v1/agents/{agent['id']}").json()["blocks"][0]["value"].endswith("tea.")


def test_sdk_approves_with_letta_shapes(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    sdk = Letta(base_url=llm_server.url, api_key="unused", timeout=30)
    agent = sdk.agents.create(memory_blocks=[{"label": "human", "value": "Name: Ada"}])
    updated = sdk.agents.tools.update_approval(
        "memory_insert", agent_id=agent.id, body_requires_approval=True
    )
    assert updated is not None
    conversation = sdk.conversations.create(agent_id=agent.id)
    fake_llm.script(Reply(tool_calls=[INSERT_TEA]), "Done.")
    chunks = list(
        sdk.conversations.messages.create(
            conversation.id, messages=[{"role": "user", "content": "I like tea"}]
        )
    )
    request = next(c for c in chunks if isinstance(c, ApprovalRequestMessage))
    assert request.tool_call.name == "memory_insert"
    # Letta's older single-call form names the call by the request message's id.
    resumed = list(
        sdk.conversations.messages.create(
            conversation.id,
            messages=[{"type": "approval", "approve": True, "approval_request_id": request.id}],
        )
    )
    assert any(getattr(c, "content", None) == "Done." for c in resumed)
    listed = sdk.conversations.messages.list(conversation.id, order="asc").items
    assert [m.message_type for m in listed][-4:] == [
        "approval_request_message",
        "approval_response_message",
        "tool_return_message",
        "assistant_message",
    ]


def test_a_message_sent_with_the_answer_comes_after_the_returns(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(Reply(tool_calls=[call("Bash", {"command": "ls"}, "call_f")]), "Seen both.")
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        send(http, conversation["id"], "go", client_tools=[BASH])
        body = {
            "messages": [
                {
                    "type": "approval",
                    "approvals": [
                        {"type": "tool", "tool_call_id": "call_f", "tool_return": "a.txt"}
                    ],
                },
                {"role": "user", "content": "and also this"},
            ]
        }
        path = f"/v1/conversations/{conversation['id']}/messages"
        assert text_of(list(frames(http, "POST", path, json=body))) == "Seen both."
    messages = fake_llm.requests[-1]["messages"]
    assert messages[-2]["role"] == "tool" and "a.txt" in messages[-2]["content"]
    assert messages[-1] == {"role": "user", "content": "and also this"}
