"""Deleting a conversation or agent while its reply runs (issue 8, point 6): the run is
cancelled first and ends once, cleanly; nothing keeps calling the model or logging errors."""

import logging

import pytest

from tests.backend.test_sending import new_conversation
from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerThread
from tests.sse import frames


@pytest.mark.parametrize("what", ["conversation", "agent"])
def test_delete_during_a_run_cancels_it_once_and_cleanly(
    llm_server: ServerThread,
    fake_llm: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
    what: str,
) -> None:
    fake_llm.reply = "one two three four"
    fake_llm.deltas = 4
    fake_llm.hold(after_deltas=1)
    caplog.set_level(logging.WARNING)
    with llm_server.client() as http:
        agent, conversation = new_conversation(http)
        path = f"/v1/conversations/{conversation['id']}"
        stream = frames(
            http, "POST", f"{path}/messages", json={"input": "hello", "stream_tokens": True}
        )
        run_id = next(stream).data["run_id"]
        fake_llm.wait_for_held(1)
        with llm_server.client() as other:
            target = path if what == "conversation" else f"/v1/agents/{agent['id']}"
            deleted = other.delete(target)
            assert deleted.status_code == 200, deleted.text
            rest = list(stream)
            stops = [f.data["stop_reason"] for f in rest if f.type == "stop_reason"]
            assert stops == ["cancelled"]
            assert rest[-1].data == "[DONE]"
            fake_llm.release()
            assert other.get(path).status_code == 404
            assert other.get(f"/v1/runs/{run_id}").status_code == 404
            again = other.post(f"{path}/messages", json={"input": "still there?"})
            assert again.status_code == 404
    assert len(fake_llm.requests) == 1  # the model was not called again for a gone reply
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == [], [r.getMessage() for r in problems]


def test_delete_of_an_idle_or_unknown_conversation_is_unchanged(llm_server: ServerThread) -> None:
    with llm_server.client() as http:
        _, conversation = new_conversation(http)
        path = f"/v1/conversations/{conversation['id']}"
        assert http.delete(path).status_code == 200
        assert http.delete(path).status_code == 404
        unknown = http.delete("/v1/agents/agent-00000000-0000-4000-8000-000000000000")
        assert unknown.status_code == 404
