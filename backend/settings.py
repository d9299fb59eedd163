"""Server settings: command-line flags, environment and the shared config file."""

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "chinwag"
DEFAULT_BODY_LIMIT = 16 * 1024 * 1024


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / "chinwag.db"


def config_path() -> Path:
    """The TOML file shared with the TUI; ``CHINWAG_CONFIG`` points elsewhere."""
    override = os.environ.get("CHINWAG_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """Read the config file; a missing file is an empty config, a broken one a clear error."""
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SystemExit(f"chinwag: cannot read the config file {path}: {exc}") from exc


@dataclass
class Settings:
    db_path: Path = field(default_factory=default_db_path)
    token: str | None = None
    # Web origins (``scheme://host:port``) whose pages may call this server (``--allow-origin``).
    allowed_origins: tuple[str, ...] = ()
    # ``--insecure``: no token on purpose, so requests naming any host are answered.
    insecure: bool = False
    body_limit: int = DEFAULT_BODY_LIMIT
    config: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    lock_lease_seconds: float = 30.0
    keepalive_seconds: float = 15.0
    # How often a run's new chunks are written for other server processes on the same file,
    # and how often those look for them (and for a cancel asked of a run).
    run_poll_seconds: float = 0.1
