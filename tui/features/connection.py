"""Reaching the server: start the bundled one if needed, check health, show connection errors.

The status line follows the real state: every request reports whether the server answered
(``ChinwagClient.on_reachable``), an idle app checks ``/v1/health/`` every ``health_interval``
seconds, and every second while the server is away, so it shows "connected" again (and the
error screen goes) as soon as the server is back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from tui.errors import ClientError, ConnectionFailed, Unauthorized
from tui.parts import Command, Feature
from tui.screens.dialogs import ConnectionErrorScreen

if TYPE_CHECKING:
    from tui.app import ChinwagApp


class Connection(Feature):
    """Connects at start and on refresh, and keeps the status bar's connection state."""

    NAME = "connection"
    COMMANDS: ClassVar[list[Command]] = [
        Command("connection.refresh", "Refresh", "Reload agents, conversations and messages"),
    ]

    RECONNECT_INTERVAL = 1.0

    def __init__(self, app: ChinwagApp) -> None:
        super().__init__(app)
        self._last_check = 0.0

    def start(self) -> None:
        self.connect()
        if self.app.settings.health_interval > 0:
            self.app.set_interval(self.RECONNECT_INTERVAL / 2, self._tick)

    def _tick(self) -> None:
        status = self.app.status_bar()
        if status is None:
            return
        away = status.state == "disconnected"
        every = self.RECONNECT_INTERVAL if away else self.app.settings.health_interval
        connecting = any(w.is_running and w.group == self.NAME for w in self.app.workers)
        if connecting or self.app.client is None:
            return
        if time.monotonic() - self._last_check >= every:
            self._last_check = time.monotonic()
            # Its own group: a check must never cancel a connect still under way.
            self.run(self.check_health(), "check health", exclusive=True, group="health")

    def reachable(self, answered: bool) -> None:
        """Every request's outcome: the status line says what the last one found."""
        status = self.app.status_bar()
        if status is None:
            return
        if not answered:
            status.state = "disconnected"
            return
        if status.state == "disconnected":
            status.state = "connected"
            if isinstance(self.app.screen, ConnectionErrorScreen):  # back: load everything
                self.app.screen.dismiss(True)

    def action_refresh(self) -> None:
        """Reload everything, keeping the agent and conversation that are open."""
        app = self.app
        conversation = app.conversation
        app.keep_selection(app.agent.id if app.agent else None, conversation)
        app.agent = None
        self.connect()

    def connect(self) -> None:
        # Every worker gets a description: without one Textual builds it from repr() of the
        # arguments, and a conversation with a long context repr()s in milliseconds.
        self.run(self._connect(), "connect", exclusive=True)

    async def _connect(self) -> None:
        """Reach the server (starting the bundled one if needed), then load the agents."""
        app = self.app
        settings = app.settings
        status = app.status
        try:
            if settings.launcher is not None and app.client is None:
                status.state = "starting bundled server"
                app.url = await settings.launcher.wait_ready()
            if app.client is None:
                app.client = settings.client_factory(app.url, settings.token)
                app.client.on_reachable = self.reachable
            info = await app.client.health()
            status.url, status.version, status.latency_ms = app.url, info.version, info.latency_ms
            agents = await app.client.list_agents()
            status.state = "connected"
        except ClientError as exc:
            status.state = "disconnected"
            self.show_error(exc.message, exc.url, token=isinstance(exc, Unauthorized))
            return
        except Exception as exc:  # the launcher's own failure
            status.state = "disconnected"
            self.show_error(str(exc), app.url)
            return
        if app.status_bar() is None:  # the app closed meanwhile
            return
        wanted = app.kept_agent_id or settings.agent_id
        if settings.agent_id and not any(a.id == settings.agent_id for a in agents):
            app.notify(
                f"No agent {settings.agent_id} on this server: showing the newest instead.",
                severity="warning",
                timeout=8,
            )
        app.agents_pane.show_agents(agents, select=wanted)
        if not agents:
            await app.chat.show_hint(
                "No agents yet. Press **n** in the agents pane (or ctrl+p → New agent) to "
                "create one; the builtin model works without any provider configured."
            )
            app.agents.focus()
        else:
            app.composer.focus()

    def report(self, exc: ClientError) -> None:
        """A failed call: a lost connection gets the retry screen, anything else a toast."""
        if isinstance(exc, ConnectionFailed | Unauthorized):
            self.app.status.state = "disconnected"
            self.show_error(exc.message, exc.url, token=isinstance(exc, Unauthorized))
        else:
            self.app.notify(exc.message, title="Server error", severity="error", timeout=8)

    def show_error(self, message: str, url: str, *, token: bool = False) -> None:
        """The retry screen; ``token``: the server answered but refused the token."""
        if isinstance(self.app.screen, ConnectionErrorScreen):
            return

        def retry(again: bool | None) -> None:
            if again:
                self.connect()

        self.app.push_screen(ConnectionErrorScreen(message, url, token=token), retry)

    async def check_health(self) -> None:
        client = self.app.client
        if client is None:
            return
        try:
            info = await client.health()
        except ClientError:
            return  # the client has said so (reachable)
        if status := self.app.status_bar():
            status.latency_ms = info.latency_ms
