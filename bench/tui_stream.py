"""A reply streamed at 200 deltas/s: is it fully shown within 0.1 s of ``[DONE]``?

The bundled server and the fake OpenAI-compatible model (a delta every 5 ms) run as child
processes; the TUI sends and we measure from the moment the client read ``[DONE]`` to the moment
the transcript shows the whole reply, and how long the whole reply took to show.
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

DELTAS = 400
DELAY = 0.005  # 200 deltas per second
RUNS = 5
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


async def run(url: str, reply: str) -> list[float]:
    config = Config(path=Path(tempfile.mkdtemp()) / "config.toml")
    settings = AppSettings(
        config=config, server_url=url, health_interval=0, client_factory=TimedClient
    )
    app = ChinwagApp(settings)
    lags, totals = [], []
    async with app.run_test(size=(140, 45)) as pilot:
        while app.agent is None:
            await pilot.pause(0.01)
        for i in range(RUNS):
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
    reply = " ".join(f"word{i}" for i in range(DELTAS))
    fake = subprocess.Popen(
        [sys.executable, "-c", FAKE, reply, str(DELTAS), str(DELAY)],
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
        lags, totals = asyncio.run(run(server.url, reply))
    finally:
        server.stop()
        fake.kill()
    print(
        f"{RUNS} replies of {DELTAS} deltas at {1 / DELAY:.0f} deltas/s "
        f"(model time {DELTAS * DELAY:.1f} s each)"
    )
    print(f"send → whole reply shown: median {statistics.median(totals):.2f} s")
    print(
        f"[DONE] → whole reply shown: median {statistics.median(lags) * 1000:.0f} ms, "
        f"max {max(lags) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
