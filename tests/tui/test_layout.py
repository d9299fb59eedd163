"""Small terminals: side panes collapse to a drawer, the header names where you are, pane
widths are kept (issue 11, item 2)."""

from __future__ import annotations

from pathlib import Path

from tests.tui.helpers import screen_text, wait_for_workers, wait_until
from tests.tui.test_resilience import canned
from tui.config import load_config


async def _ready(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await wait_until(pilot, lambda: app.conversation is not None, what="a conversation")
    await wait_for_workers(pilot)
    await pilot.pause()


async def test_at_80x24_the_transcript_gets_the_width_and_ctrl_b_opens_the_panes(
    isolated_config: Path,
) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(pilot)
        agents = app.screen.query_one("#agents-pane")
        chat = app.screen.query_one("#chat")
        assert not agents.is_on_screen
        assert chat.outer_size.width == 80
        header = screen_text(pilot).splitlines()[0]
        assert "baker" in header and "Proofing sourdough" in header and "builtin/echo" in header

        await pilot.press("ctrl+b")
        await pilot.pause()
        assert agents.is_on_screen and app.focused is app.agents
        await pilot.press("down")  # pick the other agent while the drawer is open
        await wait_until(pilot, lambda: app.agent is not None and app.agent.name == "researcher")
        await wait_for_workers(pilot)
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert not agents.is_on_screen and app.focused is app.composer
        header = screen_text(pilot).splitlines()[0]
        assert "researcher" in header and "openai/gpt-4o-mini" in header


async def test_focus_going_back_to_the_chat_closes_the_drawer(isolated_config: Path) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(pilot)
        app.action_focus("conversations")
        await pilot.pause()
        pane = app.screen.query_one("#conversations-pane")
        assert pane.is_on_screen
        app.action_focus("composer")
        await pilot.pause()
        assert not pane.is_on_screen


async def test_wide_terminal_shows_the_panes_and_ctrl_b_hides_them(isolated_config: Path) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=(160, 40)) as pilot:
        await _ready(pilot)
        agents = app.screen.query_one("#agents-pane")
        assert agents.is_on_screen
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert not agents.is_on_screen
        assert app.screen.query_one("#chat").outer_size.width == 160


async def test_pane_widths_are_kept_for_the_next_start(isolated_config: Path) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=(160, 40)) as pilot:
        await _ready(pilot)
        app.action_focus("agents")
        await pilot.press("]", "]", "]")
        app.action_focus("conversations")
        await pilot.press("[")
        await pilot.pause()
    assert load_config(isolated_config).pane_widths == {"agents": 32, "conversations": 28}

    again = canned(isolated_config)
    async with again.run_test(size=(160, 40)) as pilot:
        await _ready(pilot)
        assert again.screen.query_one("#agents-pane").outer_size.width == 32
        assert again.screen.query_one("#conversations-pane").outer_size.width == 28
