"""Compaction on request and on overflow (API.md 5.5 and 5.2 step 5)."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from letta_client import Letta

from backend.compaction import DEFAULT_PROMPT
from backend.llm import estimate_tokens
from tests.backend.test_sending import history, new_conversation
from tests.conftest import ServerFactory, fake_provider_config
from tests.fakes.fake_openai import FakeOpenAI, Fault
from tests.servers import ServerThread
from tests.sse import frames, send, text_of
from tests.waiting import wait_for


def talk(http: httpx.Client, conversation_id: str, turns: int, start: int = 0) -> None:
    for i in range(start, start + turns):
        assert send(http, conversation_id, f"Message {i}: my number {i} is {i * 11}.")[-1].data == (
            "[DONE]"
        )


def context_ids(http: httpx.Client, conversation_id: str) -> list[str]:
    return http.get(f"/v1/conversations/{conversation_id}").json()["in_context_message_ids"]


def compact(http: httpx.Client, conversation_id: str, **settings: object) -> httpx.Response:
    body = {"compaction_settings": settings} if settings else None
    return http.post(f"/v1/conversations/{conversation_id}/compact", json=body)


def test_sdk_compacts_with_default_sliding_window(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    sdk = Letta(base_url=llm_server.url, api_key="unused", timeout=30)
    agent = sdk.agents.create(memory_blocks=[])
    conversation = sdk.conversations.create(agent_id=agent.id)
    with llm_server.client() as http:
        talk(http, conversation.id, 5)
    fake_llm.reply = "The user shared five numbers."
    result = sdk.conversations.messages.compact(conversation.id)
    assert result.summary == "The user shared five numbers."
    assert result.num_messages_before == 11 and result.num_messages_after < 11
    listed = sdk.conversations.messages.list(conversation.id, order="asc").items
    assert [m.message_type for m in listed[:2]] == ["system_message", "summary_message"]
    assert len(listed) == result.num_messages_after


def test_all_leaves_system_and_one_summary(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        talk(http, conversation["id"], 4)
        full_before = history(http, conversation["id"])
        fake_llm.reply = "Summary of four numbers."
        response = compact(http, conversation["id"], mode="all")
        assert response.status_code == 200
        assert response.json() == {
            "summary": "Summary of four numbers.",
            "num_messages_before": 9,
            "num_messages_after": 2,
        }
        listed = history(http, conversation["id"])
        assert [m["message_type"] for m in listed] == ["system_message", "summary_message"]
        summary = listed[1]
        assert summary["role"] == "summary" and summary["summary"] == summary["content"]
        assert summary["in_context"] is True
        assert context_ids(http, conversation["id"]) == [m["id"] for m in listed]
        full = history(http, conversation["id"], include_compacted=True)
        assert [m["id"] for m in full] == [m["id"] for m in full_before] + [summary["id"]]
        assert all(m["in_context"] is False for m in full[1:-1])
        # The summarizer saw exactly the replaced messages.
        transcript = fake_llm.requests[-1]["messages"][-1]["content"]
        assert "Message 0" in transcript and "Message 3" in transcript


def spoken_transcript(messages: list[dict]) -> str:
    """The transcript of plain user and assistant messages, as the summarizer should see it."""
    speaker = {"user_message": "User", "assistant_message": "Assistant"}
    return "\n\n".join(f"{speaker[m['message_type']]}: {m['content'].strip()}" for m in messages)


def test_all_sends_the_summarizer_every_replaced_message_once(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        talk(http, conversation["id"], 2)
        # A message's own blank lines stay in its paragraph.
        send(http, conversation["id"], "  Line one.\n\nLine two.\t")
        replaced = history(http, conversation["id"])[1:]
        sent = len(fake_llm.requests)
        fake_llm.reply = "Summary of it all."
        assert compact(http, conversation["id"], mode="all").status_code == 200
    [request] = fake_llm.requests[sent:]
    assert request["messages"] == [
        {"role": "system", "content": DEFAULT_PROMPT},
        {"role": "user", "content": spoken_transcript(replaced)},
    ]
    assert request["messages"][1]["content"].endswith(
        "User: Line one.\n\nLine two.\n\nAssistant: Fake reply to:   Line one.\n\nLine two."
    )


def test_a_transcript_over_the_summarizers_window_is_folded_in_whole_paragraphs(
    server_factory, fake_llm: FakeOpenAI
) -> None:
    window = 600
    server = server_factory(
        config=fake_provider_config(
            fake_llm,
            models=["fake-model", "small-model"],
            context_windows={"small-model": window},
        )
    )
    with server.client() as http:
        _, conversation = new_conversation(http)
        talk(http, conversation["id"], 20)
        replaced = history(http, conversation["id"])[1:]
        sent = len(fake_llm.requests)
        fake_llm.reply = "FOLDED"
        response = compact(http, conversation["id"], mode="all", model="fake/small-model")
        assert response.status_code == 200
    requests = fake_llm.requests[sent:]
    assert len(requests) > 2
    assert all(r["model"] == "small-model" for r in requests)
    assert all(estimate_tokens(r["messages"]) + r["max_tokens"] <= window for r in requests)
    pieces = [r["messages"][-1]["content"] for r in requests]
    assert all(p.startswith("Summary: FOLDED\n\n") for p in pieces[1:])
    pieces = [pieces[0]] + [p.removeprefix("Summary: FOLDED\n\n") for p in pieces[1:]]
    assert all(p.startswith(("User: ", "Assistant: ")) for p in pieces)
    assert "\n\n".join(pieces) == spoken_transcript(replaced)


def test_sliding_window_keeps_latest_turns_intact(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        talk(http, conversation["id"], 10)
        before = history(http, conversation["id"])
        response = compact(http, conversation["id"], sliding_window_percentage=0.3)
        after = history(http, conversation["id"])
        kept = after[2:]
        assert kept == [dict(m) for m in before[-len(kept) :]]
        assert kept[0]["message_type"] == "user_message"  # whole turns only
        assert len(before) - 1 - len(kept) >= 0.3 * (len(before) - 1)
        assert response.json()["num_messages_after"] == len(after) < len(before)
        full = history(http, conversation["id"], include_compacted=True)
        summary_at = next(i for i, m in enumerate(full) if m["message_type"] == "summary_message")
        assert [m["in_context"] for m in full[1:summary_at]] == [False] * (summary_at - 1)
        assert full[summary_at + 1]["id"] == kept[0]["id"]


def test_compacting_one_conversation_never_changes_another(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        agent, first = new_conversation(http)
        second = http.post("/v1/conversations/", params={"agent_id": agent["id"]}).json()
        talk(http, first["id"], 3)
        talk(http, second["id"], 3)
        untouched = history(http, second["id"], include_compacted=True)
        assert compact(http, first["id"], mode="all").status_code == 200
        assert history(http, second["id"], include_compacted=True) == untouched


def test_errors_empty_unknown_and_nothing_to_reduce(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        empty = compact(http, conversation["id"])
        assert empty.status_code == 400
        assert empty.json() == {
            "detail": "No in-context messages found for this conversation.",
            "code": "NOTHING_TO_COMPACT",
        }
        missing = http.post("/v1/conversations/conv-00000000-0000-4000-8000-000000000000/compact")
        assert missing.status_code == 404
        talk(http, conversation["id"], 1)
        single_turn = compact(http, conversation["id"])
        assert single_turn.status_code == 400 and single_turn.json()["code"] == (
            "NOTHING_TO_COMPACT"
        )
        assert compact(http, conversation["id"], mode="all").status_code == 200
        again = compact(http, conversation["id"], mode="all")
        assert again.status_code == 400 and again.json()["code"] == "NOTHING_TO_COMPACT"
        bad = compact(http, conversation["id"], mode="everything")
        assert bad.status_code == 422


def test_busy_both_ways(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    with llm_server.client() as http, llm_server.client() as other:
        _, conversation = new_conversation(http)
        talk(http, conversation["id"], 3)
        path = f"/v1/conversations/{conversation['id']}"
        # A compaction during a send is refused...
        fake_llm.hold()
        stream = frames(http, "POST", f"{path}/messages", json={"input": "slow"})
        run_id = next(stream).data["run_id"]
        fake_llm.wait_for_held(1)
        busy = compact(other, conversation["id"])
        assert busy.status_code == 409
        assert busy.json()["code"] == "CONVERSATION_BUSY" and busy.json()["run_id"] == run_id
        fake_llm.release()
        assert list(stream)[-1].data == "[DONE]"
        # ...and a send during a compaction.
        fake_llm.hold()
        import threading

        result: dict = {}
        worker = threading.Thread(
            target=lambda: result.update(response=compact(http, conversation["id"]))
        )
        worker.start()
        fake_llm.wait_for_held(1)
        refused = other.post(f"{path}/messages", json={"input": "during compaction"})
        assert refused.status_code == 409
        fake_llm.release()
        worker.join(timeout=10)
        assert result["response"].status_code == 200
        assert "during compaction" not in str(
            history(http, conversation["id"], include_compacted=True)
        )


def test_a_compaction_longer_than_its_lease_keeps_the_conversation(
    server_factory: ServerFactory, fake_llm: FakeOpenAI
) -> None:
    """With a 0.3 s lease, a summary held open for several leases still owns the lock: a send
    meanwhile is refused, and a delete waits for the compaction to end instead of taking the
    conversation from under it."""
    server = server_factory(config=fake_provider_config(fake_llm), lock_lease_seconds=0.3)
    with server.client() as http, server.client() as other:
        _, conversation = new_conversation(http)
        talk(http, conversation["id"], 3)
        path = f"/v1/conversations/{conversation['id']}"
        fake_llm.hold()
        with ThreadPoolExecutor(2) as pool:
            compacting = pool.submit(compact, http, conversation["id"], mode="all")
            fake_llm.wait_for_held(1)
            started = time.monotonic()

            def four_leases_later_still_locked() -> bool:
                sent = other.post(f"{path}/messages", json={"input": "during compaction"})
                assert sent.status_code == 409, sent.text
                return time.monotonic() - started > 4 * 0.3

            try:
                wait_for(four_leases_later_still_locked)
                deleting = pool.submit(other.delete, path)
            finally:
                fake_llm.release()
            assert compacting.result(timeout=10).status_code == 200
            assert deleting.result(timeout=10).status_code < 300
        assert http.get(path).status_code == 404


def test_failing_summarizer_changes_nothing(llm_server: ServerThread, fake_llm: FakeOpenAI) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        talk(http, conversation["id"], 4)
        before = history(http, conversation["id"], include_compacted=True)
        fake_llm.fail_next(Fault.SERVER_ERROR)
        failed = compact(http, conversation["id"])
        assert failed.status_code == 502
        assert failed.json()["code"] == "LLM_API_ERROR" and failed.json()["detail"]
        assert history(http, conversation["id"], include_compacted=True) == before
        assert text_of(send(http, conversation["id"], "still ok?")) == "Fake reply to: still ok?"


def test_second_compaction_folds_the_first_summary_in(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        talk(http, conversation["id"], 4)
        fake_llm.reply = "FIRST-SUMMARY mentions numbers 0 to 3."
        assert compact(http, conversation["id"], mode="all").status_code == 200
        fake_llm.reply = None
        talk(http, conversation["id"], 3, start=4)
        fake_llm.reply = "SECOND-SUMMARY"
        assert compact(http, conversation["id"], mode="all").status_code == 200
        transcript = fake_llm.requests[-1]["messages"][-1]["content"]
        assert "FIRST-SUMMARY mentions numbers 0 to 3." in transcript
        assert "Message 6" in transcript
        full = history(http, conversation["id"], include_compacted=True)
        summaries = [m for m in full if m["message_type"] == "summary_message"]
        assert [s["content"] for s in summaries] == [
            "FIRST-SUMMARY mentions numbers 0 to 3.",
            "SECOND-SUMMARY",
        ]
        assert [s["in_context"] for s in summaries] == [False, True]


@pytest.mark.parametrize("window_known_to_server", [True, False])
def test_overflow_compacts_automatically_forever(
    server_factory, fake_llm: FakeOpenAI, window_known_to_server: bool
) -> None:
    """A small window: the conversation goes on; the model never gets more than its window.

    When the server knows the window it compacts before calling the model; when it believes
    the window is larger, the model's own rejection triggers the compaction and a retry.
    """
    window = 700
    server_window = window if window_known_to_server else 50_000
    server = server_factory(
        config=fake_provider_config(fake_llm, context_windows={"fake-model": server_window})
    )
    fake_llm.context_window = window
    # A summarizer that writes short summaries, as a real model asked for one does.
    fake_llm.responder = lambda messages: (
        "Short summary." if "compacting a conversation" in str(messages[0]) else None
    )
    events = []
    with server.client() as http:
        # No tools: their definitions alone (about 600 tokens) would nearly fill this window.
        _, conversation = new_conversation(http, include_base_tools=False)
        for i in range(30):
            got = send(
                http,
                conversation["id"],
                f"Turn {i}: here is a longer note about topic {i} that takes some room.",
            )
            assert text_of(got).startswith("Fake reply to: Turn"), got
            events += [f.data for f in got if f.type == "event_message"]
        full = history(http, conversation["id"], include_compacted=True)
    assert events and all(e["event_type"] == "compaction" for e in events)
    assert all(
        e["event_data"]["num_messages_before"] > e["event_data"]["num_messages_after"]
        for e in events
    )
    accepted = [r for r in fake_llm.requests if estimate_tokens(r["messages"]) <= window]
    if window_known_to_server:
        assert len(accepted) == len(fake_llm.requests)  # never sent more than the window
    users = [m["content"] for m in full if m["message_type"] == "user_message"]
    assert len(users) == 30 and users[0].startswith("Turn 0:")
    assert all(m["is_err"] is not True for m in full)
