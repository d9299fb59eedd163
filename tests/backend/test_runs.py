"""Locking, faults, re-attach and cancel: a run never loses input and never leaves a lock."""

import sqlite3
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import httpx
import letta_client
import pytest
from letta_client import Letta

from backend.store.messages import RUN_MESSAGES
from tests.backend.test_sending import history, new_conversation
from tests.fakes.fake_openai import FakeOpenAI, Fault
from tests.servers import ServerThread
from tests.sse import Frame, frames, send, text_of
from tests.waiting import wait_for


def run_status(http: httpx.Client, run_id: str) -> dict:
    return http.get(f"/v1/runs/{run_id}").json()


def test_concurrent_sends_one_wins_the_rest_get_conflict(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    sdk = Letta(base_url=llm_server.url, api_key="unused", timeout=30)  # default retries on
    agent = sdk.agents.create(memory_blocks=[])
    conversation = sdk.conversations.create(agent_id=agent.id)
    fake_llm.hold()
    clients = 6

    def attempt(i: int) -> str:
        try:
            stream = sdk.conversations.messages.create(
                conversation.id, messages=[{"role": "user", "content": f"attempt {i}"}]
            )
            return "ok" if list(stream) else "empty"
        except letta_client.ConflictError as exc:
            assert exc.body["code"] == "CONVERSATION_BUSY"
            assert exc.response.headers["x-should-retry"] == "false"
            return "conflict"

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(attempt, i) for i in range(clients)]
        fake_llm.wait_for_held(1)
        # Everyone but the holder is refused while the reply is held.
        remaining = set(futures)
        while len(remaining) > 1:
            done, remaining = wait(remaining, timeout=10, return_when=FIRST_COMPLETED)
            assert done, "the refused sends did not finish"
        fake_llm.release()
        results = sorted(f.result(timeout=10) for f in futures)
    assert results == ["conflict"] * (clients - 1) + ["ok"]
    users = [m for m in history_of(llm_server, conversation.id) if m["role"] == "user"]
    assert len(users) == 1  # refused sends stored nothing


def history_of(server: ServerThread, conversation_id: str) -> list[dict]:
    with server.client() as http:
        return history(http, conversation_id)


