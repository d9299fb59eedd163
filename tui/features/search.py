"""Search across everything: ``ctrl+f`` opens the search screen; a chosen hit opens its
conversation at that message, paged around it, with the message marked.

The server searches (``POST /v1/messages/search``, full text); this feature names the hits'
conversations and agents and moves the app there.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, ClassVar

from shared_schema import Agent, Conversation
from tui.client import SearchHit, default_conversation, is_default
from tui.errors import ClientError, NotFound
from tui.parts import Command, Feature
from tui.screens.search import Found, SearchScreen

if TYPE_CHECKING:
    from tui.app import ChinwagApp


class Search(Feature):
    """Runs the queries of the search screen and opens what was chosen."""

    NAME = "search"
    COMMANDS: ClassVar[list[Command]] = [
        Command("search.open", "Search messages", "Find messages of this agent or of every agent"),
    ]

    def __init__(self, app: ChinwagApp) -> None:
        super().__init__(app)
        self.screen: SearchScreen | None = None
        self._names: dict[str, Conversation] = {}
        self.last_query = ""

    def action_open(self) -> None:
        if self.app.client is None:
            return
        agent = self.app.agent
        self.screen = SearchScreen(agent.name if agent else None, self.ask, self.last_query)
        self.app.push_screen(self.screen, self.chosen)

    def ask(self, query: str, everywhere: bool) -> None:
        self.last_query = query
        self.run(self.search(query, everywhere), "search messages", exclusive=True)

    async def search(self, query: str, everywhere: bool) -> None:
        app, client, screen = self.app, self.app.client, self.screen
        if client is None or screen is None:
            return
        agent_id = None if everywhere or app.agent is None else app.agent.id
        try:
            hits = await client.search(query, agent_id=agent_id)
            found = await self._name(hits)
        except NotFound:
            screen.set_status("This server cannot search messages.")
            return
        except ClientError as exc:
            screen.set_status(exc.message)
            return
        if screen.is_attached:
            screen.show_found(query, found)

    async def _name(self, hits: list[SearchHit]) -> list[Found]:
        """Name each hit's conversation and agent (read once per conversation, then kept)."""
        client = self.app.client
        assert client is not None
        agents = {a.id: a for a in self.app.agents.agents}
        unknown = {h.conversation_id for h in hits if h.conversation_id} - set(self._names)

        async def read(conversation_id: str) -> None:
            with contextlib.suppress(ClientError):
                self._names[conversation_id] = await client.get_conversation(conversation_id)

        await asyncio.gather(*(read(c) for c in unknown))
        found = []
        for hit in hits:
            conversation = self._names.get(hit.conversation_id or "")
            agent_id = hit.agent_id or (conversation.agent_id if conversation else None)
            agent = agents.get(agent_id or "")
            title = "(unknown conversation)"
            if conversation is not None:
                title = conversation.summary or "New conversation"
                if is_default(conversation.id):
                    title = "Default conversation"
            found.append(Found(hit, title, agent.name if agent else "?"))
        return found

    def chosen(self, found: Found | None) -> None:
        self.screen = None
        if found is not None:
            self.run(self.go(found.hit), "open search hit", exclusive=True)

    async def go(self, hit: SearchHit) -> None:
        """Select the hit's agent and conversation, and open it around the message."""
        app = self.app
        conversation = self._names.get(hit.conversation_id or "")
        message_id = getattr(hit.message, "id", None)
        if conversation is None or not message_id:
            app.notify("That message's conversation cannot be found.", severity="warning")
            return
        agent = next((a for a in app.agents.agents if a.id == conversation.agent_id), None)
        if agent is None:
            return
        if is_default(conversation.id):
            conversation = default_conversation(agent)
        self._select(agent, conversation)
        app.chat.open_at(conversation, message_id)

    def _select(self, agent: Agent, conversation: Conversation) -> None:
        """Point the lists at the hit (their Chosen messages then find it already open)."""
        app = self.app
        app.chat.conversation = conversation
        if app.agent is None or app.agent.id != agent.id:
            app.agent = agent
            app.status.model = agent.model or ""
            app.agents.highlighted = app.agents.agents.index(agent)
            app.part("memory").agent_changed()  # type: ignore[attr-defined]
        app.conversations_pane.load(select=conversation.id)
