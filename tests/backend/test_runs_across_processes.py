"""Two server processes on one database file, as with two terminals each running ``chinwag``
with its bundled server: a run driven by one can be followed and cancelled through the other.

The owner is a real ``python -m backend serve`` process; the other server runs in this one.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backend.test_sending import history, new_conversation
from tests.conftest import ServerFactory, fake_provider_config
from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerProcess, ServerThread
from tests.sse import Frame, frames, send, text_of


@pytest.fixture
def owner_and_other(
    tmp_path: Path, config_file: Path, server_factory: ServerFactory, fake_llm: FakeOpenAI
) -> Iterator[tuple[ServerProcess, ServerThread]]:
    db = tmp_path / "shared.db"
    owner = ServerProcess(db, config_file)
    try:
        yield owner, server_factory(db_path=db, config=fake_provider_config(fake_llm))
    finally:
        owner.stop()


def held_reply(http: httpx.Client, fake_llm: FakeOpenAI, reply: str) -> tuple[str, Iterator[Frame]]:
    """A new conversation and a streamed reply, one delta per word, held after two words."""
    fake_llm.reply = reply
    fake_llm.deltas = len(reply.split())
    fake_llm.hold(after_deltas=2)
    _, conversation = new_conversation(http)
    path = f"/v1/conversations/{conversation['id']}"
    body = {"input": "talk slowly", "stream_tokens": True}
    return path, frames(http, "POST", f"{path}/messages", json=body)


def test_a_run_is_followed_from_another_process(
    owner_and_other: tuple[ServerProcess, ServerThread], fake_llm: FakeOpenAI
) -> None:
    owner, other = owner_and_other
    with httpx.Client(base_url=owner.url, timeout=30) as http, other.client() as elsewhere:
        path, first = held_reply(http, fake_llm, "alpha beta gamma delta epsilon zeta")
        seen = [next(first), next(first), next(first)]  # ping + 2 deltas
        run_id = seen[0].data["run_id"]
        fake_llm.wait_for_held(1)

        busy = elsewhere.post(f"{path}/messages", json={"input": "me too"})
        assert busy.status_code == 409 and busy.json()["run_id"] == run_id
        # Without a run id, as a client does after that 409: everything so far, then live.
        by_conversation = frames(elsewhere, "POST", f"{path}/stream", json={})
        assert [next(by_conversation).data for _ in seen] == [f.data for f in seen]
        with other.client() as third:
            by_run = frames(
                third, "POST", f"{path}/stream", json={"run_id": run_id, "starting_after": 1}
            )
            assert [next(by_run).data for _ in seen[1:]] == [f.data for f in seen[1:]]
            fake_llm.release()
            rest_by_run = [f.data for f in by_run]
        rest_by_conversation = [f.data for f in by_conversation]
        rest_first = list(first)

    assert rest_by_conversation == rest_by_run == [f.data for f in rest_first]
    assert rest_first[-1].data == "[DONE]"
    assert text_of(seen + rest_first) == fake_llm.reply


def test_a_run_is_cancelled_from_another_process(
    owner_and_other: tuple[ServerProcess, ServerThread], fake_llm: FakeOpenAI
) -> None:
    owner, other = owner_and_other
    with httpx.Client(base_url=owner.url, timeout=30) as http, other.client() as elsewhere:
        path, stream = held_reply(http, fake_llm, "first second third fourth")
        run_id = next(stream).data["run_id"]
        partial = [next(stream), next(stream)]
        fake_llm.wait_for_held(1)

        cancelled = elsewhere.post(f"{path}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json() == {run_id: "cancelled"}
        rest = list(stream)
        assert next(f.data for f in rest if f.type == "stop_reason")["stop_reason"] == "cancelled"
        assert rest[-1].data == "[DONE]"
        conversation_id = path.rsplit("/", 1)[-1]
        kept = history(elsewhere, conversation_id)[-1]
        assert kept["content"] == text_of(partial) == "first second "
        assert elsewhere.get(f"/v1/runs/{run_id}").json()["status"] == "cancelled"

        fake_llm.release()
        fake_llm.reply = None
        # The lock is free: the other process takes the next turn, and nothing is running now.
        assert text_of(send(elsewhere, conversation_id, "go on")) == "Fake reply to: go on"
        idle = elsewhere.post(f"{path}/cancel")
        assert idle.status_code == 409 and idle.json()["code"] == "NO_ACTIVE_RUN"
