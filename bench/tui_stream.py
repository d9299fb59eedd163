"""Streamed replies: is each fully shown soon after ``[DONE]``, and does the app keep up?

Two cases: 400 deltas at 200 deltas/s, and a 2,000-word single paragraph at 1,000 deltas/s
(the case where re-rendering the growing paragraph each frame fell behind). The bundled server
and the fake OpenAI-compatible model run as child processes; the TUI sends and we measure from
the moment the client read ``[DONE]`` to the moment the transcript shows the whole reply, and
how long the whole reply took to show. Target: ``[DONE]`` → shown under 0.2 s at any length.

    python bench/tui_stream.py          # both cases
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tui_common import ROOT, start_server

from tui.app import ChinwagApp
from tui.client import ChinwagClient
from tui.config import Config
from tui.settings import AppSettings
from tui.widgets.messages import LiveBlock

# (words, seconds between deltas, runs)
CASES = [(400, 0.005, 5), (2000, 0.001, 3)]
FAKE = """
import sys
from tests.fakes.fake_openai import FakeOpenAI
fake = FakeOpenAI().start()
fake.reply, fake.deltas, fake.delta_delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
print(fake.base_url, flush=True)
sys.stdin.read()
"""


class TimedClient(ChinwagClient):
    """Notes when each stream's ``[DONE]`` was read."""

    done_at = 0.0

    async def _stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[Any]:
        async for chunk in super()._stream(path, body):
            yield chunk
        TimedClient.done_at = time.perf_counter()


async def run(url: str, reply: str, runs: int) -> tuple[list[float], list[float]]:
    config = Config(path=Path(tempfile.mkdtemp()) / "config.toml")
    settings = AppSettings(
        config=config, server_url=url, health_interval=0, client_factory=TimedClient
    )
    app = ChinwagApp(settings)
    lags, totals = [], []
    async with app.run_test(size=(140, 45)) as pilot:
        while app.agent is None:
            await pilot.pause(0.01)
        for i in range(runs):
            app.action_focus("composer")
            await pilot.press(*f"go {i}")
            sent = time.perf_counter()
            await pilot.press("enter")
            while not app.streaming:
                await pilot.pause(0.001)
            while True:
                blocks = list(app.query(LiveBlock))
                shown = blocks and blocks[-1].markdown.source == reply and not app.streaming
                if shown:
                    break
                await pilot.pause(0.001)
            lags.append(time.perf_counter() - TimedClient.done_at)
            totals.append(time.perf_counter() - sent)
    return lags, totals


def main() -> None:
    for words, delay, runs in CASES:
        measure(words, delay, runs)


def measure(words: int, delay: float, runs: int) -> None:
    reply = " ".join(f"word{i}" for i in range(words))
    fake = subprocess.Popen(
        [sys.executable, "-c", FAKE, reply, str(words), str(delay)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = fake.stdout.readline().strip()  # type: ignore[union-attr]
    config = Path(tempfile.mkdtemp(prefix="chinwag-bench-")) / "config.toml"
    config.write_text(
        f'[providers.fake]\nbase_url = "{base_url}"\napi_key = "k"\nmodels = ["fake-model"]\n'
    )
    os.environ["CHINWAG_CONFIG"] = str(config)
    server = start_server()
    try:

        async def prepare() -> None:
            api = ChinwagClient(server.url)
            agent = await api.create_agent("streamer", "fake/fake-model")
            await api.create_conversation(agent.id, "stream")
            await api.aclose()

        asyncio.run(prepare())
        lags, totals = asyncio.run(run(server.url, reply, runs))
    finally:
        server.stop()
        fake.kill()
    print(
        f"{runs} single-paragraph replies of {words} words / deltas at {1 / delay:.0f} "
        f"deltas/s (model time {words * delay:.1f} s each)"
    )
    print(f"send → whole reply shown: median {statistics.median(totals):.2f} s")
    print(
        f"[DONE] → whole reply shown: median {statistics.median(lags) * 1000:.0f} ms, "
        f"max {max(lags) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