def test_a_send_right_after_done_always_succeeds(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    sdk = Letta(base_url=llm_server.url, api_key="unused", timeout=30)
    agent = sdk.agents.create(memory_blocks=[])
    conversation = sdk.conversations.create(agent_id=agent.id)
    for i in range(100):
        chunks = list(
            sdk.conversations.messages.create(
                conversation.id, messages=[{"role": "user", "content": f"turn {i}"}]
            )
        )
        assert any(getattr(c, "message_type", None) == "assistant_message" for c in chunks), i
    assert len(history_of(llm_server, conversation.id)) == 1 + 2 * 100


def test_busy_409_body_and_header(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    fake_llm.hold()
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        first = frames(
            http,
            "POST",
            f"/v1/conversations/{conversation['id']}/messages",
            json={"input": "slow one"},
        )
        ping = next(first)
        fake_llm.wait_for_held(1)
        with llm_server.client() as other:
            busy = other.post(
                f"/v1/conversations/{conversation['id']}/messages",
                json={"input": "too soon", "streaming": False},
            )
        assert busy.status_code == 409
        assert busy.headers["x-should-retry"] == "false"
        body = busy.json()
        assert body["code"] == "CONVERSATION_BUSY" and body["run_id"] == ping.data["run_id"]
        assert body["run_id"] in body["detail"]
        fake_llm.release()
        assert list(first)[-1].data == "[DONE]"


FAULTS = [
    (Fault.SERVER_ERROR, "llm_provider_error"),
    (Fault.RATE_LIMIT, "llm_rate_limit"),
    (Fault.UNAUTHORIZED, "llm_auth_error"),
    (Fault.DROP_MIDWAY, "llm_provider_error"),
    (Fault.CONTEXT_LENGTH, "context_window_exceeded"),
]


@pytest.mark.parametrize(("fault", "error_type"), FAULTS)
def test_model_faults_fail_the_run_and_keep_the_input(
    llm_server: ServerThread, fake_llm: FakeOpenAI, fault: Fault, error_type: str
) -> None:
    fake_llm.deltas = 6
    fake_llm.fail_next(fault)
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        got = send(http, conversation["id"], "doomed question")
        assert_failed_stream(got, error_type)
        run = run_status(http, got[0].data["run_id"])
        assert run["status"] == "failed" and run["stop_reason"] == "llm_api_error"
        doomed = next(
            m
            for m in history(http, conversation["id"], include_compacted=True)
            if m["message_type"] == "user_message"
        )
        assert doomed["content"] == "doomed question" and doomed["is_err"] is True
        context_ids = http.get(f"/v1/conversations/{conversation['id']}").json()[
            "in_context_message_ids"
        ]
        rejected_context = fault is Fault.CONTEXT_LENGTH
        assert (doomed["id"] in context_ids) is not rejected_context
        after = send(http, conversation["id"], "next question")
        assert text_of(after) == "Fake reply to: next question"
        sent = [m["content"] for m in fake_llm.requests[-1]["messages"] if m["role"] == "user"]
        assert ("doomed question" in sent) is not rejected_context


def assert_failed_stream(got: list[Frame], error_type: str) -> None:
    assert got[-1].data == "[DONE]"
    stop = next(f.data for f in got if f.type == "stop_reason")
    assert stop["stop_reason"] == "llm_api_error"
    errors = [f for f in got if f.event == "error"]
    assert len(errors) == 1
    assert errors[0].data["message_type"] == "error_message"
    assert errors[0].data["error_type"] == error_type
    assert errors[0].data["message"]  # a sentence for a person


def test_model_timeout_fails_the_run(server_factory, fake_llm: FakeOpenAI) -> None:
    from tests.conftest import fake_provider_config

    server = server_factory(config=fake_provider_config(fake_llm, timeout=0.5))
    fake_llm.fail_next(Fault.HANG)
    with server.client() as http:
        _, conversation = new_conversation(http)
        got = send(http, conversation["id"], "anyone there?")
        assert_failed_stream(got, "llm_timeout")
        assert text_of(send(http, conversation["id"], "again")) == "Fake reply to: again"


def test_client_disconnect_does_not_stop_the_turn(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.reply = "a reply nobody waited for"
    fake_llm.hold(after_deltas=1)
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        stream = frames(
            http,
            "POST",
            f"/v1/conversations/{conversation['id']}/messages",
            json={"input": "hang up on me", "stream_tokens": True},
        )
        run_id = next(stream).data["run_id"]
        next(stream)  # the first delta arrived
        stream.close()  # the client goes away mid-reply
        fake_llm.release()
        wait_for(lambda: run_status(http, run_id)["status"] != "running")
        assert run_status(http, run_id)["status"] == "completed"
        assert history(http, conversation["id"])[-1]["content"] == "a reply nobody waited for"
        fake_llm.reply = None
        assert text_of(send(http, conversation["id"], "next")) == "Fake reply to: next"


def test_reattach_gets_missing_chunks_then_live_tail(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.reply = "alpha beta gamma delta epsilon zeta"
    fake_llm.deltas = 6
    fake_llm.hold(after_deltas=2)
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        path = f"/v1/conversations/{conversation['id']}"
        first = frames(
            http, "POST", f"{path}/messages", json={"input": "stream please", "stream_tokens": True}
        )
        seen = [next(first), next(first), next(first)]  # ping + 2 deltas
        fake_llm.wait_for_held(1)
        with llm_server.client() as second_client:
            attached = frames(second_client, "POST", f"{path}/stream", json={"starting_after": 1})
            replay = [next(attached), next(attached)]
            assert [f.data for f in replay] == [f.data for f in seen[1:]]
            fake_llm.release()
            rest_second = list(attached)
        rest_first = list(first)
        assert [f.data for f in rest_second] == [f.data for f in rest_first]
        assert rest_second[-1].data == "[DONE]"
        assert text_of(seen + rest_first) == fake_llm.reply
        # Finished runs replay by id; with nothing running, re-attach is a clear 400.
        run_id = seen[0].data["run_id"]
        replayed = list(frames(http, "POST", f"{path}/stream", json={"run_id": run_id}))
        assert text_of(replayed) == fake_llm.reply
        idle = http.post(f"{path}/stream", json={})
        assert idle.status_code == 400
        assert idle.json() == {
            "detail": "No active runs found for this conversation.",
            "code": "NO_ACTIVE_RUN",
        }
        unknown = http.post(
            f"{path}/stream", json={"run_id": "run-00000000-0000-4000-8000-000000000000"}
        )
        assert unknown.status_code == 404


def test_cancel_keeps_partial_text(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    fake_llm.reply = "first second third fourth"
    fake_llm.deltas = 4
    fake_llm.hold(after_deltas=2)
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        path = f"/v1/conversations/{conversation['id']}"
        nothing = http.post(f"{path}/cancel")
        assert nothing.status_code == 409 and nothing.json()["code"] == "NO_ACTIVE_RUN"
        stream = frames(
            http, "POST", f"{path}/messages", json={"input": "talk slowly", "stream_tokens": True}
        )
        run_id = next(stream).data["run_id"]
        partial = [next(stream), next(stream)]
        fake_llm.wait_for_held(1)
        with llm_server.client() as other:
            cancelled = other.post(f"{path}/cancel")
        assert cancelled.json() == {run_id: "cancelled"}
        rest = list(stream)
        assert next(f.data for f in rest if f.type == "stop_reason")["stop_reason"] == "cancelled"
        assert rest[-1].data == "[DONE]"
        kept = history(http, conversation["id"])[-1]
        assert kept["message_type"] == "assistant_message"
        assert kept["content"] == text_of(partial) == "first second "
        assert run_status(http, run_id)["status"] == "cancelled"
        fake_llm.release()
        fake_llm.reply = None
        assert text_of(send(http, conversation["id"], "go on")) == "Fake reply to: go on"


def test_keep_alive_comments_while_the_model_is_silent(
    server_factory, fake_llm: FakeOpenAI
) -> None:
    from tests.conftest import fake_provider_config

    server = server_factory(config=fake_provider_config(fake_llm), keepalive_seconds=0.05)
    fake_llm.hold()
    with server.client() as http:
        _, conversation = new_conversation(http)
        with http.stream(
            "POST",
            f"/v1/conversations/{conversation['id']}/messages",
            json={"input": "take your time"},
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            comments = 0
            for line in lines:
                if line == ": keep-alive":
                    comments += 1
                    if comments == 3:
                        fake_llm.release()
                if line == "data: [DONE]":
                    break
        assert comments >= 3


def test_the_lease_is_renewed_while_the_run_lives(server_factory, fake_llm: FakeOpenAI) -> None:
    """With a 0.3 s lease, a run held open for several leases still owns the lock."""
    from tests.conftest import fake_provider_config

    server = server_factory(config=fake_provider_config(fake_llm), lock_lease_seconds=0.3)
    fake_llm.hold()
    with server.client() as http, server.client() as other:
        _, conversation = new_conversation(http)
        stream = frames(
            http,
            "POST",
            f"/v1/conversations/{conversation['id']}/messages",
            json={"input": "long one"},
        )
        next(stream)
        fake_llm.wait_for_held(1)
        started = time.monotonic()

        def four_leases_later_still_locked() -> bool:
            refused = other.post(
                f"/v1/conversations/{conversation['id']}/messages", json={"input": "me too"}
            )
            assert refused.status_code == 409
            return time.monotonic() - started > 4 * 0.3

        wait_for(four_leases_later_still_locked)
        fake_llm.release()
        assert list(stream)[-1].data == "[DONE]"


def test_headers_arrive_before_the_model_says_anything(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.hold()
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        with http.stream(
            "POST",
            f"/v1/conversations/{conversation['id']}/messages",
            json={"input": "quiet", "include_pings": False},
        ) as response:
            fake_llm.wait_for_held(1)
            assert response.status_code == 200  # headers are here while the reply is held
            assert response.headers["content-type"].startswith("text/event-stream")
            fake_llm.release()
            body = response.read().decode()
        assert "ping" not in body and body.rstrip().endswith("data: [DONE]")


def test_a_runs_messages_are_found_by_the_run_not_by_reading_its_conversation(
    llm_server: ServerThread,
) -> None:
    """GET /v1/runs/{id}/messages reads the run's few messages by index, each where its
    conversation lists it: a scan of the conversation took about 75 ms at 100,000 messages."""
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        send(http, conversation["id"], "hello")
        runs = http.get("/v1/runs", params={"conversation_id": conversation["id"]}).json()
        ran = http.get(f"/v1/runs/{runs[0]['id']}/messages")
        assert ran.status_code == 200 and len(ran.json()) >= 2, ran.text
    with sqlite3.connect(llm_server.settings.db_path) as db:
        plan = [
            row[3]
            for row in db.execute(
                f"EXPLAIN QUERY PLAN {RUN_MESSAGES}", {"r": runs[0]["id"], "c": conversation["id"]}
            )
        ]
    searches = [step for step in plan if step.startswith(("SEARCH", "SCAN"))]
    assert searches[0] == "SEARCH m USING INDEX messages_run (run_id=?)", plan
    assert "SEARCH cm USING PRIMARY KEY (conversation_pos=? AND ord=?)" in searches, plan
