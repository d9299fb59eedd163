"""Fixtures of the TUI tests: an isolated config file and an app factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tui.app import ChinwagApp
from tui.config import Config, load_config
from tui.settings import AppSettings

FROZEN_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

AppFactory = Callable[..., ChinwagApp]


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never read or write the user's real config file."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("CHINWAG_CONFIG", str(path))
    monkeypatch.delenv("LETTA_BASE_URL", raising=False)
    monkeypatch.delenv("LETTA_API_KEY", raising=False)
    return path


def pinned_settings(url: str, config: Config, **overrides: Any) -> AppSettings:
    """Deterministic settings: frozen clock, no blinking cursor, no latency figure."""
    values: dict[str, Any] = {
        "config": config,
        "server_url": url,
        "now": lambda: FROZEN_NOW,
        "cursor_blink": False,
        "show_latency": False,
        "health_interval": 0,
        "sync_interval": 0,
    }
    values.update(overrides)
    return AppSettings(**values)


@pytest.fixture
def make_app(isolated_config: Path, tmp_path: Path) -> AppFactory:
    def make(url: str, **overrides: Any) -> ChinwagApp:
        overrides.setdefault("export_dir", tmp_path)
        return ChinwagApp(pinned_settings(url, load_config(isolated_config), **overrides))

    return make
