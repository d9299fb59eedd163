"""The config file: profiles and keymap are read; the theme is written back, nothing else moves."""

from __future__ import annotations

from pathlib import Path

from tests.tui.canned import CannedClient, canned_app
from tests.tui.helpers import wait_for_workers, wait_until
from tui.config import load_config

TEXT = """# my settings
[providers.openai]
api_key = "sk-test"

[profiles.work]
url = "http://10.0.0.5:8283"
token = "t0k"

[keymap]
"app.compact" = "ctrl+l"
"""


def test_profiles_keymap_and_theme_round_trip(isolated_config: Path) -> None:
    isolated_config.write_text(TEXT, encoding="utf-8")
    config = load_config()
    assert config.profiles["work"].url == "http://10.0.0.5:8283"
    assert config.profiles["work"].token == "t0k"
    assert config.keymap == {"app.compact": "ctrl+l"}
    config.save_theme("nord")
    config.save_theme("gruvbox")
    written = isolated_config.read_text(encoding="utf-8")
    assert written == 'theme = "gruvbox"\n' + TEXT
    assert load_config().theme == "gruvbox"


def test_broken_config_is_reported_not_raised(isolated_config: Path) -> None:
    isolated_config.write_text("[profiles\n", encoding="utf-8")
    assert "Cannot read" in (load_config().error or "")


async def test_theme_choice_persists_and_keymap_applies(isolated_config: Path) -> None:
    isolated_config.write_text('[keymap]\n"app.compact" = "ctrl+l"\n', encoding="utf-8")
    app = canned_app(CannedClient(), isolated_config)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: app.conversation is not None, what="the conversation")
        await wait_for_workers(pilot)
        app.theme = "nord"
        await pilot.pause()
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert type(app.screen).__name__ == "CompactDialog"
    assert load_config().theme == "nord"
