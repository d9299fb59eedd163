"""SIGTERM while replies stream (issue 8, point 4): every open stream ends with a
``stop_reason`` and ``[DONE]``, the partial replies are stored, and the server exits promptly."""

import signal
import threading
import time
from pathlib import Path

import httpx

from tests.backend.test_sending import history, new_conversation
from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerProcess
from tests.sse import Frame, frames
from tests.waiting import wait_for

STREAMS = 3


def said(frame: Frame) -> bool:
    return isinstance(frame.data, dict) and frame.data.get("message_type") == "assistant_message"


def test_sigterm_ends_every_stream_and_keeps_the_partial_replies(
    tmp_path: Path, config_file: Path, fake_llm: FakeOpenAI
) -> None:
    db = tmp_path / "c.db"
    fake_llm.reply = "first second third fourth"
    fake_llm.deltas = 4
    fake_llm.hold(after_deltas=1)
    server = ServerProcess(db, config_file)
    received: dict[int, list[Frame]] = {i: [] for i in range(STREAMS)}
    errors: list[BaseException] = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            conversations = [new_conversation(http)[1]["id"] for _ in range(STREAMS)]

        def read(index: int) -> None:
            try:
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    path = f"/v1/conversations/{conversations[index]}/messages"
                    body = {"input": "talk", "stream_tokens": True}
                    for frame in frames(client, "POST", path, json=body):
                        received[index].append(frame)
            except BaseException as exc:
                errors.append(exc)

        readers = [threading.Thread(target=read, args=(i,)) for i in range(STREAMS)]
        for reader in readers:
            reader.start()
        fake_llm.wait_for_held(STREAMS)
        # The first word reached each stream (held by the model after it, it is in the turn).
        wait_for(lambda: all(any(said(f) for f in received[i]) for i in range(STREAMS)))
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for reader in readers:
            reader.join(timeout=15)
        # uvicorn re-raises the signal once it has stopped cleanly, as a process should.
        assert server.process.wait(timeout=15) in (0, -signal.SIGTERM)
        assert time.monotonic() - stopped_at < 5  # not the 5 s forced cut of before
    finally:
        fake_llm.release()
        server.stop()
    assert errors == []
    for frames_ in received.values():
        kinds = [f.type or f.data for f in frames_]
        assert kinds[-1] == "[DONE]", kinds
        stop = next(f.data for f in frames_ if f.type == "stop_reason")
        assert stop["stop_reason"] == "cancelled"
        assert kinds.index("stop_reason") < kinds.index("[DONE]")
    again = ServerProcess(db, config_file)
    try:
        with httpx.Client(base_url=again.url, timeout=30) as http:
            for conversation_id in conversations:
                kept = history(http, conversation_id)
                assert [m["message_type"] for m in kept][-2:] == [
                    "user_message",
                    "assistant_message",
                ]
                assert kept[-1]["content"] == "first "
    finally:
        again.stop()
