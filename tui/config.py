"""The TUI's side of the config file: profiles, keymap, theme; and where things live.

One TOML file serves both server and TUI (the server reads ``[providers.*]``), so the TUI only
rewrites the top-level ``theme`` line and leaves every other byte alone.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "chinwag"
# The side panes whose widths are kept (``agents_width = 30`` at the top of the file).
PANES = ("agents", "conversations")
_TABLE_LINE = re.compile(r"^\s*\[", re.MULTILINE)


def config_path() -> Path:
    """``$CHINWAG_CONFIG`` or ``config.toml`` in the platform's config directory."""
    override = os.environ.get("CHINWAG_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


@dataclass
class Profile:
    url: str
    token: str | None = None


@dataclass
class Config:
    """What the TUI reads from the config file."""

    path: Path
    profiles: dict[str, Profile] = field(default_factory=dict)
    keymap: dict[str, str] = field(default_factory=dict)
    theme: str | None = None
    pane_widths: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def draft_path(self) -> Path:
        """Where the composer keeps its unsent text (next to the config file)."""
        return self.path.with_name("draft.md")

    def save_theme(self, theme: str) -> None:
        """Write ``theme = "<name>"`` back, keeping the rest of the file as it is."""
        self.theme = theme
        self._save_top_level("theme", f'"{theme}"')

    def save_pane_width(self, pane: str, width: int) -> None:
        """Write ``<pane>_width = N`` back (``[`` / ``]`` and the splitters set it)."""
        self.pane_widths[pane] = width
        self._save_top_level(f"{pane}_width", str(width))

    def _save_top_level(self, key: str, value: str) -> None:
        """Set one top-level ``key = value`` line, keeping every other byte of the file."""
        line = f"{key} = {value}"
        pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
        text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        top_end = m.start() if (m := _TABLE_LINE.search(text)) else len(text)
        top = text[:top_end]
        if pattern.search(top):
            top = pattern.sub(line, top, count=1)
        else:
            top = f"{line}\n" + (top if top.strip() else "\n" if top_end < len(text) else "")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(top + text[top_end:], encoding="utf-8")


def load_config(path: Path | None = None) -> Config:
    """Read the config file; a missing file is an empty config, a broken one says why."""
    path = path or config_path()
    config = Config(path=path)
    if not path.exists():
        return config
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        config.error = f"Cannot read {path}: {exc}"
        return config
    for name, table in (data.get("profiles") or {}).items():
        if isinstance(table, dict) and table.get("url"):
            config.profiles[name] = Profile(url=str(table["url"]), token=table.get("token"))
    keymap = data.get("keymap") or {}
    config.keymap = {str(k): str(v) for k, v in keymap.items() if isinstance(v, str)}
    theme = data.get("theme")
    config.theme = theme if isinstance(theme, str) else None
    for pane in PANES:
        width = data.get(f"{pane}_width")
        if isinstance(width, int) and width > 0:
            config.pane_widths[pane] = width
    return config
