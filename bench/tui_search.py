"""Search in the TUI over a 100,000-message history, and opening a hit deep in it.

Prints: the time from ``ctrl+f`` … ``enter`` to the results on screen (several queries), and the
time from choosing a hit about 10,000 messages from the oldest to its conversation shown around
it, with the message marked and in view.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tui_common import seed, start_server

from tui.app import ChinwagApp
from tui.client import ChinwagClient
from tui.config import Config
from tui.screens.search import SearchScreen
from tui.settings import AppSettings

TOTAL = 100_000
QUERIES = ("message 10007", "message 55555", "message 99990", "message 4242", "message 77")


async def wait(pilot, predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not finish")
        await pilot.pause(0.002)


def idle(app: ChinwagApp) -> bool:
    return not [w for w in app.workers if w.is_running]


async def run(url: str) -> None:
    config = Config(path=Path(tempfile.mkdtemp()) / "config.toml")
    settings = AppSettings(config=config, server_url=url, health_interval=0)
    app = ChinwagApp(settings)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait(pilot, lambda: app.conversation is not None)
        await wait(pilot, lambda: idle(app))
        timings = []
        for query in QUERIES:
            started = time.perf_counter()
            await pilot.press("ctrl+f")
            await wait(pilot, lambda: isinstance(app.screen, SearchScreen))
            screen = app.screen
            screen.query_one("#query").value = query
            await pilot.press("enter")
            await wait(
                pilot,
                lambda screen=screen: (
                    screen.found and "result" in str(screen.query_one(".search-status").render())
                ),
            )
            timings.append(time.perf_counter() - started)
            hits = len(screen.found)
            await pilot.press("escape")
            await wait(pilot, lambda: not isinstance(app.screen, SearchScreen))
        print(
            f"search over {TOTAL:,} messages, ctrl+f to results shown ({len(QUERIES)} queries, "
            f"last had {hits} hits): median {statistics.median(timings) * 1000:.0f} ms, "
            f"max {max(timings) * 1000:.0f} ms"
        )

        await pilot.press("ctrl+f")
        await wait(pilot, lambda: isinstance(app.screen, SearchScreen))
        screen = app.screen
        screen.query_one("#query").value = "message 10007"
        await pilot.press("enter")
        await wait(pilot, lambda: bool(screen.found))
        await pilot.press("down")
        started = time.perf_counter()
        await pilot.press("enter")
        view = app.messages
        await wait(pilot, lambda: any(b.has_class("marked") for b in view.blocks))
        await wait(pilot, lambda: idle(app))
        elapsed = time.perf_counter() - started
        marked = next(b for b in view.blocks if b.has_class("marked"))
        shown = 0 <= marked.region.y < view.region.bottom
        print(
            f"open the hit “{marked.entry.text}” (10,007th of {TOTAL:,}): "
            f"{elapsed * 1000:.0f} ms to its page shown, marked, in view: {shown}, "
            f"{len(view.blocks)} messages around it"
        )


def main() -> None:
    db = Path(tempfile.mkdtemp(prefix="chinwag-bench-")) / "search.db"
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
        asyncio.run(run(server.url))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
