"""How the TUI copes with long histories.

Prints: time to show the newest page of a 100,000-message conversation, time per older page,
the most message widgets ever mounted, and memory after paging back through 10,000 messages.
Targets (issue 5): newest page ≤ 0.5 s, each older page ≤ 0.3 s, widgets bounded, ≤ 200 MB.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tui_common import rss_mb, seed, start_server

from tui.app import ChinwagApp
from tui.client import ChinwagClient
from tui.config import Config
from tui.settings import AppSettings

TOTAL = 100_000
PAGED = 10_000


async def wait(pilot, predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not finish")
        await pilot.pause(0.002)


def opening(app: ChinwagApp) -> bool:
    return any(w.is_running and w.name == "open_conversation" for w in app.workers)


async def run(url: str, conversation_id: str) -> None:
    config = Config(path=Path(tempfile.mkdtemp()) / "config.toml")
    settings = AppSettings(config=config, server_url=url, health_interval=0)
    app = ChinwagApp(settings)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait(pilot, lambda: app.conversation is not None)
        await wait(pilot, lambda: not [w for w in app.workers if w.is_running])
        view = app.messages
        conversation = app.conversation
        assert conversation is not None

        timings = []
        for _ in range(3):  # open it a few times: the first includes the cursor probe
            old = view.blocks[0]
            started = time.perf_counter()
            app.chat.open_conversation(conversation)
            await wait(pilot, lambda old=old: view.blocks and view.blocks[0] is not old)
            await wait(pilot, lambda: not opening(app))
            timings.append(time.perf_counter() - started)
            await wait(pilot, lambda: not [w for w in app.workers if w.is_running])
        print(
            f"newest page of {TOTAL:,} messages: first {timings[0] * 1000:.0f} ms, "
            f"then {min(timings[1:]) * 1000:.0f} ms ({len(view.blocks)} messages shown)"
        )

        page_times = []
        most = len(view.blocks)
        seen = len(view.blocks)
        while seen < PAGED and view.has_older:
            top = view.blocks[0]
            started = time.perf_counter()
            view.scroll_home(animate=False, immediate=True)
            # Shown: the older page is mounted above and the view is back where it was.
            await wait(pilot, lambda top=top: view.blocks[0] is not top and view.scroll_y > 0)
            page_times.append(time.perf_counter() - started)
            await wait(pilot, lambda: not [w for w in app.workers if w.is_running])
            seen += settings.page_size
            most = max(most, len(app.query("MessageBlock")))
        print(
            f"older pages ({settings.page_size} messages each, {len(page_times)} pages): "
            f"median {statistics.median(page_times) * 1000:.0f} ms, "
            f"p90 {statistics.quantiles(page_times, n=10)[-1] * 1000:.0f} ms, "
            f"max {max(page_times) * 1000:.0f} ms"
        )
        print(f"message widgets mounted: at most {most} (window {settings.window})")
        print(f"memory after paging back through {seen:,} messages: {rss_mb():.0f} MB RSS")


def main() -> None:
    db = Path(tempfile.mkdtemp(prefix="chinwag-bench-")) / "history.db"
    server = start_server(db)
    try:

        async def prepare() -> str:
            api = ChinwagClient(server.url)
            agent = await api.create_agent("historian")
            conversation = await api.create_conversation(agent.id, "a very long conversation")
            await api.aclose()
            return conversation.id

        conversation_id = asyncio.run(prepare())
        seed(db, conversation_id, TOTAL)
        asyncio.run(run(server.url, conversation_id))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
