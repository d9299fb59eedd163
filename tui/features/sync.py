"""Other clients' changes: new agents, conversations and messages show up without ``ctrl+r``.

Every ``sync_interval`` seconds, while the app is idle (connected, no dialog, no reply
streaming, no page loading), the lists are read again and put in place when they differ
(the selection kept), and the open conversation's messages newer than the newest shown are
added at the bottom.
"""

from __future__ import annotations

from typing import Any

from textual.screen import ModalScreen

from tui.client import default_conversation
from tui.errors import ClientError
from tui.parts import Feature


class Sync(Feature):
    """Keeps the panes in step with the server."""

    NAME = "sync"

    def start(self) -> None:
        if self.app.settings.sync_interval > 0:
            self.app.set_interval(self.app.settings.sync_interval, self._tick)

    def _tick(self) -> None:
        app = self.app
        status = app.status_bar()
        if status is None or status.state != "connected" or app.client is None:
            return
        if isinstance(app.screen, ModalScreen) or app.chat.streaming or app.messages.fetching:
            return
        if any(w.is_running and w.group == self.NAME for w in app.workers):
            return
        self.run(self.sync(), "sync", exclusive=True)

    async def sync(self) -> None:
        app = self.app
        client = app.client
        assert client is not None
        try:
            agents = await client.list_agents()
            if app.status_bar() is None:  # the app closed meanwhile
                return
            if _rows(agents) != _rows(app.agents.agents):
                app.agents_pane.show_agents(agents, select=app.agent.id if app.agent else None)
            agent = app.agent
            if agent is not None:
                items = await client.list_conversations(agent.id)
                listed = [default_conversation(agent), *items]
                if app.agent is agent and _rows(listed) != _rows(app.conversations.conversations):
                    open_id = app.conversation.id if app.conversation else None
                    app.conversations.set_conversations(listed, select=open_id)
                if app.agent is agent:
                    await app.features["approvals"].refresh(  # type: ignore[attr-defined]
                        agent.id, [c.id for c in items]
                    )
            await app.chat.catch_up()
        except ClientError:
            return  # the status line says so; the next tick tries again


def _rows(items: list[Any]) -> list[tuple[Any, ...]]:
    """What a list shows of each item: a change here is worth redrawing it."""
    return [
        (
            i.id,
            getattr(i, "name", None),
            getattr(i, "model", None),
            getattr(i, "summary", None),
            getattr(i, "last_message_at", None),
        )
        for i in items
    ]
