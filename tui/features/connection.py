"""Reaching the server: start the bundled one if needed, check health, show connection errors."""

from __future__ import annotations

from typing import ClassVar

from tui.errors import ClientError, ConnectionFailed, Unauthorized
from tui.parts import Command, Feature
from tui.screens.dialogs import ConnectionErrorScreen


class Connection(Feature):
    """Connects at start and on refresh, and keeps the status bar's connection state."""

    NAME = "connection"
    COMMANDS: ClassVar[list[Command]] = [
        Command("connection.refresh", "Refresh", "Reload agents, conversations and messages"),
    ]

    def start(self) -> None:
        settings = self.app.settings
        self.connect()
        if settings.health_interval > 0:
            self.app.set_interval(settings.health_interval, self.check_health)

    def action_refresh(self) -> None:
        self.app.agent = None
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
            info = await app.client.health()
            status.url, status.version, status.latency_ms = app.url, info.version, info.latency_ms
            agents = await app.client.list_agents()
            status.state = "connected"
        except ClientError as exc:
            status.state = "disconnected"
            self.show_error(exc.message, exc.url)
            return
        except Exception as exc:  # the launcher's own failure
            status.state = "disconnected"
            self.show_error(str(exc), app.url)
            return
        app.agents_pane.show_agents(agents, select=settings.agent_id)
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
            self.show_error(exc.message, exc.url)
        else:
            self.app.notify(exc.message, title="Server error", severity="error", timeout=8)

    def show_error(self, message: str, url: str) -> None:
        if isinstance(self.app.screen, ConnectionErrorScreen):
            return

        def retry(again: bool | None) -> None:
            if again:
                self.connect()

        self.app.push_screen(ConnectionErrorScreen(message, url), retry)

    async def check_health(self) -> None:
        client = self.app.client
        if client is None:
            return
        try:
            info = await client.health()
        except ClientError:
            self.app.status.state = "disconnected"
            return
        self.app.status.state, self.app.status.latency_ms = "connected", info.latency_ms
