"""Nothing typed is lost and nothing crashes: narrow terminals, crashes, odd block labels,
failed saves and failed sends (issue 11, items 1 and 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.css.query import NoMatches
from textual.widgets import TextArea
from textual.worker import WorkerFailed

import tui.__main__ as cli
from tests.servers import ServerThread
from tests.tui.canned import CannedClient, canned_app
from tests.tui.conftest import AppFactory
from tests.tui.helpers import idle_in, screen_text, wait_for_workers, wait_until
from tui.app import ChinwagApp
from tui.client import ChinwagClient
from tui.config import load_config
from tui.screens.agent_detail import AgentDetailScreen
from tui.widgets.messages import MessageBlock


def canned(config: Path, **client: Any) -> ChinwagApp:
    return canned_app(CannedClient(**client), config)


async def test_narrow_terminal_resizes_do_not_crash(isolated_config: Path) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.conversation is not None, what="a conversation")
        await wait_for_workers(pilot)
        assert app.composer.text == ""  # the placeholder is what used to crash
        for width in (70, 62, 60, 58, 40, 61, 62, 80):
            await pilot.resize_terminal(width, 20)
            await pilot.pause()
        assert app.return_code is None


async def test_a_crash_keeps_the_draft_and_exits_non_zero(isolated_config: Path) -> None:
    app = canned(isolated_config)
    with pytest.raises(ZeroDivisionError):
        async with app.run_test(size=(130, 36)) as pilot:
            await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
            await pilot.press(*"half a thought")
            app.call_later(lambda: 1 / 0)
            await pilot.pause()
    assert app.return_code == 1
    assert load_config(isolated_config).draft_path.read_text(encoding="utf-8") == ("half a thought")

    again = canned(isolated_config)
    async with again.run_test(size=(130, 36)) as pilot:
        await wait_until(pilot, lambda: again.composer.text == "half a thought", what="draft")


async def test_a_worker_that_finds_its_widgets_gone_after_the_exit_is_not_a_crash(
    isolated_config: Path,
) -> None:
    gone = WorkerFailed(NoMatches("No nodes match '#messages' on ChatPane()"))
    app = canned(isolated_config)
    async with app.run_test(size=(130, 36)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
    assert app.return_code is None  # closed by the test: no exit code set
    app._handle_exception(gone)  # what a worker resuming during the shutdown raises
    assert app.return_code is None

    running = canned(isolated_config)
    with pytest.raises(WorkerFailed):  # while the app runs, a missing widget is a crash
        async with running.run_test(size=(130, 36)) as pilot:
            await idle_in(pilot, "composer", ready=lambda: running.conversation is not None)
            try:
                raise gone
            except WorkerFailed as failed:  # as Textual reports it: from its except block
                running._handle_exception(failed)
    assert running.return_code == 1


def test_the_command_exits_non_zero_after_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def crashed(app: ChinwagApp) -> None:
        app._return_code = 1

    monkeypatch.setattr(ChinwagApp, "run", crashed)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--server", "http://127.0.0.1:9"])
    assert stopped.value.code == 1


ODD_LABELS = {"project notes": "ships in May", "v1.2": "dotted", "a/b": "slashed", "[x]": "b"}


async def test_agent_details_with_block_labels_of_any_shape(
    server: ServerThread, make_app: AppFactory
) -> None:
    blocks = [{"label": k, "value": v} for k, v in ODD_LABELS.items()]
    with server.client() as http:
        made = http.post("/v1/agents/", json={"name": "odd", "memory_blocks": blocks})
        assert made.status_code in (200, 201), made.text
    app = make_app(server.url)
    async with app.run_test(size=(130, 60)) as pilot:
        await idle_in(pilot, "agents")
        await pilot.press("e")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, AgentDetailScreen) and app.screen.ready,
            what="the detail view",
        )
        screen = app.screen
        assert isinstance(screen, AgentDetailScreen)
        assert {k: a.text for k, a in screen.block_areas.items()} == ODD_LABELS
        assert "Memory block: [x]" in screen_text(pilot)
        screen.block_areas["project notes"].text = "ships in June"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(app.screen_stack) == 1, what="saved")
    api = ChinwagClient(server.url)
    agent = (await api.list_agents())[0]
    await api.aclose()
    saved = {b.label: b.value for b in (agent.memory.blocks or agent.blocks)}
    assert saved["project notes"] == "ships in June"


class FailFirst(httpx.AsyncBaseTransport):
    """A real transport that refuses the first request with ``method`` as if the server died."""

    def __init__(self, method: str, path_part: str = "") -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.method, self.path_part = method, path_part
        self.failed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self.method and self.path_part in request.url.path and not self.failed:
            self.failed += 1
            raise httpx.ConnectError("connection refused")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_failed_save_keeps_agent_details_open_with_the_edits(
    server: ServerThread, make_app: AppFactory
) -> None:
    api = ChinwagClient(server.url)
    await api.create_agent("keeper", human="Sam")
    transport = FailFirst("PATCH")
    app = make_app(
        server.url,
        client_factory=lambda url, token: ChinwagClient(url, token, transport=transport),
    )
    async with app.run_test(size=(130, 44)) as pilot:
        await idle_in(pilot, "agents")
        await pilot.press("e")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, AgentDetailScreen) and app.screen.ready,
            what="the detail view",
        )
        screen = app.screen
        assert isinstance(screen, AgentDetailScreen)
        screen.block_areas["human"].text = "Sam, who bakes."
        screen.query_one("#system", TextArea).text = "Be brief."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "Not saved" in screen_text(pilot), what="the error")
        assert app.screen is screen and transport.failed == 1
        assert screen.block_areas["human"].text == "Sam, who bakes."
        assert screen.query_one("#system", TextArea).text == "Be brief."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(app.screen_stack) == 1, what="saved on retry")
        await wait_for_workers(pilot)
    agent = (await api.list_agents())[0]
    await api.aclose()
    assert agent.system == "Be brief."
    assert {b.label: b.value for b in agent.memory.blocks or agent.blocks}["human"] == (
        "Sam, who bakes."
    )


async def test_a_send_that_cannot_reach_the_server_puts_the_text_back(
    server: ServerThread, make_app: AppFactory
) -> None:
    api = ChinwagClient(server.url)
    agent = await api.create_agent("sender")
    await api.create_conversation(agent.id, "kept")
    await api.aclose()
    transport = FailFirst("POST", "/messages")
    app = make_app(
        server.url,
        client_factory=lambda url, token: ChinwagClient(url, token, transport=transport),
    )
    async with app.run_test(size=(130, 36)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        await pilot.press(*"do not lose me", "enter")
        await wait_until(pilot, lambda: transport.failed == 1, what="the failed send")
        await wait_until(pilot, lambda: not app.streaming, what="the turn to end")
        await wait_until(pilot, lambda: app.composer.text == "do not lose me", what="the text back")
        sent = [b for b in app.query(MessageBlock) if b.entry.text == "do not lose me"]
        assert sent == []  # not shown as if it had been sent
