"""Streaming keeps up: a long single-paragraph reply is appended in batches, not delta by
delta, and is whole at the end (issue 11, item 11; the timings are in bench/tui_stream.py)."""

from __future__ import annotations

import itertools
import time

import pytest
from textual.widgets import Markdown

from tests.fakes.fake_openai import FakeOpenAI
from tests.servers import ServerThread
from tests.tui.conftest import AppFactory
from tests.tui.helpers import idle_in, replies, send_and_wait
from tui.client import ChinwagClient
from tui.widgets.messages import LiveBlock


async def test_a_fast_long_paragraph_is_appended_in_batches_and_shown_whole(
    llm_server: ServerThread,
    fake_llm: FakeOpenAI,
    make_app: AppFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = ChinwagClient(llm_server.url)
    agent = await api.create_agent("fast")
    await api.create_conversation(agent.id, "fast")
    await api.aclose()
    words = [f"word{i}" for i in range(600)]
    fake_llm.reply = " ".join(words)
    fake_llm.deltas = len(words)
    fake_llm.delta_delay = 0.001
    appends: list[float] = []
    original = Markdown.append

    def counted(self: Markdown, markdown: str):  # type: ignore[no-untyped-def]
        appends.append(time.monotonic())
        return original(self, markdown)

    monkeypatch.setattr(Markdown, "append", counted)
    app = make_app(llm_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await send_and_wait(pilot, "a long one please", timeout=30)
        assert replies(app) == [fake_llm.reply]
        assert app.query(LiveBlock).last().markdown.source == fake_llm.reply
    # Appends are batched: never closer together than one frame, however fast deltas arrive
    # (the old code appended every delta, hundreds within one frame).
    assert appends
    gaps = [later - earlier for earlier, later in itertools.pairwise(appends)]
    assert min(gaps, default=LiveBlock.FRAME) >= LiveBlock.FRAME * 0.9, sorted(gaps)[:5]
