"""Everything the app needs to start, including what tests pin for stable snapshots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tui.client import ChinwagClient
from tui.config import Config
from tui.launcher import EmbeddedServer


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppSettings:
    """How to reach the server and how the app behaves.

    Snapshot tests freeze the clock, switch off cursor blink and the latency figure, and pin the
    version shown for the TUI itself, so screenshots do not change from run to run.
    """

    config: Config
    server_url: str | None = None
    token: str | None = None
    launcher: EmbeddedServer | None = None
    agent_id: str | None = None
    conversation_id: str | None = None
    client_factory: Callable[[str, str | None], ChinwagClient] = ChinwagClient
    now: Callable[[], datetime] = _now
    cursor_blink: bool = True
    show_latency: bool = True
    # Seconds between health checks of an idle, connected app (0: none, as in snapshots).
    health_interval: float = 3.0
    # Seconds between reads of other clients' changes (0: none, as in snapshots).
    sync_interval: float = 3.0
    page_size: int = 25
    window: int = 60
    export_dir: Path = field(default_factory=Path.cwd)
