"""Keys typed fast land where they were typed, and focus keys go straight to a pane
(issue 11, items 4 and 6)."""

from __future__ import annotations

from pathlib import Path

from tests.tui.helpers import idle_in, type_burst, wait_until
from tests.tui.test_resilience import canned

SIZE = (130, 36)


async def test_ctrl_j_in_a_burst_puts_each_newline_where_it_was_typed(
    isolated_config: Path,
) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        type_burst(pilot, *"alpha", "ctrl+j", *"beta", "ctrl+j", *"gamma")
        await wait_until(pilot, lambda: "gamma" in app.composer.text, what="the burst")
        await pilot.pause()
        assert app.composer.text == "alpha\nbeta\ngamma"


async def test_focus_keys_go_straight_to_each_pane(isolated_config: Path) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "messages", ready=lambda: app.conversation is not None)
        await pilot.press("f5")
        assert app.focused is app.agents
        await pilot.press("f6")
        assert app.focused is app.conversations
        await pilot.press("f7")
        assert app.focused is app.composer


async def test_typing_while_a_message_has_focus_goes_to_the_composer(
    isolated_config: Path,
) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "messages", ready=lambda: app.conversation is not None)
        app.messages.blocks[-1].focus()
        await pilot.pause()
        type_burst(pilot, *"hello there")
        await wait_until(pilot, lambda: app.composer.text == "hello there", what="the text")
        assert app.focused is app.composer


async def test_shift_tab_from_the_agents_pane_reaches_the_composer(
    isolated_config: Path,
) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "agents", ready=lambda: app.conversation is not None)
        await pilot.press("shift+tab")
        assert app.focused is app.composer


async def test_help_shows_keys_as_typed_with_tab_quit_and_list_keys(
    isolated_config: Path,
) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=(130, 60)) as pilot:
        await idle_in(pilot, "agents", ready=lambda: app.conversation is not None)
        await pilot.press("f1")
        await wait_until(pilot, lambda: getattr(app.screen, "ready", False), what="help")
        await pilot.pause()
        rows = {r[0]: r[1] for r in app.screen.rows}  # type: ignore[attr-defined]
        assert rows.get("[") == "Narrower" and "left_square_bracket" not in rows
        assert "tab" in rows or "tab / shift+tab" in rows
        assert "Quit" in rows.values()
        assert {"↑", "↓"} <= set(rows) or "up / down" in rows
        assert "pageup / pagedown" in rows


async def test_palette_entries_show_their_keys(isolated_config: Path) -> None:
    app = canned(isolated_config)
    async with app.run_test(size=(130, 40)) as pilot:
        await idle_in(pilot, "composer", ready=lambda: app.conversation is not None)
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert commands["Compact conversation"].endswith("^k")
        assert commands["New agent"].endswith(" n")
        assert commands["Focus agents"].endswith("f5")
